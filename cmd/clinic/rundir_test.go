package main

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/clinic-ml/clinic/internal/runlock"
)

func tinyTrain(text, out string, extra ...string) []string {
	return append([]string{"train", "--data", text, "--out", out, "--layers", "1", "--d-model", "16", "--heads", "2",
		"--d-ff", "16", "--seq-len", "8", "--batch-size", "2", "--steps", "2", "--eval-every", "1", "--eval-batches", "1",
		"--warmup", "1", "--threads", "1", "--val-frac", "0.2"}, extra...)
}

// A second trainer into a directory in use fails at once; --overwrite
// leaves nothing of the previous run; temporary files of killed saves
// are cleaned up.
func TestOneRunPerDirectory(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "t.txt")
	os.WriteFile(text, []byte(strings.Repeat("hello world. ", 40)), 0o644)
	out := filepath.Join(dir, "run")
	os.MkdirAll(out, 0o755)

	if runtime.GOOS == "linux" || runtime.GOOS == "darwin" {
		l, err := runlock.Acquire(out)
		if err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{tinyTrain(text, out), {"analyze", "sweep", "--out", out}, {"analyze", "sweep", "--task", "translate", "--out", out}} {
			code, _, e := runCLI(t, args...)
			if code != 1 || !strings.Contains(e, "in use by another run") || strings.Count(strings.TrimSpace(e), "\n") != 0 {
				t.Errorf("%v while locked: exit %d, %q", args[:2], code, e)
			}
		}
		l.Release()
	}

	old := []string{"model.safetensors", "checkpoint100.safetensors", "model_best.safetensors", "metrics.jsonl", "trainer_state.json", "bpe.codes"}
	for _, f := range append(old, ".model.safetensors.tmp12345", "notes.txt") {
		os.WriteFile(filepath.Join(out, f), []byte("old"), 0o644)
	}
	code, _, e := runCLI(t, tinyTrain(text, out)...)
	if code != 2 || !strings.Contains(e, "--overwrite") {
		t.Fatalf("train into a used directory: exit %d, %q", code, e)
	}
	if code, _, e := runCLI(t, tinyTrain(text, out, "--overwrite")...); code != 0 {
		t.Fatalf("train --overwrite: exit %d, %q", code, e)
	}
	for _, f := range []string{"checkpoint100.safetensors", "model_best.safetensors", "trainer_state.json", "bpe.codes", ".model.safetensors.tmp12345"} {
		if _, err := os.Stat(filepath.Join(out, f)); err == nil {
			t.Errorf("%s of the previous run is still there", f)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(out, "notes.txt")); string(b) != "old" {
		t.Errorf("a file that is not the run's was touched: %q", b)
	}
	for _, f := range []string{"model.safetensors", "metrics.jsonl"} {
		if b, err := os.ReadFile(filepath.Join(out, f)); err != nil || string(b) == "old" {
			t.Errorf("%s: %v (content %q)", f, err, b)
		}
	}
	// The lock was released: a second run may follow.
	if code, _, e := runCLI(t, tinyTrain(text, out, "--overwrite")...); code != 0 {
		t.Fatalf("second train --overwrite: exit %d, %q", code, e)
	}
}

// A sweep does not replace an earlier one without --overwrite, and with
// it removes the earlier runs.
func TestSweepOverwrite(t *testing.T) {
	out := t.TempDir()
	os.WriteFile(filepath.Join(out, "report.md"), []byte("old"), 0o644)
	for _, args := range [][]string{{"analyze", "sweep", "--out", out}, {"analyze", "sweep", "--task", "translate", "--out", out}} {
		code, _, e := runCLI(t, args...)
		if code != 2 || !strings.Contains(e, "report.md") || !strings.Contains(e, "--overwrite") {
			t.Errorf("%v: exit %d, %q", args, code, e)
		}
	}
}
