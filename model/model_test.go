package model

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// perturbParams moves every tensor away from its special init values so
// that every gradient path is exercised (non-unit γ, non-zero β, ω ≠ 1).
func perturbParams(p *Params, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 7))
	for _, q := range p.List {
		for i := range q.W {
			switch {
			case q.Matrix:
				q.W[i] += float32(0.1 * r.NormFloat64())
			default:
				q.W[i] += float32(0.2 * r.NormFloat64())
			}
		}
	}
}

func randTokens(n, V int, seed uint64) []int32 {
	r := rand.New(rand.NewPCG(seed, 1))
	t := make([]int32, n)
	for i := range t {
		t[i] = int32(r.IntN(V))
	}
	return t
}

// TestModelGradFD checks the whole model's backward against central
// finite differences of the loss for every tensor, every variant, with
// and without dropout (masks pinned).
func TestModelGradFD(t *testing.T) {
	for _, tc := range []struct {
		norm, act string
		drop      float32
		ls        float32
		seqLen    int
	}{
		{PostLN, "relu", 0, 0, 0}, {PreLN, "gelu", 0, 0.1, 0}, {Admin, "relu", 0, 0, 0},
		{Admin, "gelu", 0.2, 0.1, 0}, {PostLN, "gelu", 0.3, 0, 0}, {PreLN, "relu", 0.25, 0, 0},
		// Longer than attnBlock: several causal row blocks and a tail.
		{Admin, "gelu", 0.1, 0, 2*attnBlock + 7}, {PreLN, "gelu", 0, 0, attnBlock + 1},
		{DeepNorm, "relu", 0, 0, 0}, {DeepNorm, "gelu", 0.2, 0.1, 0},
		{ReZero, "gelu", 0, 0.1, 0}, {ReZero, "relu", 0.25, 0, 0},
		{TFixup, "relu", 0, 0, 0}, {TFixup, "gelu", 0.2, 0.1, attnBlock + 1},
	} {
		t.Run(fmt.Sprintf("%s_%s_T%d", tc.norm, tc.act, tc.seqLen), func(t *testing.T) {
			cfg := TinyConfig(tc.norm, tc.act)
			if tc.seqLen > 0 {
				cfg.SeqLen = tc.seqLen
			}
			cfg.Dropout, cfg.AttnDropout, cfg.ActDropout, cfg.LabelSmoothing = tc.drop, tc.drop, tc.drop, tc.ls
			p, err := NewParams(cfg)
			if err != nil {
				t.Fatal(err)
			}
			p.Init(3)
			perturbParams(p, 4)
			m, err := New(p, 3, 99)
			if err != nil {
				t.Fatal(err)
			}
			B, T := 3, cfg.SeqLen
			toks := randTokens(B*T, cfg.Vocab, 5)
			tgts := randTokens(B*T, cfg.Vocab, 6)
			tgts[4] = -1 // an ignored position
			train := tc.drop > 0
			loss := func() float64 {
				m.draws = 0 // same dropout masks every time
				l, err := m.Forward(toks, tgts, B, T, train)
				if err != nil {
					t.Fatal(err)
				}
				return l
			}
			p.ZeroGrad(nil)
			loss()
			if err := m.Backward(); err != nil {
				t.Fatal(err)
			}
			checkGradFD(t, p, loss)
		})
	}
}
