package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clinic-ml/clinic/model"
)

// train --keep-last keeps numbered checkpoints that average combines;
// averaging mismatched checkpoints or into an input is refused.
func TestKeepLastAverage(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "t.txt")
	os.WriteFile(text, []byte(strings.Repeat("the quick brown fox jumps over the lazy dog. ", 200)), 0o644)
	run := filepath.Join(dir, "run")
	base := []string{"train", "--data", text, "--layers", "1", "--d-model", "16", "--heads", "2", "--d-ff", "32",
		"--seq-len", "16", "--batch-size", "2", "--eval-every", "5", "--threads", "1", "--val-frac", "0.1"}
	if code, _, e := runCLI(t, append(base, "--out", run, "--steps", "12", "--save-every", "3", "--keep-last", "2")...); code != 0 {
		t.Fatalf("train: %s", e)
	}
	c9, c12 := filepath.Join(run, "checkpoint9.safetensors"), filepath.Join(run, "checkpoint12.safetensors")
	if _, err := os.Stat(filepath.Join(run, "checkpoint6.safetensors")); err == nil {
		t.Error("checkpoint6 was kept beyond --keep-last 2")
	}
	avg := filepath.Join(dir, "avg.safetensors")
	if code, out, e := runCLI(t, "average", "--out", avg, c9, c12); code != 0 || !strings.Contains(out, "averaged 2") {
		t.Fatalf("average: exit %d %s %s", code, out, e)
	}
	a, _, _ := model.LoadCheckpoint(c9)
	b, _, _ := model.LoadCheckpoint(c12)
	m, meta, err := model.LoadCheckpoint(avg)
	if err != nil {
		t.Fatal(err)
	}
	if want := float32((float64(a.W[7]) + float64(b.W[7])) / 2); m.W[7] != want || meta["averaged_from"] != "checkpoint9.safetensors,checkpoint12.safetensors" {
		t.Errorf("average: w %v want %v, meta %q", m.W[7], want, meta["averaged_from"])
	}
	other := filepath.Join(dir, "other")
	if code, _, e := runCLI(t, append(base, "--out", other, "--steps", "2", "--layers", "2")...); code != 0 {
		t.Fatalf("train: %s", e)
	}
	for _, tc := range []struct {
		code int
		args []string
		want string
	}{
		{1, []string{"average", "--out", avg, c9, filepath.Join(other, "model.safetensors")}, "different model"},
		{2, []string{"average", "--out", c9, c9, c12}, "one of the checkpoints"},
		{2, []string{"average", c9}, "--out"},
		{2, []string{"average", "--out", avg}, "checkpoints to average"},
		{1, []string{"average", "--out", avg, filepath.Join(dir, "none.safetensors")}, "none.safetensors"},
		{2, []string{"train", "--keep-last", "-1"}, "--keep-last"},
	} {
		code, _, e := runCLI(t, tc.args...)
		if code != tc.code || !strings.Contains(e, tc.want) || strings.Count(strings.TrimSpace(e), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, e, tc.code, tc.want)
		}
	}
}
