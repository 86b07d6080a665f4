package model

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/clinic-ml/clinic/asm"
	"github.com/clinic-ml/clinic/model/modeltest"
)

// bothPaths are the paths the fixture tests run a config through.
var bothPaths = []string{"specialized", "generic"}

// pass is what one training step and one evaluation forward of a model
// produce: the losses, the logits of both and every gradient.
type pass struct {
	loss, evalLoss float64
	logits, eval   []float32
	grads          []float32
}

// runLM trains a 2-layer language model of cfg's layer shape for one
// step (dropout on) and evaluates it.
func runLM(t *testing.T, cfg Config, specialized bool, pool *asm.Pool) pass {
	t.Helper()
	cfg.Generic = !specialized
	const B, T = 3, 40 // T: more than one causal attention block
	cfg.EncoderLayers, cfg.Layers, cfg.SeqLen, cfg.Vocab = 0, 2, T, 50
	cfg.Dropout, cfg.AttnDropout, cfg.ActDropout = 0.1, 0.2, 0.15
	p, err := NewParams(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p.Init(7)
	perturbParams(p, 8) // ω, biases and LN parameters away from their init
	m, err := New(p, B, 11)
	if err != nil {
		t.Fatal(err)
	}
	m.SetPool(pool)
	m.SetSeqOffset(5) // a data-parallel share: dropout counters continue a larger batch's
	if got := m.c.spec != nil; got != specialized {
		t.Fatalf("%s: model runs the specialized path: %v, want %v", Specialized(cfg), got, specialized)
	}
	tokens, targets := randTokens(B*T, cfg.Vocab, 1), randTokens(B*T, cfg.Vocab, 2)
	var r pass
	if r.loss, err = m.Forward(tokens, targets, B, T, true); err != nil {
		t.Fatal(err)
	}
	r.logits = append([]float32(nil), m.Logits()...)
	if err := m.Backward(); err != nil {
		t.Fatal(err)
	}
	r.grads = append([]float32(nil), p.G...)
	if r.evalLoss, err = m.Forward(tokens[:2*(T-3)], targets[:2*(T-3)], 2, T-3, false); err != nil {
		t.Fatal(err)
	}
	r.eval = append([]float32(nil), m.Logits()...)
	return r
}

// runSeq2Seq does the same for a 2+2-layer encoder–decoder on a padded
// batch.
func runSeq2Seq(t *testing.T, cfg Config, specialized bool, pool *asm.Pool) pass {
	t.Helper()
	cfg.Generic = !specialized
	cfg.EncoderLayers, cfg.Layers, cfg.SeqLen, cfg.Vocab = 2, 2, 40, 50
	cfg.Dropout, cfg.AttnDropout, cfg.ActDropout = 0.1, 0.2, 0.15
	p, err := NewParams(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p.Init(7)
	perturbParams(p, 8)
	b := randPair([]int{37, 12, 25}, []int{9, 33, 21}, cfg.Vocab, 4)
	m, err := NewSeq2Seq(p, b.Rows(), 11)
	if err != nil {
		t.Fatal(err)
	}
	m.SetPool(pool)
	m.SetSeqOffset(4)
	if got := m.c.spec != nil; got != specialized {
		t.Fatalf("%s: model runs the specialized path: %v, want %v", Specialized(cfg), got, specialized)
	}
	var r pass
	if r.loss, _, err = m.Forward(b, true); err != nil {
		t.Fatal(err)
	}
	r.logits = append([]float32(nil), m.Logits()...)
	if err := m.Backward(); err != nil {
		t.Fatal(err)
	}
	r.grads = append([]float32(nil), p.G...)
	if r.evalLoss, _, err = m.Forward(b, false); err != nil {
		t.Fatal(err)
	}
	r.eval = append([]float32(nil), m.Logits()...)
	return r
}

func samePass(t *testing.T, label string, got, want pass) {
	t.Helper()
	if got.loss != want.loss || got.evalLoss != want.evalLoss {
		t.Errorf("%s: losses %v, %v, want %v, %v", label, got.loss, got.evalLoss, want.loss, want.evalLoss)
	}
	for _, c := range []struct {
		name      string
		got, want []float32
	}{{"logits", got.logits, want.logits}, {"eval logits", got.eval, want.eval}, {"gradients", got.grads, want.grads}} {
		if len(c.got) != len(c.want) {
			t.Fatalf("%s: %s: %d values, want %d", label, c.name, len(c.got), len(c.want))
		}
		for i := range c.got {
			if math.Float32bits(c.got[i]) != math.Float32bits(c.want[i]) {
				t.Errorf("%s: %s[%d] = %v, want %v (generic), bit for bit", label, c.name, i, c.got[i], c.want[i])
				break
			}
		}
	}
}

// Every generated layer gives the generic path's logits, losses and
// gradients bit for bit, as a language model and as an encoder–decoder
// (padding, cross-attention), with dropout on and off, as a share of a
// larger batch (SetSeqOffset), at every kernel
// level and at 1 and 3 threads; and the specialized path gives the
// same at every thread count.
func TestSpecializedMatchesGeneric(t *testing.T) {
	pool := asm.NewPool(3)
	defer pool.Close()
	seen := map[layerKey]bool{}
	for _, sc := range SpecializedConfigs() {
		cfg := sc.Config(50)
		if seen[keyOf(cfg)] {
			continue
		}
		seen[keyOf(cfg)] = true
		modeltest.EachLevel(t, func(level string) {
			for _, kind := range []string{"lm", "seq2seq"} {
				run := runLM
				if kind == "seq2seq" {
					run = runSeq2Seq
				}
				var first pass
				for _, threads := range []int{1, 3} {
					pl := pool
					if threads == 1 {
						pl = nil
					}
					label := fmt.Sprintf("%s/%s/%s/threads=%d", Specialized(cfg), level, kind, threads)
					spec, gen := run(t, cfg, true, pl), run(t, cfg, false, pl)
					samePass(t, label, spec, gen)
					if threads == 1 {
						first = spec
					} else {
						samePass(t, label+" against threads=1", spec, first)
					}
				}
			}
		})
	}
}

// A config off the list, or with Generic set, runs the generic
// path; the list's entries run their layer; Admin's profiling (which
// hooks into the sublayers) runs the generic path on a specialized
// model and leaves it specialized.
func TestSpecializedRegistry(t *testing.T) {
	cfg := DefaultConfig()
	if name := Specialized(cfg); !strings.HasPrefix(name, "admin d256 h4 ff1024 relu") {
		t.Errorf("the default config runs %q, want its generated layer", name)
	}
	for _, c := range []Config{TinyConfig(PreLN, "relu"), TinyConfig(ReZero, "gelu"), TinyConfig(Admin, "relu")} {
		if name := Specialized(c); name != "" {
			t.Errorf("%s d%d: runs %q, want the generic path", c.Norm, c.DModel, name)
		}
	}
	generic := cfg
	generic.Generic = true
	if name := Specialized(generic); name != "" {
		t.Errorf("Generic: runs %q", name)
	}
	if name := Specialized(cfg); name == "" {
		t.Error("Generic on a copy switched the config off")
	}
	for _, sc := range SpecializedConfigs() {
		if Specialized(sc.Config(50)) == "" {
			t.Errorf("%s: on the list but not specialized", sc.Name)
		}
	}
}

// gen/layergen's list of variants names each with its form's fused
// regions (model/variant.go), so the generated code runs the regions
// of the variant's form.
func TestGeneratedForms(t *testing.T) {
	for name, fused := range layergenNorms {
		v := variantOf(name)
		if !slices.Contains(Norms, name) || v.form.fused != fused || fused == fusedNone {
			t.Errorf("gen/layergen lists %s with fused regions %d; its definition has %d", name, fused, v.form.fused)
		}
	}
	for k, code := range layerCodes {
		if code.fused != variantOf(k.norm).form.fused {
			t.Errorf("%s: generated for fused regions %d, its variant's are %d", code.name, code.fused, variantOf(k.norm).form.fused)
		}
	}
}

// The layer-code path is a value each model holds (Config.Generic), not
// a process-wide switch: models of one shape planned side by side run
// the path each was planned with, whatever is planned after them.
func TestSpecializedPerModel(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Layers, cfg.SeqLen = 1, 8
	generic := cfg
	generic.Generic = true
	mg, err := New(mustParams(t, generic), 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := New(mustParams(t, cfg), 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := NewTranslator(mustParams(t, Config{EncoderLayers: 1, Layers: 1, DModel: 256, Heads: 4, DFF: 1024,
		SeqLen: 8, Vocab: 20, Norm: Admin, Activation: "relu", LNEps: 1e-5, Generic: true}), 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if ms.c.spec == nil || mg.c.spec != nil || tr.enc.c.spec != nil {
		t.Errorf("specialized model runs generated code: %v; generic model: %v; generic translator: %v",
			ms.c.spec != nil, mg.c.spec != nil, tr.enc.c.spec != nil)
	}
	if strings.Contains(cfg.JSON(), "eneric") || generic.JSON() != cfg.JSON() {
		t.Errorf("the path is stored with the config: %s", generic.JSON())
	}
}

func mustParams(t *testing.T, cfg Config) *Params {
	t.Helper()
	p, err := NewParams(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
