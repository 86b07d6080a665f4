package experiment

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/clinic-ml/clinic/asm"
	"github.com/clinic-ml/clinic/internal/corpus"
	"github.com/clinic-ml/clinic/model"
)

func tinyConfig() model.Config {
	cfg := model.DefaultConfig()
	cfg.Layers, cfg.DModel, cfg.Heads, cfg.DFF, cfg.SeqLen, cfg.Vocab, cfg.LNEps = 1, 16, 2, 32, 16, 256, 1e-5
	return cfg
}

// The analyses are library calls too, and give the same values at 1
// and 2 threads.
func TestChangeAtTwoWidths(t *testing.T) {
	var csvs [2]string
	for i, threads := range []int{1, 2} {
		pool := asm.NewPool(threads)
		bs := NewLMData(corpus.SOTU(), "built-in", 0.01, 2)
		out := filepath.Join(t.TempDir(), "change")
		c := &Change{Analysis: Analysis{Base: tinyConfig(), Norms: []string{model.PostLN, model.PreLN}, Seed: 1, Seeds: 2,
			Data: bs, Pool: pool, Out: out, Command: "test"}, Depths: []int{1, 2}, Modes: []string{"random", "grad"}, Eps: 1e-3}
		if _, err := c.Run(); err != nil {
			t.Fatal(err)
		}
		pool.Close()
		b, err := os.ReadFile(filepath.Join(out, "change.csv"))
		if err != nil {
			t.Fatal(err)
		}
		csvs[i] = string(b)
	}
	if csvs[0] != csvs[1] {
		t.Errorf("change.csv differs between 1 and 2 threads:\n%s\n%s", csvs[0], csvs[1])
	}
}
