package model

import (
	"runtime"
	"testing"
)

// The estimate matches what New and NewSeq2Seq allocate, to 10%.
func TestModelBytesMatchesAllocation(t *testing.T) {
	measure := func(f func() any) int64 {
		var a, b runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&a)
		keep := f()
		runtime.ReadMemStats(&b)
		runtime.KeepAlive(keep)
		return int64(b.TotalAlloc - a.TotalAlloc)
	}
	for _, cfg := range []Config{
		{Layers: 4, DModel: 64, Heads: 4, DFF: 256, SeqLen: 64, Vocab: 256, Norm: Admin, Activation: "relu", LNEps: 1e-5},
		{Layers: 3, DModel: 32, Heads: 2, DFF: 64, SeqLen: 128, Vocab: 256, Norm: PreLN, Activation: "gelu", LNEps: 1e-5},
		{EncoderLayers: 3, Layers: 2, DModel: 64, Heads: 4, DFF: 128, SeqLen: 48, Vocab: 1000, Norm: Admin, Activation: "relu", LNEps: 1e-5},
		{Layers: 4, DModel: 64, Heads: 4, DFF: 256, SeqLen: 64, Vocab: 256, Norm: DeepNorm, Activation: "relu", LNEps: 1e-5},
		{EncoderLayers: 2, Layers: 3, DModel: 64, Heads: 4, DFF: 128, SeqLen: 48, Vocab: 1000, Norm: ReZero, Activation: "gelu", LNEps: 1e-5},
		{Layers: 3, DModel: 32, Heads: 2, DFF: 64, SeqLen: 128, Vocab: 256, Norm: TFixup, Activation: "gelu", LNEps: 1e-5},
	} {
		p, _ := NewParams(cfg)
		rows := 8 * cfg.SeqLen
		got := measure(func() any {
			if cfg.EncoderLayers > 0 {
				m, _ := NewSeq2Seq(p, rows, 1)
				return m
			}
			m, _ := New(p, 8, 1)
			return m
		})
		want := ModelBytes(cfg, rows)
		if r := float64(got) / want; r < 0.9 || r > 1.1 {
			t.Errorf("%+v: allocated %d bytes, estimate %.0f (ratio %.3f)", cfg, got, want, r)
		}
		if cfg.EncoderLayers == 0 {
			continue
		}
		// a translator, planned for the model's seq-len and for shorter
		// sources and outputs, its weights packed by its first Encode
		for _, l := range [][2]int{{cfg.SeqLen, cfg.SeqLen}, {cfg.SeqLen / 3, cfg.SeqLen / 2}} {
			got := measure(func() any {
				tr, err := NewTranslatorFor(p, 8, 20, l[0], l[1])
				if err != nil {
					t.Fatal(err)
				}
				src := make([]int32, 8*l[0])
				lens := make([]int32, 8)
				for i := range lens {
					lens[i] = int32(l[0])
				}
				if err := tr.Encode(src, lens, 8, l[0]); err != nil {
					t.Fatal(err)
				}
				return tr
			})
			want := TranslatorBytes(cfg, 8, 20, l[0], l[1])
			if r := float64(got) / want; r < 0.9 || r > 1.1 {
				t.Errorf("%+v: a translator for sources of %d, outputs of %d: allocated %d bytes, estimate %.0f (ratio %.3f)", cfg, l[0], l[1], got, want, r)
			}
		}
	}
}
