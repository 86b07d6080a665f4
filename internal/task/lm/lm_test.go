package lm

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/clinic-ml/clinic/internal/optim"
	"github.com/clinic-ml/clinic/internal/train"
	"github.com/clinic-ml/clinic/model"
)

// tinyJob is a job a Go program could fill in: no CLI involved.
func tinyJob(t *testing.T, norm string) train.Job {
	cfg := model.DefaultConfig()
	cfg.Layers, cfg.DModel, cfg.Heads, cfg.DFF, cfg.SeqLen, cfg.Norm = 1, 16, 2, 32, 16, norm
	cfg.Vocab, cfg.LNEps = 256, 1e-5
	return train.Job{Model: cfg, Steps: 3, Batch: 2, EvalEvery: 3, EvalBatches: 1, SaveEvery: 0, ValFrac: 0.1, Seed: 1,
		Optim: optim.Config{Name: "adam", LR: 1e-3, Beta1: 0.9, Beta2: 0.98, Eps: 1e-8, Warmup: 1, Schedule: "invsqrt", Clip: 1},
		Dir:   t.TempDir(), AdminInit: "profile", Threads: 1, Specialized: true}
}

// A training run is a library call: Run writes the run directory a
// 'clinic train' run writes, Admin's profile included, and the same
// job run twice gives the same checkpoint.
func TestRunLMFromJob(t *testing.T) {
	var ckpts [2][]byte
	for i := range ckpts {
		j := tinyJob(t, model.Admin)
		res, err := Run(j)
		if err != nil {
			t.Fatal(err)
		}
		if res.Final.Step != 3 {
			t.Errorf("final step %d, want 3", res.Final.Step)
		}
		for _, f := range []string{"model.safetensors", "metrics.jsonl", "admin_profile.json", train.StateFile} {
			if _, err := os.Stat(filepath.Join(j.Dir, f)); err != nil {
				t.Errorf("%s not written: %v", f, err)
			}
		}
		ckpts[i], _ = os.ReadFile(filepath.Join(j.Dir, "model.safetensors"))
	}
	if string(ckpts[0]) != string(ckpts[1]) {
		t.Error("the same job gave two different checkpoints")
	}
}
