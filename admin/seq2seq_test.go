package admin

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/clinic-ml/clinic/model"
)

func seq2seqConfig() model.Config {
	return model.Config{EncoderLayers: 3, Layers: 2, DModel: 16, Heads: 2, DFF: 32, SeqLen: 24, Vocab: 20,
		Dropout: 0.1, AttnDropout: 0.1, ActDropout: 0.1, Norm: model.Admin, Activation: "relu", LNEps: 1e-5}
}

// pair builds a batch with the given lengths padded to srcT, tgtT.
func pair(srcLens, tgtLens []int, srcT, tgtT int) *model.Pair {
	b := &model.Pair{Bsz: len(srcLens), SrcT: srcT, TgtT: tgtT}
	for i := range srcLens {
		b.SrcLens = append(b.SrcLens, int32(srcLens[i]))
		b.TgtLens = append(b.TgtLens, int32(tgtLens[i]))
		for j := 0; j < srcT; j++ {
			v := int32(3 + (i*7+j*5)%17)
			if j >= srcLens[i] {
				v = 0
			}
			b.Src = append(b.Src, v)
		}
		for j := 0; j < tgtT; j++ {
			v := int32(3 + (i*3+j*11)%17)
			if j >= tgtLens[i] {
				v = 0
			}
			b.TgtIn = append(b.TgtIn, v)
		}
	}
	return b
}

// The encoder–decoder profile has one ω per sublayer of each stack,
// each stack starting at exactly 1 and growing; it is left in the
// parameters, it does not depend on padding, and it survives a save and
// load.
func TestRunSeq2Seq(t *testing.T) {
	cfg := seq2seqConfig()
	profile := func(b *model.Pair) (*Profile, *model.Params) {
		p, _ := model.NewParams(cfg)
		p.Init(5)
		m, err := model.NewSeq2Seq(p, 4*24, 1)
		if err != nil {
			t.Fatal(err)
		}
		pr, err := RunSeq2Seq(m, b, 5)
		if err != nil {
			t.Fatal(err)
		}
		if m.Draws() != 0 || m.EncoderHooks.SublayerHook != nil || m.DecoderHooks.SublayerHook != nil {
			t.Fatal("profiling left hooks or the dropout stream changed")
		}
		return pr, p
	}
	cfg.Dropout, cfg.AttnDropout, cfg.ActDropout = 0, 0, 0 // dropout masks depend on the padded layout
	tight, p := profile(pair([]int{5, 9, 3}, []int{7, 4, 8}, 9, 8))
	loose, _ := profile(pair([]int{5, 9, 3}, []int{7, 4, 8}, 14, 12))
	if len(tight.EncoderOmega) != 6 || len(tight.Omega) != 6 || tight.EncoderLayers != 3 || tight.Layers != 2 {
		t.Fatalf("profile shape: %+v", tight)
	}
	if tight.EncoderOmega[0] != 1 || tight.Omega[0] != 1 {
		t.Errorf("stacks must start at ω = 1: encoder %v, decoder %v", tight.EncoderOmega[0], tight.Omega[0])
	}
	for _, om := range [][]float64{tight.EncoderOmega, tight.Omega} {
		for k := 1; k < len(om); k++ {
			if !(om[k] > om[k-1]) {
				t.Errorf("ω does not grow: %v", om)
			}
		}
	}
	for k := range tight.Omega {
		if math.Abs(tight.Omega[k]-loose.Omega[k]) > 1e-6*tight.Omega[k] {
			t.Errorf("padding changed decoder ω_%d: %v vs %v", k, tight.Omega[k], loose.Omega[k])
		}
	}
	for k := range tight.EncoderOmega {
		if math.Abs(tight.EncoderOmega[k]-loose.EncoderOmega[k]) > 1e-6*tight.EncoderOmega[k] {
			t.Errorf("padding changed encoder ω_%d: %v vs %v", k, tight.EncoderOmega[k], loose.EncoderOmega[k])
		}
	}
	for k, q := range p.EncoderOmegas() {
		if q.W[3] != float32(tight.EncoderOmega[k]) {
			t.Errorf("encoder ω_%d in the parameters is %v, profile %v", k, q.W[3], tight.EncoderOmega[k])
		}
	}
	path := filepath.Join(t.TempDir(), "p.json")
	if err := tight.Save(path); err != nil {
		t.Fatal(err)
	}
	back, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	p2, _ := model.NewParams(cfg)
	if err := back.Apply(p2); err != nil {
		t.Fatal(err)
	}
	for _, pair := range [][2][]*model.Param{{p.Omegas(), p2.Omegas()}, {p.EncoderOmegas(), p2.EncoderOmegas()}} {
		for k := range pair[0] {
			if pair[0][k].W[0] != pair[1][k].W[0] {
				t.Fatalf("reloaded ω_%d = %v, profiled %v", k, pair[1][k].W[0], pair[0][k].W[0])
			}
		}
	}
	// A decoder-only model cannot take it, nor a different depth.
	lm := cfg
	lm.EncoderLayers = 0
	pl, _ := model.NewParams(lm)
	if err := tight.Apply(pl); err == nil {
		t.Error("an encoder–decoder profile applied to a language model")
	}
}

// Validate rejects profiles whose ω counts do not fit their layers.
func TestValidateSeq2Seq(t *testing.T) {
	ok := Free(seq2seqConfig())
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	if ok.EncoderOmega[0] != FreeOmega(6) || ok.Omega[0] != FreeOmega(6) {
		t.Errorf("free ω: %v %v", ok.EncoderOmega[0], ok.Omega[0])
	}
	for name, mut := range map[string]func(p *Profile){
		"short encoder":   func(p *Profile) { p.EncoderOmega = p.EncoderOmega[:5] },
		"two per decoder": func(p *Profile) { p.Omega = p.Omega[:4] },
		"encoder ω no layers": func(p *Profile) {
			p.EncoderLayers = 0
		},
		"float32 overflow": func(p *Profile) { p.Omega[1] = 1e39 },
		"zero":             func(p *Profile) { p.EncoderOmega[2] = 0 },
	} {
		p := Free(seq2seqConfig())
		mut(p)
		if err := p.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
