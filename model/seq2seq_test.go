package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

func tinySeq2SeqConfig(norm, act string) Config {
	c := TinyConfig(norm, act)
	c.EncoderLayers, c.SeqLen, c.Vocab = 2, 40, 13
	return c
}

// randPair is a batch of bsz pairs with the given source and target
// lengths, right-padded with token 0 (targets -1) to the longest.
func randPair(srcLens, tgtLens []int, V int, seed uint64) *Pair {
	r := rand.New(rand.NewPCG(seed, 3))
	bsz := len(srcLens)
	b := &Pair{Bsz: bsz, SrcT: maxInt(srcLens), TgtT: maxInt(tgtLens)}
	b.Src, b.TgtIn, b.TgtOut = make([]int32, bsz*b.SrcT), make([]int32, bsz*b.TgtT), make([]int32, bsz*b.TgtT)
	for i := 0; i < bsz; i++ {
		b.SrcLens = append(b.SrcLens, int32(srcLens[i]))
		b.TgtLens = append(b.TgtLens, int32(tgtLens[i]))
		for j := 0; j < srcLens[i]; j++ {
			b.Src[i*b.SrcT+j] = int32(3 + r.IntN(V-3))
		}
		for j := 0; j < b.TgtT; j++ {
			b.TgtOut[i*b.TgtT+j] = -1
		}
		for j := 0; j < tgtLens[i]; j++ {
			b.TgtIn[i*b.TgtT+j] = int32(3 + r.IntN(V-3))
			b.TgtOut[i*b.TgtT+j] = int32(3 + r.IntN(V-3))
		}
	}
	return b
}

func maxInt(xs []int) int {
	m := 0
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}

// repad copies b with sources padded to srcT and targets to tgtT.
func repad(b *Pair, srcT, tgtT int) *Pair {
	c := &Pair{Bsz: b.Bsz, SrcT: srcT, TgtT: tgtT,
		SrcLens: append([]int32(nil), b.SrcLens...), TgtLens: append([]int32(nil), b.TgtLens...)}
	c.Src, c.TgtIn, c.TgtOut = make([]int32, b.Bsz*srcT), make([]int32, b.Bsz*tgtT), make([]int32, b.Bsz*tgtT)
	for i := 0; i < b.Bsz; i++ {
		copy(c.Src[i*srcT:], b.Src[i*b.SrcT:i*b.SrcT+int(b.SrcLens[i])])
		for j := 0; j < tgtT; j++ {
			c.TgtOut[i*tgtT+j] = -1
			c.TgtIn[i*tgtT+j] = 5 // padding with a real token id: it must not matter
		}
		for j := 0; j < int(b.TgtLens[i]); j++ {
			c.TgtIn[i*tgtT+j] = b.TgtIn[i*b.TgtT+j]
			c.TgtOut[i*tgtT+j] = b.TgtOut[i*b.TgtT+j]
		}
		for j := int(b.SrcLens[i]); j < srcT; j++ {
			c.Src[i*srcT+j] = 7
		}
	}
	return c
}

