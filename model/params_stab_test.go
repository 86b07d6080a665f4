package model

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/clinic-ml/clinic/asm"
)

// TestInitStabilizers checks the depth-scaled initializations against
// the same seed's reference (postln) draws: every tensor equals the
// reference tensor times the factor the paper gives it (written out here
// from the papers' formulas, not from Config's methods), ReZero's α are
// 0, and rezero and tfixup have no LayerNorm tensors.
func TestInitStabilizers(t *testing.T) {
	const N, M = 3, 2 // encoder and decoder depth
	r2 := math.Sqrt2
	for _, c := range []struct {
		norm string
		enc  int
		// factors of the encoder's (decoder-only: the stack's) and the
		// decoder's v/o/FFN weights, and of the embedding; vExtra
		// multiplies the value rows on top.
		encF, decF, embF, vExtra float64
	}{
		{DeepNorm, 0, math.Pow(8*M, -0.25), math.Pow(8*M, -0.25), 1, 1},
		{DeepNorm, N, 0.87 * math.Pow(N*N*N*N*M, -1.0/16), math.Pow(12*M, -0.25), 1, 1},
		{TFixup, 0, 0.67 * math.Pow(M, -0.25), 0.67 * math.Pow(M, -0.25), math.Pow(9*M, -0.25), r2},
		{TFixup, N, 0.67 * math.Pow(N, -0.25), math.Pow(9*M, -0.25), math.Pow(9*N, -0.25), r2},
		{ReZero, 0, 1, 1, 1, 1},
		{ReZero, N, 1, 1, 1, 1},
	} {
		t.Run(fmt.Sprintf("%s_enc%d", c.norm, c.enc), func(t *testing.T) {
			cfg := Config{EncoderLayers: c.enc, Layers: M, DModel: 8, Heads: 2, DFF: 12, SeqLen: 5, Vocab: 11,
				Norm: c.norm, Activation: "relu", LNEps: 1e-5}
			p, err := NewParams(cfg)
			if err != nil {
				t.Fatal(err)
			}
			p.Init(5)
			cfg.Norm = PostLN
			ref, _ := NewParams(cfg)
			ref.Init(5)
			d := cfg.DModel
			for _, q := range p.List {
				if strings.HasSuffix(q.Name, "_alpha") {
					if c.norm != ReZero || len(q.W) != 1 || q.W[0] != 0 {
						t.Errorf("%s = %v", q.Name, q.W)
					}
					continue
				}
				rq := ref.Get(q.Name)
				if rq == nil {
					t.Fatalf("%s: not a reference tensor", q.Name)
				}
				f := c.decF
				if strings.HasPrefix(q.Name, "encoder.") || c.enc == 0 {
					f = c.encF
				}
				// want returns the factor of element i.
				var want func(i int) float64
				switch n := q.Name[strings.LastIndex(q.Name[:strings.LastIndex(q.Name, ".")], ".")+1:]; {
				case q == p.Embed:
					want = func(int) float64 { return c.embF }
				case n == "qkv_proj.weight":
					want = func(i int) float64 {
						if i >= 2*d*d {
							return f * c.vExtra
						}
						return 1
					}
				case n == "kv_proj.weight":
					want = func(i int) float64 {
						if i >= d*d {
							return f * c.vExtra
						}
						return 1
					}
				case n == "out_proj.weight" || n == "fc1.weight" || n == "fc2.weight":
					want = func(int) float64 { return f }
				default:
					want = func(int) float64 { return 1 }
				}
				for i, v := range q.W {
					w := float64(rq.W[i]) * want(i)
					if math.Abs(float64(v)-w) > 1e-6*math.Abs(w) {
						t.Fatalf("%s[%d] = %v, want %v·%v", q.Name, i, v, want(i), rq.W[i])
					}
				}
			}
			for _, q := range ref.List {
				if strings.Contains(q.Name, "layer_norm") && p.Get(q.Name) != nil && c.norm != DeepNorm {
					t.Errorf("%s has %s", c.norm, q.Name)
				}
			}
			want := ref.Cfg.ParamCount()
			switch c.norm {
			case ReZero, TFixup:
				subs := 2*(c.enc+M) + min(c.enc, 1)*M
				want -= 2 * d * subs
				if c.norm == ReZero {
					want += subs
				}
			}
			if len(p.W) != want || p.Cfg.ParamCount() != want {
				t.Errorf("%d parameters, ParamCount %d, want %d", len(p.W), p.Cfg.ParamCount(), want)
			}
		})
	}
}

