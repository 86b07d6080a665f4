package translation

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/clinic-ml/clinic/internal/optim"
	"github.com/clinic-ml/clinic/internal/train"
	"github.com/clinic-ml/clinic/model"
)

// RunTranslate learns its codes, trains and scores validation BLEU from
// Options, on the built-in corpus.
func TestRunTranslateFromJob(t *testing.T) {
	cfg := model.DefaultConfig()
	cfg.Layers, cfg.EncoderLayers, cfg.DModel, cfg.Heads, cfg.DFF, cfg.SeqLen, cfg.Norm = 1, 1, 16, 2, 32, 64, model.PreLN
	j := train.Job{Model: cfg, Steps: 2, EvalEvery: 2, ValFrac: 0.1, Seed: 1, Dir: t.TempDir(), Threads: 1, Specialized: true,
		Optim: optim.Config{Name: "adam", LR: 1e-3, Beta1: 0.9, Beta2: 0.98, Eps: 1e-8, Warmup: 1, Clip: 1}}
	tj := Options{MaxTokens: 256, BPEMerges: 20, SrcLang: "en", TgtLang: "es", Columns: "1,2", BLEUEvery: 2, BLEUBeam: 1}
	res, err := Run(j, tj)
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
