package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clinic-ml/clinic/internal/atomicfile"
	"github.com/clinic-ml/clinic/internal/rundir"
	"github.com/clinic-ml/clinic/internal/train"
)

// The helper process of the kill tests: it runs the command line in
// CLINIC_KILL_ARGS at full speed.
func TestKillHelper(t *testing.T) {
	js := os.Getenv("CLINIC_KILL_ARGS")
	if js == "" {
		t.Skip("helper process of TestKillResume")
	}
	var args []string
	if err := json.Unmarshal([]byte(js), &args); err != nil {
		t.Fatal(err)
	}
	os.Exit(run(args, os.Stdout, os.Stderr))
}

// killTrials is the number of kills per kind of run: CLINIC_KILL_TRIALS,
// 5 by default (README: How it is tested runs 100).
func killTrials(t *testing.T) int {
	s := os.Getenv("CLINIC_KILL_TRIALS")
	if s == "" {
		return 5
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		t.Fatalf("CLINIC_KILL_TRIALS=%q", s)
	}
	return n
}

// killRun runs args in a helper process and, if after is positive,
// kills it after that long: with SIGKILL, or with two SIGINTs (the
// second exits at once) when twice. It returns how long the process ran
// and whether it finished by itself (its status then must be 0).
func killRun(t *testing.T, args []string, after time.Duration, twice bool) (time.Duration, bool) {
	t.Helper()
	js, _ := json.Marshal(args)
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillHelper$")
	cmd.Env = append(os.Environ(), "CLINIC_KILL_ARGS="+string(js))
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = nil, &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	finished := true
	if after <= 0 {
		err = <-done
	} else {
		select {
		case err = <-done:
		case <-time.After(after):
			finished = false
			if twice {
				cmd.Process.Signal(syscall.SIGINT)
				time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
				cmd.Process.Signal(syscall.SIGINT)
			} else {
				cmd.Process.Kill()
			}
			err = <-done
		}
	}
	took := time.Since(start)
	var ee *exec.ExitError
	switch {
	case finished && err != nil:
		t.Fatalf("%v: %v: %s", args, err, stderr.String())
	case err != nil && !errors.As(err, &ee):
		t.Fatal(err)
	case !finished && twice && err == nil:
		finished = true // it had finished before the signal
	case !finished && twice && cmd.ProcessState.ExitCode() != 130 && cmd.ProcessState.ExitCode() != -1:
		// -1: a SIGINT before the run watched for signals (loading
		// its data) kills the process, as SIGKILL does.
		t.Fatalf("%v: two SIGINTs: exit %d: %s", args, cmd.ProcessState.ExitCode(), stderr.String())
	}
	return took, finished
}

// killCase is one kind of run the kill test interrupts: start runs it
// into a directory; resume continues it there, or is nil when start
// alone must do (a run killed before it saved anything starts again);
// same compares the finished run with the uninterrupted one.
type killCase struct {
	name   string
	start  func(out string) []string
	resume func(out string) []string
	same   func(t *testing.T, ref, out string)
}

// checkKills runs c uninterrupted, then trials times: starts it, kills
// it at a random moment (SIGKILL, or two SIGINTs one time in four),
// resumes it (killing that too at a random moment one time in two) and
// finishes it; every run must end as the uninterrupted one did, with no
// temporary file left.
func checkKills(t *testing.T, c killCase, trials int) {
	dir := t.TempDir()
	ref := filepath.Join(dir, "ref")
	// The kills fall in the time of an uninterrupted run: the median of
	// three, the machine being shared.
	var times []time.Duration
	for i := 0; i < 3; i++ {
		took, _ := killRun(t, c.start(filepath.Join(dir, "time"+strconv.Itoa(i))), 0, false)
		times = append(times, took)
	}
	slices.Sort(times)
	took := times[1]
	killRun(t, c.start(ref), 0, false)
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 0))
	early, resumed, finished := 0, 0, 0
	for i := 0; i < trials; i++ {
		out := filepath.Join(dir, strconv.Itoa(i))
		var kills []string
		killed := true
		for attempt := 0; killed; attempt++ {
			args := c.start(out)
			if r := c.resume(out); r != nil {
				args = r
				resumed++
			} else if attempt > 0 {
				early++
			}
			after := time.Duration(1 + rng.Int64N(int64(took)))
			twice := rng.IntN(4) == 0
			if attempt > 1 || attempt == 1 && rng.IntN(2) == 0 {
				after = 0 // the last attempt runs to the end
			}
			kills = append(kills, after.String())
			_, fin := killRun(t, args, after, twice)
			killed = !fin
			if fin && after > 0 {
				finished++
			}
		}
		c.same(t, ref, out)
		if t.Failed() {
			t.Fatalf("%s trial %d (seed %d, killed after %v)", c.name, i, seed, kills)
		}
		filepath.WalkDir(out, func(p string, d os.DirEntry, err error) error {
			if err == nil && atomicfile.IsTemp(d.Name()) {
				t.Errorf("%s trial %d: %s left behind", c.name, i, p)
			}
			return nil
		})
		os.RemoveAll(out)
	}
	t.Logf("%s: %d trials (seed %d, an uninterrupted run takes %v): %d resumes, %d restarts from nothing, %d runs finished before their kill",
		c.name, trials, seed, took.Round(time.Millisecond), resumed, early, finished)
}

