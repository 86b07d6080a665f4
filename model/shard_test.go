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
		cfg := TinyConfig(norm, "gelu")
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

// The encoder–decoder's shares of a batch of pairs (rows, at the whole
// batch's padded widths), each with SetSeqOffset at its first row, draw
// the masks of one pass over the whole batch: weighted by their target
// tokens, their losses and gradients are the whole batch's, dropout on,
// with uneven shares and an empty one, for every variant.
func TestSeq2SeqSeqOffsetShares(t *testing.T) {
	srcLens, tgtLens := []int{9, 7, 9, 3, 8}, []int{6, 10, 4, 10, 2}
	// rows [0,2), [2,2) (empty), [2,5)
	bounds := []int{0, 2, 2, 5}
	for _, norm := range Norms {
		cfg := tinySeq2SeqConfig(norm, "relu")
		cfg.Dropout, cfg.AttnDropout, cfg.ActDropout = 0.2, 0.3, 0.25
		b := randPair(srcLens, tgtLens, cfg.Vocab, 4)
		rows := b.Rows()
		run := func(first, n int) (float64, int, []float32) {
			p, _ := NewParams(cfg)
			p.Init(3)
			perturbParams(p, 8) // ReZero's α and the like away from 0
			m, err := NewSeq2Seq(p, rows, 9)
			if err != nil {
				t.Fatal(err)
			}
			m.SetDraws(5)
			m.SetSeqOffset(first)
			if n == 0 {
				return 0, 0, p.G
			}
			S, T := b.SrcT, b.TgtT
			sh := &Pair{Bsz: n, SrcT: S, TgtT: T, Src: b.Src[first*S : (first+n)*S],
				TgtIn: b.TgtIn[first*T : (first+n)*T], TgtOut: b.TgtOut[first*T : (first+n)*T],
				SrcLens: b.SrcLens[first : first+n], TgtLens: b.TgtLens[first : first+n]}
			l, c, err := m.Forward(sh, true)
			if err != nil {
				t.Fatal(err)
			}
			if err := m.Backward(); err != nil {
				t.Fatal(err)
			}
			return l, c, p.G
		}
		wantLoss, wantN, wantG := run(0, b.Bsz)

		var loss float64
		var count int
		g := make([]float32, len(wantG))
		for s := 0; s+1 < len(bounds); s++ {
			l, c, gs := run(bounds[s], bounds[s+1]-bounds[s])
			loss += l * float64(c)
			count += c
			for i, v := range gs {
				g[i] += v * float32(c)
			}
		}
		if count != wantN {
			t.Fatalf("%s: the shares count %d target tokens, the whole batch %d", norm, count, wantN)
		}
		loss /= float64(count)
		if math.Abs(loss-wantLoss) > 1e-6*math.Abs(wantLoss) {
			t.Errorf("%s: token-weighted loss of the shares %v, whole batch %v", norm, loss, wantLoss)
		}
		var dn, n float64
		for i := range g {
			g[i] /= float32(count)
			dn += float64(g[i]-wantG[i]) * float64(g[i]-wantG[i])
			n += float64(wantG[i]) * float64(wantG[i])
		}
		if r := math.Sqrt(dn / n); !(r < 1e-5) {
			t.Errorf("%s: token-weighted gradient of the shares differs from the whole batch's by %.3g", norm, r)
		}

		// Without the offset the last share would draw the first rows'
		// masks: the test can tell.
		p, _ := NewParams(cfg)
		p.Init(3)
		perturbParams(p, 8)
		m, _ := NewSeq2Seq(p, rows, 9)
		S, T := b.SrcT, b.TgtT
		sh := &Pair{Bsz: 3, SrcT: S, TgtT: T, Src: b.Src[2*S:], TgtIn: b.TgtIn[2*T:], TgtOut: b.TgtOut[2*T:],
			SrcLens: b.SrcLens[2:], TgtLens: b.TgtLens[2:]}
		m.SetDraws(5)
		a, _, _ := m.Forward(sh, true)
		m.SetDraws(5)
		m.SetSeqOffset(2)
		c, _, _ := m.Forward(sh, true)
		if a == c {
			t.Errorf("%s: the offset changes no mask", norm)
		}
	}
}
