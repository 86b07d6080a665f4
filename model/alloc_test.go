package model

import "testing"

// The training step runs over buffers planned in New: a forward and
// backward pass allocate nothing, with and without dropout, on the
// generic path (every variant) and on every generated layer.
func TestStepAllocatesNothing(t *testing.T) {
	var cfgs []Config
	for _, norm := range Norms {
		// Large enough that the GEMMs and element-wise kernels split
		// over the worker pool.
		cfg := TinyConfig(norm, "gelu")
		cfg.SeqLen, cfg.DModel, cfg.DFF = 64, 128, 256
		cfgs = append(cfgs, cfg)
	}
	seen := map[layerKey]bool{}
	for _, sc := range SpecializedConfigs() {
		cfg := sc.Config(11)
		if !seen[keyOf(cfg)] {
			seen[keyOf(cfg)] = true
			cfg.EncoderLayers, cfg.Layers, cfg.SeqLen = 0, 2, 64
			cfgs = append(cfgs, cfg)
		}
	}
	for _, cfg := range cfgs {
		cfg.Dropout, cfg.AttnDropout, cfg.ActDropout = 0.1, 0.1, 0.1
		p, _ := NewParams(cfg)
		p.Init(1)
		m, _ := New(p, 4, 1)
		toks := randTokens(4*cfg.SeqLen, cfg.Vocab, 1)
		step := func() {
			p.ZeroGrad(nil)
			if _, err := m.Forward(toks, toks, 4, cfg.SeqLen, true); err != nil {
				t.Fatal(err)
			}
			if err := m.Backward(); err != nil {
				t.Fatal(err)
			}
		}
		step()
		if n := testing.AllocsPerRun(5, step); n != 0 {
			t.Errorf("%s d%d (%s): %v allocations per step", cfg.Norm, cfg.DModel, Specialized(cfg), n)
		}
	}
}
