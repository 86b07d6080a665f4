package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// --pin-threads binds the workers to CPUs and changes no result.
func TestTrainPinThreads(t *testing.T) {
	dir := t.TempDir()
	text := tinyText(t, dir)
	var models [][]byte
	for _, pin := range []bool{false, true} {
		out := filepath.Join(dir, "run"+map[bool]string{false: "", true: "-pinned"}[pin])
		args := []string{"train", "--data", text, "--layers", "1", "--d-model", "16", "--heads", "2", "--d-ff", "32",
			"--seq-len", "16", "--batch-size", "2", "--steps", "4", "--eval-every", "2", "--eval-batches", "1", "--threads", "2", "--out", out}
		if pin {
			args = append(args, "--pin-threads")
		}
		if code, _, stderr := runCLI(t, args...); code != 0 {
			t.Fatalf("pin %v: exit %d: %s", pin, code, stderr)
		}
		b, err := os.ReadFile(filepath.Join(out, "model.safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		models = append(models, b)
	}
	if !bytes.Equal(models[0], models[1]) {
		t.Error("--pin-threads changed the trained weights")
	}
}
