//go:build unix

package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/clinic-ml/clinic/internal/rundir"
	"github.com/clinic-ml/clinic/internal/train"
)

// irregular replaces path with a FIFO (kind "fifo") or a symbolic link
// to /dev/zero (kind "zero"), the two files that hung clinic: a FIFO
// waits for a writer, /dev/zero never ends.
func irregular(t *testing.T, path, kind string) {
	t.Helper()
	os.Remove(path)
	var err error
	if kind == "fifo" {
		err = syscall.Mkfifo(path, 0o644)
	} else {
		err = os.Symlink("/dev/zero", path)
	}
	if err != nil {
		t.Skipf("cannot make a %s: %v", kind, err)
	}
}

// wantRefused fails unless args exit 1 promptly with one line naming
// path as not a regular file.
func wantRefused(t *testing.T, path string, args ...string) {
	t.Helper()
	code, e := runQuick(t, args...)
	if code != 1 || !strings.Contains(e, path) || !strings.Contains(e, "not a regular file") || strings.Count(strings.TrimSpace(e), "\n") != 0 {
		t.Errorf("%v: exit %d, stderr %q; want exit 1 and one line saying %s is not a regular file", args, code, e, path)
	}
}

// Files read through paths that once skipped the regular-file check:
// the trainer state and metrics of a resumed run, a sweep's
// sweep_flags.json on --continue, and the sweep.csv lr-range reads.
func TestResumeAndSweepFilesGated(t *testing.T) {
	dir := t.TempDir()
	text := writeText(t, dir)
	run := filepath.Join(dir, "run")
	if code, _, e := runCLI(t, lmArgs(text, run, "6")...); code != 0 {
		t.Fatalf("train: %s", e)
	}
	state := filepath.Join(run, train.StateFile)
	good, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	met := filepath.Join(run, "metrics.jsonl")
	goodMet, _ := os.ReadFile(met)
	for _, kind := range []string{"fifo", "zero"} {
		irregular(t, state, kind)
		wantRefused(t, state, "train", "--resume", run, "--steps", "12")
		os.Remove(state)
		os.WriteFile(state, good, 0o644)
		irregular(t, met, kind)
		wantRefused(t, met, "train", "--resume", run, "--steps", "12")
		os.Remove(met)
		os.WriteFile(met, goodMet, 0o644)

		sweep := filepath.Join(dir, "sweep-"+kind)
		os.Mkdir(sweep, 0o755)
		flags := filepath.Join(sweep, rundir.SweepFlagsFile)
		irregular(t, flags, kind)
		wantRefused(t, flags, "analyze", "sweep", "--continue", "--data", text, "--out", sweep)

		a, b := filepath.Join(dir, "a-"+kind), filepath.Join(dir, "b-"+kind)
		os.Mkdir(a, 0o755)
		os.Mkdir(b, 0o755)
		csv := filepath.Join(a, "sweep.csv")
		irregular(t, csv, kind)
		os.WriteFile(filepath.Join(b, "sweep.csv"), []byte("depth,norm,final_val_loss,status,lr\n1,preln,2,trained,1e-3\n"), 0o644)
		wantRefused(t, csv, "analyze", "lr-range", "--out", filepath.Join(dir, "lr-"+kind), a, b)
	}
	// The run itself is intact and still resumes.
	if code, _, e := runCLI(t, "train", "--resume", run, "--steps", "12"); code != 0 {
		t.Fatalf("resume after the refusals: %s", e)
	}
}

// A figure whose path is a FIFO or a link to /dev/full is refused (it
// was written into, with exit 0), and the folder's earlier report is
// left as it was.
func TestFigureOutputsGated(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	fakeSweep(t, a, "1e-3")
	fakeSweep(t, b, "3e-3")
	for _, kind := range []string{"fifo", "full"} {
		out := filepath.Join(dir, "out-"+kind)
		os.Mkdir(out, 0o755)
		png := filepath.Join(out, "lr_range.png")
		if kind == "fifo" {
			irregular(t, png, kind)
		} else if err := os.Symlink("/dev/full", png); err != nil {
			t.Skip("no symlinks:", err)
		}
		report := filepath.Join(out, "report.md")
		os.WriteFile(report, []byte("earlier\n"), 0o644)
		wantRefused(t, png, "analyze", "lr-range", "--overwrite", "--out", out, a, b)
		if got, _ := os.ReadFile(report); string(got) != "earlier\n" {
			t.Errorf("%s: report.md replaced although its figure was refused: %q", kind, got)
		}
	}
}

// An output of an analysis that is a FIFO was refused only after the
// work, and analyze scaling's outputs were not known as results at all:
// a FIFO scaling.csv was found after the profiling, with --overwrite or
// without. Both are refused at once now, before any progress line.
func TestReportOutputsGatedBeforeWork(t *testing.T) {
	dir := t.TempDir()
	text := writeText(t, dir)
	for _, tc := range []struct {
		file string
		args []string
	}{
		{"scaling.csv", []string{"analyze", "scaling", "--workloads", "L6_d256", "--threads", "1", "--steps", "1"}},
		{"scaling_phases.csv", []string{"analyze", "scaling", "--workloads", "L6_d256", "--threads", "1", "--steps", "1", "--overwrite"}},
		{"change.csv", []string{"analyze", "change", "--data", text, "--depths", "1", "--norms", "preln", "--seeds", "1",
			"--d-model", "16", "--heads", "2", "--d-ff", "16", "--seq-len", "8", "--batch-size", "2", "--overwrite"}},
	} {
		out := filepath.Join(dir, "out-"+tc.file)
		os.Mkdir(out, 0o755)
		p := filepath.Join(out, tc.file)
		irregular(t, p, "fifo")
		wantRefused(t, p, append(tc.args, "--out", out)...)
	}
	// A folder holding only an earlier scaling profile holds results.
	sc := filepath.Join(dir, "scaling")
	os.Mkdir(sc, 0o755)
	os.WriteFile(filepath.Join(sc, "scaling.csv"), []byte("workload\n"), 0o644)
	runRefused(t, "already holds results", "analyze", "change", "--data", text, "--depths", "1", "--out", sc)
}
