package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clinic-ml/clinic/internal/safetensors"
	"github.com/clinic-ml/clinic/model"
)

// TestCheckpointInPyTorch trains a tiny model, then has the independent
// PyTorch implementation load the checkpoint by its documented tensor
// names and compare its logits with clinic's. It needs Debian's
// python3-torch and is skipped without it.
func TestCheckpointInPyTorch(t *testing.T) {
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import torch").Run(); err != nil {
		t.Skip("python3-torch not installed")
	}
	dir := t.TempDir()
	text := filepath.Join(dir, "t.txt")
	os.WriteFile(text, []byte(strings.Repeat("We hold these truths to be self-evident. ", 200)), 0o644)
	for _, norm := range model.Norms {
		out := filepath.Join(dir, norm)
		if code, _, e := runCLI(t, "train", "--data", text, "--out", out, "--norm", norm, "--layers", "2",
			"--d-model", "32", "--heads", "4", "--d-ff", "48", "--seq-len", "24", "--batch-size", "4",
			"--steps", "15", "--eval-every", "15", "--activation", "gelu", "--val-frac", "0.1"); code != 0 {
			t.Fatalf("train %s: %s", norm, e)
		}
		ckpt := filepath.Join(out, "model.safetensors")
		lg := filepath.Join(out, "logits.safetensors")
		if code, _, e := runCLI(t, "logits", "--checkpoint", ckpt, "--text", "We hold these truths", "--out", lg); code != 0 {
			t.Fatalf("logits: %s", e)
		}
		cmd := exec.Command(py, "../../model/testdata/reference.py", "check", "--checkpoint", ckpt,
			"--tokens", "We hold these truths", "--expect-logits", lg)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: PyTorch disagrees: %v\n%s", norm, err, b)
		}
	}
}

// TestTranslatorInPyTorch does the same for encoder–decoder checkpoints:
// PyTorch loads them by the documented names and reproduces clinic's
// logits on a sentence pair.
func TestTranslatorInPyTorch(t *testing.T) {
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import torch").Run(); err != nil {
		t.Skip("python3-torch not installed")
	}
	dir := t.TempDir()
	tsv, _, _ := writePairs(t, dir, 200)
	for _, norm := range model.Norms {
		out := filepath.Join(dir, norm)
		if code, _, e := runCLI(t, "train", "--task", "translate", "--data", tsv, "--columns", "2,3", "--out", out, "--norm", norm,
			"--encoder-layers", "2", "--layers", "2", "--d-model", "32", "--heads", "4", "--d-ff", "48", "--seq-len", "16",
			"--max-tokens", "128", "--bpe-merges", "30", "--steps", "10", "--eval-every", "10", "--activation", "gelu"); code != 0 {
			t.Fatalf("train %s: %s", norm, e)
		}
		ckpt := filepath.Join(out, "model.safetensors")
		lg := filepath.Join(out, "logits.safetensors")
		if code, _, e := runCLI(t, "logits", "--checkpoint", ckpt, "--src", "three one four", "--tgt", "3 1 4", "--out", lg); code != 0 {
			t.Fatalf("logits: %s", e)
		}
		f, err := safetensors.ReadFile(lg)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(py, "../../model/testdata/reference.py", "check", "--checkpoint", ckpt,
			"--src", f.Metadata["src_ids"], "--tgt", f.Metadata["tgt_ids"], "--expect-logits", lg)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: PyTorch disagrees: %v\n%s", norm, err, b)
		}
	}
}
