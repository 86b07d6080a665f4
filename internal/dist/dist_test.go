package dist

import (
	"bytes"
	"strings"
	"testing"
)

// Single's collectives leave the buffers as they are.
func TestSingle(t *testing.T) {
	var c Comm = Single{}
	if c.Rank() != 0 || c.Size() != 1 {
		t.Fatalf("rank %d size %d", c.Rank(), c.Size())
	}
	buf := []float32{1, -2, 3.5}
	buf64 := []float64{1.25, 7}
	for _, err := range []error{c.AllreduceSum(buf), c.AllreduceMean(buf), c.Broadcast(buf), c.AllreduceSum64(buf64), c.Barrier()} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := c.StartAllreduceSum(buf)(); err != nil {
		t.Fatal(err)
	}
	if buf[0] != 1 || buf[1] != -2 || buf[2] != 3.5 || buf64[0] != 1.25 || buf64[1] != 7 {
		t.Fatalf("buffers changed: %v %v", buf, buf64)
	}
	b, err := c.BroadcastBytes([]byte("rank 0"))
	if err != nil || !bytes.Equal(b, []byte("rank 0")) {
		t.Fatalf("BroadcastBytes: %q, %v", b, err)
	}
	if c.Finalize() != nil {
		t.Fatal("Finalize")
	}
}

func clearLauncher(t *testing.T) {
	for _, v := range []string{"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS"} {
		t.Setenv(v, "")
	}
}

func TestLauncherSize(t *testing.T) {
	clearLauncher(t)
	if n := launcherSize(); n != 0 {
		t.Fatalf("no launcher: size %d", n)
	}
	t.Setenv("PMI_SIZE", "4")
	if n := launcherSize(); n != 4 {
		t.Fatalf("PMI_SIZE=4: size %d", n)
	}
	t.Setenv("PMI_SIZE", "x")
	t.Setenv("OMPI_COMM_WORLD_SIZE", "3")
	if n := launcherSize(); n != 3 {
		t.Fatalf("OMPI_COMM_WORLD_SIZE=3: size %d", n)
	}
	if msg := errNoMPI(3).Error(); !strings.Contains(msg, "-tags mpi") || strings.Contains(msg, "\n") {
		t.Fatalf("refusal %q", msg)
	}
}
