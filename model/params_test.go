package model

import (
	"fmt"
	"math"
	"testing"
)

// TestInitMatchesReference checks Init against the reference rule
// (Transformer-Clinic / fairseq MultiheadAttention.reset_parameters):
// the stacked [q;k;v] in-projection is one Xavier-uniform [3d, d] matrix,
// so each of q, k and v is uniform on ±sqrt(6/(4d)); Wo, W1 and W2 are
// Xavier-uniform on their own shapes; the embedding is N(0, 1/d).
//
// For w uniform on [−b, b], E[w²] = b²/3 = 2/(fan_in+fan_out) and
// Var[w²] = b⁴/5 − b⁴/9 = 4b⁴/45, so the mean of w² over n draws has a
// relative standard deviation of sqrt(4/45)·3/sqrt(n) = sqrt(0.8/n). The
// test allows 5 of those (at d = 16 a q block has 256 entries: ±28%), far
// below the factor 2 in variance that drawing q, k and v as separate d×d
// blocks would give. It also requires max|w| ≤ b and, since
// P(max|w| < 0.9b) = 0.9ⁿ, max|w| ≥ 0.9b, which rules out a too-small
// bound independently of the variance.
func TestInitMatchesReference(t *testing.T) {
	for _, c := range []struct{ layers, d, heads, dff int }{
		{2, 16, 2, 32},
		{2, 64, 4, 256},
		{1, 128, 4, 512},
		{1, 96, 3, 200},
	} {
		t.Run(fmt.Sprintf("d%d_ff%d", c.d, c.dff), func(t *testing.T) {
			for _, norm := range []string{PostLN, PreLN, Admin} {
				cfg := DefaultConfig()
				cfg.Layers, cfg.DModel, cfg.Heads, cfg.DFF, cfg.Norm = c.layers, c.d, c.heads, c.dff, norm
				p, err := NewParams(cfg)
				if err != nil {
					t.Fatal(err)
				}
				p.Init(7)
				d, f := c.d, c.dff
				check := func(name string, w []float32, fanIn, fanOut int) {
					t.Helper()
					b := math.Sqrt(6 / float64(fanIn+fanOut))
					want := 2 / float64(fanIn+fanOut) // = b²/3
					n := float64(len(w))
					var s, m float64
					for _, v := range w {
						s += float64(v) * float64(v)
						m = max(m, math.Abs(float64(v)))
					}
					got := s / n
					tol := 5 * math.Sqrt(0.8/n)
					if math.Abs(got/want-1) > tol {
						t.Errorf("%s %s: E[w²] = %.4g, want %.4g (±%.0f%%)", norm, name, got, want, 100*tol)
					}
					if m > b*(1+1e-6) || m < 0.9*b {
						t.Errorf("%s %s: max|w| = %.4g, want in [0.9, 1]·%.4g", norm, name, m, b)
					}
				}
				for i, l := range p.Layers {
					for j, qkv := range []string{"q", "k", "v"} {
						check(fmt.Sprintf("layer %d W%s", i, qkv), l.QKVW.W[j*d*d:(j+1)*d*d], d, 3*d)
					}
					check(fmt.Sprintf("layer %d Wqkv", i), l.QKVW.W, d, 3*d)
					check(fmt.Sprintf("layer %d Wo", i), l.OutW.W, d, d)
					check(fmt.Sprintf("layer %d W1", i), l.FC1W.W, d, f)
					check(fmt.Sprintf("layer %d W2", i), l.FC2W.W, f, d)
					for _, q := range []*Param{l.QKVB, l.OutB, l.FC1B, l.FC2B, l.LN1B, l.LN2B} {
						for _, v := range q.W {
							if v != 0 {
								t.Fatalf("%s %s: %v, want 0", norm, q.Name, v)
							}
						}
					}
					for _, q := range []*Param{l.LN1G, l.LN2G, l.Omega1, l.Omega2} {
						if q == nil {
							continue
						}
						for _, v := range q.W {
							if v != 1 {
								t.Fatalf("%s %s: %v, want 1", norm, q.Name, v)
							}
						}
					}
				}
				// Embedding: N(0, 1/d); the sample mean of w² has relative
				// standard deviation sqrt(2/n).
				var s float64
				for _, v := range p.Embed.W {
					s += float64(v) * float64(v)
				}
				n := float64(len(p.Embed.W))
				if got, want := s/n, 1/float64(d); math.Abs(got/want-1) > 5*math.Sqrt(2/n) {
					t.Errorf("%s embedding: E[w²] = %.4g, want %.4g", norm, got, want)
				}
			}
		})
	}
}

// TestInitDeterministic pins the draw order: the same seed gives the same
// weights, and a different seed different ones.
func TestInitDeterministic(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Layers, cfg.DModel, cfg.Heads, cfg.DFF, cfg.Norm = 2, 32, 2, 64, Admin
	a, _ := NewParams(cfg)
	b, _ := NewParams(cfg)
	a.Init(3)
	b.Init(3)
	for i := range a.W {
		if a.W[i] != b.W[i] {
			t.Fatalf("element %d differs for the same seed: %v vs %v", i, a.W[i], b.W[i])
		}
	}
	b.Init(4)
	same := 0
	for i := range a.W {
		if a.W[i] == b.W[i] && a.W[i] != 0 && a.W[i] != 1 {
			same++
		}
	}
	if same > 0 {
		t.Fatalf("%d random elements equal across seeds", same)
	}
}
