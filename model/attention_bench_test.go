package model

import (
	"fmt"
	"testing"

	"github.com/clinic-ml/clinic/asm"
)

// BenchmarkAttention times the self-attention sublayer's branch alone
// (qkv projection, causal scaled-dot-product attention with dropout,
// output projection), forward and backward, on the shapes of the
// training-step configs. GFLOP/s counts the causal half of QKᵀ and P·V.
func BenchmarkAttention(b *testing.B) {
	for _, sc := range []struct {
		d, h, t, bsz int
	}{{256, 4, 128, 16}, {512, 8, 256, 8}} {
		for _, threads := range []int{1, 2} {
			cfg := Config{Layers: 1, DModel: sc.d, Heads: sc.h, DFF: 4 * sc.d, SeqLen: sc.t, Vocab: 256,
				Dropout: 0.1, AttnDropout: 0.1, ActDropout: 0.1, Norm: Admin, Activation: "relu", LNEps: 1e-5}
			p, _ := NewParams(cfg)
			p.Init(1)
			m, _ := New(p, sc.bsz, 1)
			n, d := sc.bsz*sc.t, sc.d
			toks := randTokens(n, 256, 1)
			if _, err := m.Forward(toks, toks, sc.bsz, sc.t, true); err != nil {
				b.Fatal(err)
			}
			att := m.dec.subs[0].br.(*attention)
			in, out := m.dec.xs[0][:n*d], m.c.fo[:n*d]
			dout, din := m.dec.dA[:n*d], m.dec.dB[:n*d]
			proj := 2.0 * float64(n) * float64(d) * float64(4*d)
			core := 2.0 * 2 * float64(sc.bsz*sc.t*sc.t/2) * float64(d)
			for _, dir := range []string{"fwd", "bwd"} {
				b.Run(fmt.Sprintf("%s/d%d_T%d_B%d/threads=%d", dir, sc.d, sc.t, sc.bsz, threads), func(b *testing.B) {
					pool := asm.NewPool(threads)
					defer pool.Close()
					m.SetPool(pool)
					flops := proj + core
					run := func() { att.forward(in, out) }
					if dir == "bwd" {
						flops *= 2
						run = func() { copy(dout, out); att.backward(dout, din) }
					}
					run()
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						run()
					}
					s := b.Elapsed().Seconds()
					b.ReportMetric(flops*float64(b.N)/s/1e9, "GFLOP/s")
					b.ReportMetric(float64(n*b.N)/s, "tokens/s")
				})
			}
		}
	}
}