// TestSeq2SeqGradFD checks the encoder–decoder's backward against
// central finite differences of the loss for every tensor, in every
// variant, with padding on both sides, with and without dropout, and
// with sequences longer than the attention block.
func TestSeq2SeqGradFD(t *testing.T) {
	for _, tc := range []struct {
		norm, act  string
		drop, ls   float32
		srcL, tgtL []int
	}{
		{PostLN, "relu", 0, 0, []int{5, 3, 4}, []int{4, 6, 2}},
		{PreLN, "gelu", 0, 0.1, []int{2, 6, 6}, []int{5, 5, 3}},
		{Admin, "relu", 0, 0, []int{4, 5, 1}, []int{1, 3, 4}},
		{Admin, "gelu", 0.2, 0.1, []int{6, 2, 5}, []int{3, 6, 4}},
		{PreLN, "relu", 0.25, 0, []int{3, 5, 4}, []int{6, 2, 5}},
		{PostLN, "gelu", 0.1, 0, []int{attnBlock + 5, 9, 20}, []int{attnBlock + 3, 7, 30}},
		{DeepNorm, "gelu", 0, 0, []int{5, 3, 4}, []int{4, 6, 2}},
		{DeepNorm, "relu", 0, 0, []int{4, 5, 1}, []int{1, 3, 4}},
		{DeepNorm, "gelu", 0.2, 0.1, []int{2, 6, 6}, []int{5, 5, 3}},
		{ReZero, "relu", 0, 0.1, []int{4, 5, 1}, []int{1, 3, 4}},
		{ReZero, "gelu", 0.25, 0, []int{6, 2, 5}, []int{3, 6, 4}},
		{TFixup, "gelu", 0, 0, []int{3, 5, 4}, []int{6, 2, 5}},
		{TFixup, "relu", 0.2, 0.1, []int{5, 3, 4}, []int{4, 6, 2}},
	} {
		t.Run(fmt.Sprintf("%s_%s_drop%g_T%d", tc.norm, tc.act, tc.drop, maxInt(tc.tgtL)), func(t *testing.T) {
			cfg := tinySeq2SeqConfig(tc.norm, tc.act)
			cfg.Dropout, cfg.AttnDropout, cfg.ActDropout, cfg.LabelSmoothing = tc.drop, tc.drop, tc.drop, tc.ls
			p, err := NewParams(cfg)
			if err != nil {
				t.Fatal(err)
			}
			p.Init(3)
			perturbParams(p, 4)
			b := randPair(tc.srcL, tc.tgtL, cfg.Vocab, 5)
			m, err := NewSeq2Seq(p, 3*max(b.SrcT, b.TgtT), 99)
			if err != nil {
				t.Fatal(err)
			}
			train := tc.drop > 0
			loss := func() float64 {
				m.draws = 0 // same dropout masks every time
				l, _, err := m.Forward(b, train)
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

// checkGradFD compares every tensor's gradient in p with central finite
// differences of loss at a few elements.
func checkGradFD(t *testing.T, p *Params, loss func() float64) {
	t.Helper()
	r := rand.New(rand.NewPCG(8, 9))
	for _, q := range p.List {
		idx := []int{0, len(q.W) - 1}
		for j := 0; j < 6; j++ {
			idx = append(idx, r.IntN(len(q.W)))
		}
		var num, ana []float64
		fd := func(i int, h float32) float64 {
			w0 := q.W[i]
			q.W[i] = w0 + h
			lp := loss()
			q.W[i] = w0 - h
			lm := loss()
			q.W[i] = w0
			return (lp - lm) / float64(2*h)
		}
		kinks := 0
		for _, i := range idx {
			n1, n2 := fd(i, 2e-3), fd(i, 1e-3)
			// A ReLU or dropout boundary within the step makes the loss
			// non-smooth there: the two estimates disagree.
			if math.Abs(n1-n2) > 2e-2*math.Abs(n1)+3e-4 {
				kinks++
				continue
			}
			num = append(num, n1)
			ana = append(ana, float64(q.G[i]))
		}
		if kinks > len(idx)/2 {
			t.Errorf("%s: %d of %d probes non-smooth", q.Name, kinks, len(idx))
		}
		var dn, nn float64
		for i := range num {
			dn += (num[i] - ana[i]) * (num[i] - ana[i])
			nn += num[i]*num[i] + ana[i]*ana[i]
		}
		if math.Sqrt(dn) > 2e-2*math.Sqrt(nn)+3e-4 {
			t.Errorf("%s: finite differences %v, backward %v", q.Name, num, ana)
		}
	}
}

// Padding changes no real token's output or loss: the same pairs padded
// further on either side give the same logits at every real target
// position and the same gradients.
func TestSeq2SeqPaddingInvariance(t *testing.T) {
	for _, norm := range Norms {
		cfg := tinySeq2SeqConfig(norm, "gelu")
		p, _ := NewParams(cfg)
		p.Init(1)
		perturbParams(p, 2)
		b := randPair([]int{4, 7, 2}, []int{5, 3, 6}, cfg.Vocab, 3)
		wide := repad(b, 20, 11)
		run := func(b *Pair) ([]float32, []float32, float64) {
			m, err := NewSeq2Seq(p, 3*20, 1)
			if err != nil {
				t.Fatal(err)
			}
			p.ZeroGrad(nil)
			loss, n, err := m.Forward(b, false)
			if err != nil || n != 14 {
				t.Fatalf("%v, %d targets", err, n)
			}
			if err := m.Backward(); err != nil {
				t.Fatal(err)
			}
			return append([]float32(nil), m.Logits()...), append([]float32(nil), p.G...), loss
		}
		l1, g1, loss1 := run(b)
		l2, g2, loss2 := run(wide)
		V := cfg.Vocab
		worst := 0.0
		for i := 0; i < b.Bsz; i++ {
			for j := 0; j < int(b.TgtLens[i]); j++ {
				r1, r2 := l1[(i*b.TgtT+j)*V:], l2[(i*wide.TgtT+j)*V:]
				for v := 0; v < V; v++ {
					worst = max(worst, math.Abs(float64(r1[v]-r2[v])))
				}
			}
		}
		if worst > 1e-5 || math.Abs(loss1-loss2) > 1e-6 {
			t.Errorf("%s: padding moved logits by %g, loss %v → %v", norm, worst, loss1, loss2)
		}
		if e := relErr(g2, g1); e > 1e-5 {
			t.Errorf("%s: padding changed the gradients (rel err %g)", norm, e)
		}
	}
}

// A training step allocates nothing, and the same seed gives the same
// loss and gradients.
func TestSeq2SeqAllocsDeterminism(t *testing.T) {
	cfg := tinySeq2SeqConfig(Admin, "relu")
	cfg.DModel, cfg.DFF, cfg.Dropout, cfg.AttnDropout, cfg.ActDropout = 64, 128, 0.1, 0.1, 0.1
	p, _ := NewParams(cfg)
	p.Init(1)
	b := randPair([]int{30, 12, 25, 40}, []int{33, 20, 8, 39}, cfg.Vocab, 4)
	m, _ := NewSeq2Seq(p, 4*40, 7)
	step := func() float64 {
		p.ZeroGrad(nil)
		l, _, err := m.Forward(b, true)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Backward(); err != nil {
			t.Fatal(err)
		}
		return l
	}
	m.SetDraws(3)
	l1 := step()
	g1 := append([]float32(nil), p.G...)
	if n := testing.AllocsPerRun(3, func() { step() }); n != 0 {
		t.Errorf("%v allocations per step", n)
	}
	m.SetDraws(3)
	if l2 := step(); l2 != l1 || relErr(p.G, g1) != 0 {
		t.Errorf("same draw, different step: loss %v vs %v", l1, l2)
	}
	if l3 := step(); l3 == l1 {
		t.Error("the next draw gave the same loss: dropout masks did not change")
	}
}

// Bad batches are refused with an error, not a panic.
func TestSeq2SeqRejects(t *testing.T) {
	cfg := tinySeq2SeqConfig(PreLN, "relu")
	p, _ := NewParams(cfg)
	m, _ := NewSeq2Seq(p, 40, 1)
	good := randPair([]int{3, 2}, []int{2, 4}, cfg.Vocab, 1)
	for name, mut := range map[string]func(b *Pair){
		"zero length":    func(b *Pair) { b.SrcLens[0] = 0 },
		"long length":    func(b *Pair) { b.SrcLens[1] = 9 },
		"bad token":      func(b *Pair) { b.Src[0] = int32(cfg.Vocab) },
		"negative token": func(b *Pair) { b.TgtIn[1] = -2 },
		"bad target":     func(b *Pair) { b.TgtOut[1] = int32(cfg.Vocab) },
		"over capacity":  func(b *Pair) { b.Bsz, b.SrcT = 20, 3; b.Src = make([]int32, 60) },
		"short arrays":   func(b *Pair) { b.TgtIn = b.TgtIn[:3] },
	} {
		b := repad(good, good.SrcT, good.TgtT)
		mut(b)
		if _, _, err := m.Forward(b, false); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := New(p, 2, 1); err == nil {
		t.Error("New accepted an encoder–decoder config")
	}
}
