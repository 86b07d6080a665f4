package train

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/clinic-ml/clinic/internal/optim"
	"github.com/clinic-ml/clinic/model"
)

// tinyJob is a job a Go program could fill in: no CLI involved.
func tinyJob(t *testing.T, norm string) Job {
	cfg := model.DefaultConfig()
	cfg.Layers, cfg.DModel, cfg.Heads, cfg.DFF, cfg.SeqLen, cfg.Norm = 1, 16, 2, 32, 16, norm
	cfg.Vocab, cfg.LNEps = 256, 1e-5
	return Job{Model: cfg, Steps: 3, Batch: 2, EvalEvery: 3, EvalBatches: 1, SaveEvery: 0, ValFrac: 0.1, Seed: 1,
		Optim: optim.Config{Name: "adam", LR: 1e-3, Beta1: 0.9, Beta2: 0.98, Eps: 1e-8, Warmup: 1, Schedule: "invsqrt", Clip: 1},
		Dir: t.TempDir(), AdminInit: "profile", Threads: 1, Specialized: true}
}

// A training run is a library call: RunLM writes the run directory a
// 'clinic train' run writes, Admin's profile included, and the same
// job run twice gives the same checkpoint.
func TestRunLMFromJob(t *testing.T) {
	var ckpts [2][]byte
	for i := range ckpts {
		j := tinyJob(t, model.Admin)
		res, err := RunLM(j)
		if err != nil {
			t.Fatal(err)
		}
		if res.Final.Step != 3 {
			t.Errorf("final step %d, want 3", res.Final.Step)
		}
		for _, f := range []string{"model.safetensors", "metrics.jsonl", "admin_profile.json", StateFile} {
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

// RunTranslate learns its codes, trains and scores validation BLEU from
// a TranslateJob, on the built-in corpus.
func TestRunTranslateFromJob(t *testing.T) {
	j := tinyJob(t, model.PreLN)
	j.Model.EncoderLayers, j.Model.SeqLen, j.Steps, j.EvalEvery = 1, 64, 2, 2
	tj := TranslateJob{MaxTokens: 256, BPEMerges: 20, SrcLang: "en", TgtLang: "es", Columns: "1,2", BLEUEvery: 2, BLEUBeam: 1}
	res, err := RunTranslate(j, tj)
	if err != nil {
		t.Fatal(err)
	}
	if res.Final.Step != 2 || len(res.Scores["val_bleu"]) != 1 {
		t.Errorf("final step %d, val_bleu %v; want step 2 and one score", res.Final.Step, res.Scores["val_bleu"])
	}
	for _, f := range []string{"model.safetensors", "bpe.codes", "model_best.safetensors"} {
		if _, err := os.Stat(filepath.Join(j.Dir, f)); err != nil {
			t.Errorf("%s not written: %v", f, err)
		}
	}
}
