package rundir

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/clinic-ml/clinic/internal/runlock"
)

// With --overwrite a sweep removes the earlier runs, and keeps what is
// not a sweep's.
func TestCleanSweep(t *testing.T) {
	out := t.TempDir()
	os.WriteFile(filepath.Join(out, "report.md"), []byte("old"), 0o644)
	run := filepath.Join(out, "runs", "postln-L6")
	os.MkdirAll(run, 0o755)
	for _, f := range []string{"model.safetensors", "metrics.jsonl", "checkpoint3.safetensors"} {
		os.WriteFile(filepath.Join(run, f), nil, 0o644)
	}
	os.WriteFile(filepath.Join(out, "mine.txt"), nil, 0o644)
	if err := cleanSweep(out, true, nil); err != nil {
		t.Fatal(err)
	}
	var left []string
	ents, _ := os.ReadDir(out)
	for _, e := range ents {
		if e.Name() != runlock.Name {
			left = append(left, e.Name())
		}
	}
	if len(left) != 1 || left[0] != "mine.txt" {
		t.Errorf("left after --overwrite: %v", left)
	}
}
