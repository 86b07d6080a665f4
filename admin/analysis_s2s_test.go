package admin

import (
	"math"
	"testing"

	"github.com/clinic-ml/clinic/model"
)

// s2sAnalysisConfig is a small translator of norm, wide enough for the
// analyses' effects to show.
func s2sAnalysisConfig(norm string, enc, dec int) model.Config {
	c := seq2seqConfig()
	c.Norm, c.EncoderLayers, c.Layers, c.DModel, c.DFF = norm, enc, dec, 32, 64
	return c
}

// paddedPair is pair's batch with targets, its padding filled with
// fill: the analyses must not see it.
func paddedPair(fill int32) *model.Pair {
	b := pair([]int{9, 5, 12}, []int{7, 10, 4}, 12, 10)
	for i := range b.Src {
		if int32(i%b.SrcT) >= b.SrcLens[i/b.SrcT] {
			b.Src[i] = fill
		}
	}
	for i := range b.TgtIn {
		t := int32(i % b.TgtT)
		b.TgtOut = append(b.TgtOut, -1)
		if t >= b.TgtLens[i/b.TgtT] {
			b.TgtIn[i] = fill
		} else {
			b.TgtOut[i] = int32(3 + (i*5)%17)
		}
	}
	return b
}

// On a translator every analysis reports the encoder and the decoder
// separately, with names that say which sublayer is which, and none of
// them sees the padding.
func TestTranslatorAnalyses(t *testing.T) {
	for _, norm := range []string{model.PostLN, model.PreLN, model.Admin, model.DeepNorm, model.ReZero} {
		cfg := s2sAnalysisConfig(norm, 3, 2)
		run := func(fill int32) ([]StackChange, []StackChange, *GradNorms, []*Dependency) {
			b := paddedPair(fill)
			m, err := NewTranslator(cfg, 7, b)
			if err != nil {
				t.Fatal(err)
			}
			n := TranslatorNet(m, b)
			before := append([]float32(nil), m.P.W...)
			rc, err := OutputChange(n, ChangeOptions{Mode: PerturbRandom, Eps: 1e-4, Seed: 3})
			if err != nil {
				t.Fatal(err)
			}
			gc, err := OutputChange(n, ChangeOptions{Mode: PerturbGrad, Eps: 1e-4, Seed: 3})
			if err != nil {
				t.Fatal(err)
			}
			for i := range before {
				if m.P.W[i] != before[i] {
					t.Fatalf("%s: parameter %d not restored", norm, i)
				}
			}
			g, err := SublayerGradNorms(n)
			if err != nil {
				t.Fatal(err)
			}
			d, err := ResidualDependency(n)
			if err != nil {
				t.Fatal(err)
			}
			if m.EncoderHooks.SublayerHook != nil || m.EncoderHooks.SublayerGrad != nil || m.DecoderHooks.SublayerHook != nil || m.DecoderHooks.SublayerGrad != nil {
				t.Fatal("hooks left set")
			}
			return rc, gc, g, d
		}
		rc, gc, g, d := run(0)
		rc2, gc2, g2, d2 := run(13)
		for _, c := range [][]StackChange{rc, gc} {
			want := [][2]string{{"encoder", "encoder"}, {"decoder", "decoder"}, {"decoder", MovedAll}}
			if len(c) != 3 {
				t.Fatalf("%s: %d changes", norm, len(c))
			}
			for i, w := range want {
				if c[i].Stack != w[0] || c[i].Moved != w[1] || !(c[i].Value >= 0) || math.IsInf(c[i].Value, 0) {
					t.Errorf("%s: change %d is %+v, want %v", norm, i, c[i], w)
				}
			}
			if norm != model.ReZero && !(c[0].Value > 0 && c[1].Value > 0) {
				t.Errorf("%s: no change %+v", norm, c)
			}
		}
		if norm != model.ReZero && !(rc[2].Value > rc[1].Value) {
			t.Errorf("%s: moving both stacks changed the decoder's output less (%g) than moving its own (%g)", norm, rc[2].Value, rc[1].Value)
		}
		if len(g.Stacks) != 2 || g.Stacks[0].Stack != "encoder" || len(g.Stacks[0].Norm) != 6 || g.Stacks[1].Stack != "decoder" || len(g.Stacks[1].Norm) != 6 {
			t.Fatalf("%s: grads %+v", norm, g.Stacks)
		}
		for _, s := range g.Stacks {
			for k, v := range s.Norm {
				// ReZero's α = 0 cut the decoder off the encoder: its
				// gradients are exactly 0.
				if !(v > 0 || norm == model.ReZero && s.Stack == "encoder" && v == 0) || math.IsInf(v, 0) {
					t.Errorf("%s: %s grad norm %d is %g", norm, s.Stack, k, v)
				}
			}
		}
		if len(d) != 2 || len(d[0].Share) != 6 || len(d[1].Share) != 6 {
			t.Fatalf("%s: dependency of %d stacks", norm, len(d))
		}
		if d[1].RowLabels[0] != "L0.cross" || d[1].ColLabels[3] != "L0.ffn" || d[0].RowLabels[0] != "L0.ffn" {
			t.Errorf("%s: labels %v %v %v", norm, d[1].RowLabels, d[1].ColLabels, d[0].RowLabels)
		}
		// Padding is invisible: another fill gives the same bits.
		same := func(a, b []float64) bool {
			for i := range a {
				if a[i] != b[i] {
					return false
				}
			}
			return len(a) == len(b)
		}
		for i := range rc {
			if rc[i] != rc2[i] || gc[i] != gc2[i] {
				t.Errorf("%s: the padding changed the output change: %+v %+v", norm, rc[i], rc2[i])
			}
		}
		for s := range g.Stacks {
			if !same(g.Stacks[s].Norm, g2.Stacks[s].Norm) {
				t.Errorf("%s: the padding changed the %s's gradient norms", norm, g.Stacks[s].Stack)
			}
			for r := range d[s].Share {
				if !same(d[s].Share[r], d2[s].Share[r]) {
					t.Errorf("%s: the padding changed the %s's dependency row %d", norm, g.Stacks[s].Stack, r)
				}
			}
		}
	}
}

