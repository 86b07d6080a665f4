package model

import "testing"

// The training step runs over buffers planned in New: a forward and
// backward pass allocate nothing, with and without dropout.
func TestStepAllocatesNothing(t *testing.T) {
	for _, norm := range Norms {
		// Large enough that the GEMMs and element-wise kernels split
		// over the worker pool.
		cfg := tinyConfig(norm, "gelu")
		cfg.SeqLen, cfg.DModel, cfg.DFF = 64, 128, 256
		cfg.Dropout, cfg.AttnDropout, cfg.ActDropout = 0.1, 0.1, 0.1
		p, _ := NewParams(cfg)
		p.Init(1)
		m, _ := New(p, 4, 1)
		toks := randTokens(4*cfg.SeqLen, cfg.Vocab, 1)
		step := func() {
			p.ZeroGrad()
			if _, err := m.Forward(toks, toks, 4, cfg.SeqLen, true); err != nil {
				t.Fatal(err)
			}
			if err := m.Backward(); err != nil {
				t.Fatal(err)
			}
		}
		step()
		if n := testing.AllocsPerRun(5, step); n != 0 {
			t.Errorf("%s: %v allocations per step", norm, n)
		}
	}
}
