//go:build mpi

package dist

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Run the mpi-tagged tests under mpirun (.ci/mpiexec):
//
//	go test -tags mpi -exec .ci/mpiexec ./internal/dist
//
// Outside mpirun the collective tests skip and TestKilledRank starts
// its own job.

var world Comm

func TestMain(m *testing.M) {
	c, err := Init()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	world = c
	code := m.Run()
	if code != 0 && c.Size() > 1 {
		c.Abort(code) // the other ranks may wait in a collective
	}
	c.Finalize()
	os.Exit(code)
}

func needRanks(t *testing.T) {
	if world.Size() < 2 {
		t.Skip("not under mpirun (go test -tags mpi -exec .ci/mpiexec)")
	}
}

func TestMPICollectives(t *testing.T) {
	needRanks(t)
	r, n := world.Rank(), world.Size()
	const k = 1000
	buf := make([]float32, k)
	for i := range buf {
		buf[i] = float32(r + i)
	}
	if err := world.AllreduceSum(buf); err != nil {
		t.Fatal(err)
	}
	for i, v := range buf {
		if want := float32(n*(n-1)/2 + n*i); v != want {
			t.Fatalf("rank %d: sum[%d] = %v, want %v", r, i, v, want)
		}
	}
	for i := range buf {
		buf[i] = float32(r)
	}
	if err := world.AllreduceMean(buf); err != nil {
		t.Fatal(err)
	}
	if want := float32(n-1) / 2; buf[k-1] != want {
		t.Fatalf("rank %d: mean %v, want %v", r, buf[k-1], want)
	}
	d := []float64{float64(r) + 0.5}
	if err := world.AllreduceSum64(d); err != nil || d[0] != float64(n*n)/2 {
		t.Fatalf("rank %d: float64 sum %v, %v", r, d[0], err)
	}
	for i := range buf {
		buf[i] = float32(r*k + i)
	}
	if err := world.Broadcast(buf); err != nil {
		t.Fatal(err)
	}
	for i, v := range buf {
		if v != float32(i) {
			t.Fatalf("rank %d: broadcast[%d] = %v, want rank 0's %v", r, i, v, i)
		}
	}
	b, err := world.BroadcastBytes([]byte(strings.Repeat("x", r+3)))
	if err != nil || string(b) != "xxx" {
		t.Fatalf("rank %d: broadcast bytes %q, %v", r, b, err)
	}
	x, y := make([]float32, 3000), make([]float32, 5)
	for i := range x {
		x[i] = float32(r)
	}
	for i := range y {
		y[i] = 1
	}
	wx, wy := world.StartAllreduceSum(x), world.StartAllreduceSum(y)
	if err := wy(); err != nil {
		t.Fatal(err)
	}
	if err := wx(); err != nil {
		t.Fatal(err)
	}
	if x[2999] != float32(n*(n-1)/2) || y[4] != float32(n) {
		t.Fatalf("rank %d: started sums %v %v", r, x[2999], y[4])
	}
	if err := world.Barrier(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(world.Name(), "MPI") {
		t.Errorf("name %q", world.Name())
	}
}

// A rank killed mid-job makes the whole job end promptly, not hang in
// the survivors' collectives.
func TestKilledRank(t *testing.T) {
	if world.Size() > 1 {
		t.Skip("starts mpirun itself: run without -exec")
	}
	mpirun, err := exec.LookPath("mpirun")
	if err != nil {
		t.Skip("no mpirun")
	}
	cmd := exec.Command(mpirun, "--allow-run-as-root", "--oversubscribe", "-np", "2", os.Args[0], "-test.run=^TestKillHelper$")
	cmd.Env = append(os.Environ(), "CLINIC_KILL_HELPER=1")
	start := time.Now()
	out, err := cmd.CombinedOutput()
	took := time.Since(start)
	if err == nil {
		t.Fatalf("the job with a killed rank exited 0:\n%s", out)
	}
	if took > 30*time.Second {
		t.Fatalf("the job took %v to end after a rank was killed", took)
	}
	t.Logf("job ended in %v: %v", took.Round(time.Millisecond), err)
}

// TestKillHelper is rank 1 killing itself while rank 0 reduces.
func TestKillHelper(t *testing.T) {
	if os.Getenv("CLINIC_KILL_HELPER") == "" {
		t.Skip("helper of TestKilledRank")
	}
	buf := make([]float32, 1<<16)
	deadline := time.Now().Add(2 * time.Minute)
	for i := 0; time.Now().Before(deadline); i++ {
		if world.Rank() == 1 && i == 50 {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}
		if err := world.AllreduceSum(buf); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("still running two minutes after rank 1 was killed")
}

// TestMPIAllreduceBandwidth measures allreduce (CLINIC_MPI_BANDWIDTH=1
// under mpirun): the time of AllreduceSum over buffers of several sizes,
// as algorithm bandwidth (bytes/time) and bus bandwidth (algorithm
// bandwidth × 2(N−1)/N, what each rank sends and receives in a ring).
func TestMPIAllreduceBandwidth(t *testing.T) {
	needRanks(t)
	if os.Getenv("CLINIC_MPI_BANDWIDTH") == "" {
		t.Skip("set CLINIC_MPI_BANDWIDTH=1 to measure")
	}
	n := float64(world.Size())
	for _, mb := range []int{1, 4, 19, 25, 58} {
		buf := make([]float32, mb<<20/4)
		world.AllreduceSum(buf) // warm up
		const iters = 20
		world.Barrier()
		start := time.Now()
		for range iters {
			if err := world.AllreduceSum(buf); err != nil {
				t.Fatal(err)
			}
		}
		dt := time.Since(start).Seconds() / iters
		alg := float64(len(buf)*4) / dt
		if world.Rank() == 0 {
			t.Logf("%3d MB: %7.2f ms, algorithm bandwidth %5.2f GB/s, bus bandwidth %5.2f GB/s", mb, dt*1e3, alg/1e9, alg*2*(n-1)/n/1e9)
		}
	}
}
