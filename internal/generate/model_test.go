package generate

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/clinic-ml/clinic/model"
)

// translate decodes the sources (each ending in EOS) with a Translator
// in one batch.
func translate(t *testing.T, p *model.Params, srcs [][]int32, o Options) [][]Hypothesis {
	t.Helper()
	srcT := 0
	for _, s := range srcs {
		srcT = max(srcT, len(s))
	}
	src := make([]int32, len(srcs)*srcT)
	lens := make([]int32, len(srcs))
	ilens := make([]int, len(srcs))
	for i, s := range srcs {
		copy(src[i*srcT:], s)
		lens[i], ilens[i] = int32(len(s)), len(s)
	}
	tr, err := model.NewTranslator(p, len(srcs), len(srcs)*o.Beam)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Encode(src, lens, len(srcs), srcT); err != nil {
		t.Fatal(err)
	}
	res, err := Search(tr, ilens, o)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// peaked is a small 2+2-layer encoder–decoder of variant norm with
// larger weights than the initialization's (perturbed with seed), which
// make peaked distributions, so that hypotheses differ and EOS comes
// early; and the generator it drew from, for more draws.
func peaked(t *testing.T, norm string, seed uint64) (*model.Params, *rand.Rand) {
	t.Helper()
	cfg := model.Config{EncoderLayers: 2, Layers: 2, DModel: 16, Heads: 4, DFF: 24, SeqLen: 24, Vocab: 23,
		Norm: norm, Activation: "relu", LNEps: 1e-5}
	p, err := model.NewParams(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p.Init(3)
	r := rand.New(rand.NewPCG(seed, seed))
	for i := range p.W {
		p.W[i] += float32(r.NormFloat64() * 0.3)
	}
	return p, r
}

// Beam search through model.Translator scores its hypotheses as a
// teacher-forced Seq2Seq forward pass does (Σ log p within 1e-4), and a
// sentence decodes the same alone as in a batch.
func TestTranslatorBeam(t *testing.T) {
	for _, norm := range []string{model.PostLN, model.PreLN, model.Admin} {
		p, r := peaked(t, norm, 5)
		cfg := p.Cfg
		// A shared offset on the decoder's output and on EOS's embedding
		// makes EOS likely enough to end some hypotheses early.
		beta := p.Layers[len(p.Layers)-1].LN2B.W
		if norm == model.PreLN {
			beta = p.FinalLN[1].W
		}
		e := p.Embed.W[eos*cfg.DModel : (eos+1)*cfg.DModel]
		for j := range e {
			beta[j] += 0.5
			e[j] += 0.2
		}
		var srcs [][]int32
		for _, n := range []int{5, 1, 9, 3, 12} {
			s := make([]int32, n+1)
			for j := 0; j < n; j++ {
				s[j] = int32(3 + r.IntN(cfg.Vocab-3))
			}
			s[n] = eos
			srcs = append(srcs, s)
		}
		o := opts(3, cfg.Vocab)
		o.MaxLenA, o.MaxLenB, o.Limit = 1, 4, cfg.SeqLen-1
		res := translate(t, p, srcs, o)
		m, err := model.NewSeq2Seq(p, cfg.SeqLen, 0)
		if err != nil {
			t.Fatal(err)
		}
		ended := 0
		for i, hyps := range res {
			if len(hyps) != o.Beam {
				t.Fatalf("%s: sentence %d has %d hypotheses", norm, i, len(hyps))
			}
			for _, h := range hyps {
				if len(h.Tokens) <= o.MaxLen(len(srcs[i])) {
					ended++
				}
				T := len(h.Tokens)
				b := &model.Pair{Bsz: 1, SrcT: len(srcs[i]), TgtT: T, Src: srcs[i], SrcLens: []int32{int32(len(srcs[i]))},
					TgtIn: append([]int32{bos}, h.Tokens[:T-1]...), TgtOut: h.Tokens}
				if _, _, err := m.Forward(b, false); err != nil {
					t.Fatal(err)
				}
				logits, V := m.Logits(), cfg.Vocab
				var sum float64
				for j, tok := range h.Tokens {
					row := logits[j*V : j*V+V]
					mx := math.Inf(-1)
					for _, v := range row {
						mx = math.Max(mx, float64(v))
					}
					var z float64
					for _, v := range row {
						z += math.Exp(float64(v) - mx)
					}
					sum += float64(row[tok]) - mx - math.Log(z)
				}
				if math.Abs(sum-h.LogProb) > 1e-4 {
					t.Errorf("%s: sentence %d %v: search Σ log p %.6f, forward %.6f", norm, i, h.Tokens, h.LogProb, sum)
				}
			}
		}
		t.Logf("%s: %d of %d hypotheses ended before the maximum length", norm, ended, len(srcs)*o.Beam)
		if ended == 0 {
			t.Errorf("%s: no hypothesis ended before the maximum length", norm)
		}
		for i, s := range srcs {
			alone := translate(t, p, [][]int32{s}, o)[0]
			for k := range alone {
				if !slices.Equal(alone[k].Tokens, res[i][k].Tokens) || math.Abs(alone[k].LogProb-res[i][k].LogProb) > 1e-5 {
					t.Errorf("%s: sentence %d hypothesis %d: alone %v %.6f, in the batch %v %.6f", norm, i, k,
						alone[k].Tokens, alone[k].LogProb, res[i][k].Tokens, res[i][k].LogProb)
				}
			}
		}
	}
}
