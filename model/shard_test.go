package model

import (
	"math"
	"testing"
)

// Shares of a batch, each run by a model with SetSeqOffset at its first
// sequence, draw the dropout masks of one pass over the whole batch: the
// mean of their losses and of their gradients is the whole batch's (up
// to rounding), for every variant, dropout on.
func TestSeqOffsetShares(t *testing.T) {
	for _, norm := range Norms {
		cfg := tinyConfig(norm, "gelu")
		cfg.SeqLen = 40 // longer than one causal attention block
		cfg.Dropout, cfg.AttnDropout, cfg.ActDropout = 0.2, 0.3, 0.25
		const B, T, shares = 4, 37, 2
		tokens, targets := randTokens(B*T, cfg.Vocab, 1), randTokens(B*T, cfg.Vocab, 2)

		whole := func() (float64, []float32) {
			p, _ := NewParams(cfg)
			p.Init(3)
			m, err := New(p, B, 9)
			if err != nil {
				t.Fatal(err)
			}
			m.SetDraws(5)
			loss, err := m.Forward(tokens, targets, B, T, true)
			if err != nil {
				t.Fatal(err)
			}
			if err := m.Backward(); err != nil {
				t.Fatal(err)
			}
			return loss, p.G
		}
		wantLoss, wantG := whole()

		var loss float64
		g := make([]float32, len(wantG))
		b := B / shares
		for s := range shares {
			p, _ := NewParams(cfg)
			p.Init(3)
			m, err := New(p, b, 9)
			if err != nil {
				t.Fatal(err)
			}
			m.SetDraws(5)
			m.SetSeqOffset(s * b)
			l, err := m.Forward(tokens[s*b*T:(s+1)*b*T], targets[s*b*T:(s+1)*b*T], b, T, true)
			if err != nil {
				t.Fatal(err)
			}
			if err := m.Backward(); err != nil {
				t.Fatal(err)
			}
			loss += l / shares
			for i, v := range p.G {
				g[i] += v / shares
			}
		}
		if math.Abs(loss-wantLoss) > 1e-6*math.Abs(wantLoss) {
			t.Errorf("%s: mean of the shares' losses %v, whole batch %v", norm, loss, wantLoss)
		}
		var dn, n float64
		for i := range g {
			dn += float64(g[i]-wantG[i]) * float64(g[i]-wantG[i])
			n += float64(wantG[i]) * float64(wantG[i])
		}
		if r := math.Sqrt(dn / n); r > 1e-5 {
			t.Errorf("%s: mean of the shares' gradients differs from the whole batch's by %.3g", norm, r)
		}

		// Without the offset, the second share would draw the first's
		// masks: the test can tell.
		p, _ := NewParams(cfg)
		p.Init(3)
		m, _ := New(p, b, 9)
		m.SetDraws(5)
		l0, _ := m.Forward(tokens[b*T:], targets[b*T:], b, T, true)
		m.SetDraws(5)
		m.SetSeqOffset(b)
		l1, _ := m.Forward(tokens[b*T:], targets[b*T:], b, T, true)
		if l0 == l1 {
			t.Errorf("%s: the offset changes no mask", norm)
		}
	}
}