// TestDeepNormConstants pins α and β to the values of DeepNet's Table 1
// (and torchscale's code for α): for an 18-layer decoder-only model and
// a 6+6 encoder–decoder.
func TestDeepNormConstants(t *testing.T) {
	lm := Config{Layers: 18}
	s2s := Config{EncoderLayers: 6, Layers: 6}
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"LM α", lm.DeepNormAlpha(false), math.Sqrt(6)},     // (2·18)^¼
		{"LM β", lm.DeepNormBeta(false), 1 / math.Sqrt(12)}, // (8·18)^-¼
		{"enc α", s2s.DeepNormAlpha(true), 0.81 * 1.750541}, // 6^(5/16) = 1.750541
		{"enc β", s2s.DeepNormBeta(true), 0.87 / 1.750541},  // 0.87·6^(-5/16)
		{"dec α", s2s.DeepNormAlpha(false), math.Sqrt(math.Sqrt(18))},
		{"dec β", s2s.DeepNormBeta(false), 1 / math.Sqrt(math.Sqrt(72))},
	} {
		if math.Abs(c.got-c.want) > 1e-4*c.want {
			t.Errorf("%s = %.6g, want %.6g", c.name, c.got, c.want)
		}
	}
}

// The stabilizers' steps are bit-identical across thread counts, with
// dropout on, for the language model and the encoder–decoder.
func TestStabilizersThreadsBitIdentical(t *testing.T) {
	for _, norm := range []string{DeepNorm, ReZero, TFixup} {
		for _, enc := range []int{0, 2} {
			cfg := TinyConfig(norm, "gelu")
			cfg.EncoderLayers, cfg.DModel, cfg.DFF, cfg.SeqLen = enc, 64, 96, 40
			cfg.Dropout, cfg.AttnDropout, cfg.ActDropout = 0.1, 0.1, 0.1
			p, _ := NewParams(cfg)
			p.Init(2)
			perturbParams(p, 3) // ReZero's α away from 0
			var step func() float64
			var setPool func(*asm.Pool)
			if enc > 0 {
				b := randPair([]int{30, 12, 25, 40}, []int{33, 20, 8, 39}, cfg.Vocab, 4)
				m, _ := NewSeq2Seq(p, 4*40, 7)
				setPool = m.SetPool
				step = func() float64 {
					m.SetDraws(5)
					l, _, _ := m.Forward(b, true)
					m.Backward()
					return l
				}
			} else {
				m, _ := New(p, 4, 7)
				setPool = m.SetPool
				toks, tgts := randTokens(4*40, cfg.Vocab, 5), randTokens(4*40, cfg.Vocab, 6)
				step = func() float64 {
					m.SetDraws(5)
					l, _ := m.Forward(toks, tgts, 4, 40, true)
					m.Backward()
					return l
				}
			}
			var l0 float64
			var g0 []float32
			for _, th := range []int{1, 2, 3} {
				pool := asm.NewPool(th)
				setPool(pool)
				p.ZeroGrad(pool)
				l := step()
				pool.Close()
				if th == 1 {
					l0, g0 = l, append([]float32(nil), p.G...)
					continue
				}
				if l != l0 {
					t.Errorf("%s enc %d: loss %v at %d threads, %v at 1", norm, enc, l, th, l0)
				}
				for i := range g0 {
					if p.G[i] != g0[i] {
						t.Fatalf("%s enc %d: gradient %d differs at %d threads", norm, enc, i, th)
					}
				}
			}
		}
	}
}

// ReZero at initialization: every α = 0 makes every sublayer the
// identity, so the logits are the tied projection of the embedding
// alone, whatever the layers' weights.
func TestReZeroStartsAsIdentity(t *testing.T) {
	cfg := TinyConfig(ReZero, "gelu")
	p, _ := NewParams(cfg)
	p.Init(4)
	m, _ := New(p, 2, 1)
	B, T, d, V := 2, cfg.SeqLen, cfg.DModel, cfg.Vocab
	toks := randTokens(B*T, V, 3)
	if _, err := m.Forward(toks, nil, B, T, false); err != nil {
		t.Fatal(err)
	}
	lg := m.Logits()
	for r, tok := range toks {
		pos := r % T
		for v := 0; v < V; v++ {
			var want float64
			for j := 0; j < d; j++ {
				ang := float64(pos) * math.Pow(10000, -float64(j-j%2)/float64(d))
				pe := math.Sin(ang)
				if j%2 == 1 {
					pe = math.Cos(ang)
				}
				x := math.Sqrt(float64(d))*float64(p.Embed.W[int(tok)*d+j]) + pe
				want += x * float64(p.Embed.W[v*d+j])
			}
			if got := float64(lg[r*V+v]); math.Abs(got-want) > 1e-5*(1+math.Abs(want)) {
				t.Fatalf("row %d logit %d: %v, want %v", r, v, got, want)
			}
		}
	}
}