// sameFiles fails unless the files named in both runs are equal byte for
// byte, the metrics but for their throughput, and the kept checkpoints
// are the same ones.
func sameFiles(t *testing.T, ref, out string, files ...string) {
	t.Helper()
	sameRun(t, ref, out, files...)
	kept := func(dir string) []string {
		m, _ := filepath.Glob(filepath.Join(dir, "checkpoint*.safetensors"))
		for i := range m {
			m[i] = filepath.Base(m[i])
		}
		return m
	}
	if a, b := kept(ref), kept(out); !slices.Equal(a, b) {
		t.Errorf("kept checkpoints %v, want %v", b, a)
	} else {
		sameRun(t, ref, out, a...)
	}
}

// sameSweep compares two sweeps: their tables without the measured
// seconds, and each run's checkpoint and metrics.
func sameSweep(t *testing.T, ref, out string) {
	t.Helper()
	table := func(dir string) string {
		f, err := os.Open(filepath.Join(dir, "sweep.csv"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		rows, err := csv.NewReader(f).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		col := slices.Index(rows[0], "seconds")
		var b strings.Builder
		for _, r := range rows {
			if col >= 0 {
				r = slices.Delete(r, col, col+1)
			}
			b.WriteString(strings.Join(r, ",") + "\n")
		}
		return b.String()
	}
	if a, b := table(ref), table(out); a != b {
		t.Errorf("sweep.csv\n%s\nwant\n%s", b, a)
	}
	runs, _ := filepath.Glob(filepath.Join(ref, "runs", "*"))
	if len(runs) == 0 {
		t.Fatal("no runs in the sweep")
	}
	for _, r := range runs {
		sameFiles(t, r, filepath.Join(out, "runs", filepath.Base(r)))
	}
}

// exists reports whether path exists.
func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// A training run (the language model and translation) killed with
// SIGKILL, or two SIGINTs, at random moments while it saves every step
// and keeps the last 3 checkpoints, then resumed, ends byte-identical to
// a run never interrupted: the checkpoint, the kept checkpoints and the
// metrics. So does a depth sweep of each task continued with
// --continue. CLINIC_KILL_TRIALS sets the number of kills of each.
func TestKillResume(t *testing.T) {
	if testing.Short() {
		t.Skip("starts many processes")
	}
	trials := killTrials(t)
	dir := t.TempDir()
	text := writeText(t, dir)
	_, src, tgt := writePairs(t, dir, 60)
	tiny := []string{"--d-model", "32", "--heads", "2", "--d-ff", "64", "--threads", "1", "--warmup", "4", "--lr", "3e-3"}
	lm := append([]string{"--data", text, "--seq-len", "16", "--batch-size", "2", "--eval-every", "5", "--eval-batches", "1"}, tiny...)
	tr := append([]string{"--task", "translate", "--src", src, "--tgt", tgt, "--seq-len", "32", "--max-tokens", "256",
		"--bpe-merges", "100", "--eval-every", "5", "--val-frac", "0.1"}, tiny...)
	// A run resumes once it has a trainer state; before, nothing was
	// trained and it starts again.
	resumeTrain := func(out string) []string {
		if !exists(filepath.Join(out, train.StateFile)) {
			return nil
		}
		return []string{"train", "--resume", out}
	}
	// A sweep continues once it has recorded its flags.
	continueSweep := func(start func(string) []string) func(string) []string {
		return func(out string) []string {
			if !exists(filepath.Join(out, rundir.SweepFlagsFile)) {
				return nil
			}
			return append(start(out), "--continue")
		}
	}
	sweepLM := func(out string) []string {
		return append([]string{"analyze", "sweep", "--out", out, "--depths", "1", "--norms", "preln,admin", "--steps", "12",
			"--save-every", "1"}, lm...)
	}
	sweepTr := func(out string) []string {
		return append([]string{"analyze", "sweep", "--out", out, "--depths", "1", "--norms", "preln,admin", "--steps", "12",
			"--save-every", "1", "--avg-last", "3", "--test-src", src, "--test-tgt", tgt, "--beam", "2"}, tr...)
	}
	for _, c := range []killCase{
		{name: "lm", start: func(out string) []string {
			return append([]string{"train", "--out", out, "--overwrite", "--layers", "1", "--norm", "admin", "--steps", "30",
				"--save-every", "1", "--keep-last", "3"}, lm...)
		}, resume: resumeTrain, same: func(t *testing.T, ref, out string) { sameFiles(t, ref, out) }},
		{name: "translate", start: func(out string) []string {
			return append([]string{"train", "--out", out, "--overwrite", "--layers", "1", "--encoder-layers", "1", "--norm", "admin",
				"--steps", "20", "--save-every", "1", "--keep-last", "3", "--bleu-every", "5"}, tr...)
		}, resume: resumeTrain, same: func(t *testing.T, ref, out string) { sameFiles(t, ref, out, "bpe.codes", "model_best.safetensors") }},
		{name: "sweep", start: sweepLM, resume: continueSweep(sweepLM), same: sameSweep},
		{name: "sweep --task translate", start: sweepTr, resume: continueSweep(sweepTr), same: sameSweep},
	} {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) { checkKills(t, c, trials) })
	}
}
