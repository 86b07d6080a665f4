package main

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clinic-ml/clinic/internal/metrics"
	"github.com/clinic-ml/clinic/model"
)

// A run whose loss turns NaN stops with a message naming the step and
// keeps the last good weights.
func TestDivergenceStops(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "t.txt")
	os.WriteFile(text, bytes.Repeat([]byte("four score and seven years ago "), 300), 0o644)
	cfg := model.Config{Layers: 2, DModel: 16, Heads: 2, DFF: 32, SeqLen: 16, Vocab: 256, Norm: model.PostLN,
		Activation: "relu", LNEps: 1e-5}
	out := filepath.Join(dir, "run")
	o := trainOpts{cfg: cfg, steps: 20, batch: 2, warmup: 2, evalEvery: 5, evalBatches: 1, saveEvery: 0,
		threads: 1, lr: 1e-3, clip: 1, valFrac: 0.1, beta1: 0.9, beta2: 0.98, eps: 1e-8,
		optimizer: "adam", schedule: "invsqrt", seed: 1, dataPath: text, out: out, adminInit: "profile"}
	var good []float32
	o.beforeStep = func(step int, p *model.Params) {
		if step == 7 {
			good = append([]float32(nil), p.W...)
		}
		if step == 8 {
			p.Layers[1].FC2W.W[3] = float32(math.NaN())
		}
	}
	var so, se bytes.Buffer
	res, err := train(o, &so, &se)
	if err == nil || !strings.Contains(err.Error(), "step 8") || !strings.Contains(err.Error(), "step 7") {
		t.Fatalf("want an error naming steps 8 and 7, got %v", err)
	}
	if !res.diverged || res.failStep != 8 {
		t.Fatalf("result %+v", res)
	}
	p, meta, lerr := model.LoadCheckpoint(filepath.Join(out, "model.safetensors"))
	if lerr != nil {
		t.Fatal(lerr)
	}
	if meta["step"] != "6" {
		t.Errorf("checkpoint step %q, want 6 (updates applied)", meta["step"])
	}
	// The checkpoint holds the weights step 7 trained on.
	for i := range good {
		if p.W[i] != good[i] {
			t.Fatalf("checkpoint weight %d = %v, want %v", i, p.W[i], good[i])
		}
	}
	recs, _ := metrics.ReadAll(filepath.Join(out, "metrics.jsonl"))
	if last := recs[len(recs)-1]; last["diverged"] != true {
		t.Errorf("last metrics line %v lacks diverged", last)
	}
}