// Each stack's change is its own: moving the decoder's matrices leaves
// the encoder's output exactly where it was, and moving the encoder's
// moves the decoder's output through the cross-attention.
func TestTranslatorChangeIsPerStack(t *testing.T) {
	b := paddedPair(0)
	m, err := NewTranslator(s2sAnalysisConfig(model.PostLN, 2, 2), 4, b)
	if err != nil {
		t.Fatal(err)
	}
	n := TranslatorNet(m, b)
	o := ChangeOptions{Mode: PerturbRandom, Eps: 1e-3, Seed: 1}
	if _, err := n.forward(false); err != nil {
		t.Fatal(err)
	}
	enc := append([]float32(nil), n.Stacks[0].Output()...)
	dec := append([]float32(nil), n.Stacks[1].Output()...)
	if v, _ := n.changeWith(o, Perturbed(n.P, n.Stacks[1:], false), 0, enc); v != 0 {
		t.Errorf("moving the decoder changed the encoder's output by %g", v)
	}
	if v, _ := n.changeWith(o, Perturbed(n.P, n.Stacks[:1], false), 1, dec); !(v > 0) {
		t.Errorf("moving the encoder changed the decoder's output by %g", v)
	}
	if got := len(Perturbed(n.P, n.Stacks[1:], false)); got != 2*7 {
		t.Errorf("decoder: %d matrices moved, want 14 (Wqkv, Wo, the cross-attention's Wq, Wkv and Wo, W1, W2 per layer)", got)
	}
}

// The components of each stack's residual dependency add up to its
// stream over the real tokens, the decoder's cross-attention branches
// included.
func TestTranslatorDependencyComponents(t *testing.T) {
	for _, norm := range []string{model.PostLN, model.Admin, model.DeepNorm, model.ReZero, model.TFixup, model.PreLN} {
		b := paddedPair(0)
		m, err := NewTranslator(s2sAnalysisConfig(norm, 2, 3), 2, b)
		if err != nil {
			t.Fatal(err)
		}
		unsettle(m.P.Encoder)
		unsettle(m.P.Layers)
		n := TranslatorNet(m, b)
		sums := map[[2]int][]float64{}
		deps, err := residualDependency(n, func(s, k int, comps [][]float64, bias []float64) {
			if len(comps) != k+2 {
				t.Errorf("%s stack %d: %d components after sublayer %d", norm, s, len(comps), k)
			}
			sum := append([]float64(nil), bias...)
			for _, c := range comps {
				for i, v := range c {
					sum[i] += v
				}
			}
			sums[[2]int{s, k}] = sum
		})
		if err != nil {
			t.Fatal(err)
		}
		for s, v := range n.Stacks {
			d := 32
			for k := 0; k < v.Sublayers(); k++ {
				x := v.Stream(k + 1)
				var worst float64
				for _, r := range v.ValidRows() {
					for i := r * d; i < r*d+d; i++ {
						worst = math.Max(worst, math.Abs(float64(x[i])-sums[[2]int{s, k}][i]))
					}
				}
				if worst > 1e-4 {
					t.Errorf("%s %s: components of x_%d miss the stream by %g", norm, v.Name, k+1, worst)
				}
			}
			for i, row := range deps[s].Share {
				var sum float64
				for _, x := range row {
					sum += x
				}
				if math.Abs(sum-1) > 1e-12 {
					t.Errorf("%s %s: row %d sums to %.15f", norm, v.Name, i+1, sum)
				}
			}
		}
	}
}
