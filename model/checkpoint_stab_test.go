package model

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/clinic-ml/clinic/internal/safetensors"
)

// Every variant's checkpoint loads back bit for bit under its own
// tensor names, for the language model and the encoder–decoder.
func TestCheckpointRoundTripEveryNorm(t *testing.T) {
	dir := t.TempDir()
	for _, enc := range []int{0, 2} {
		for _, norm := range Norms {
			cfg := TinyConfig(norm, "relu")
			cfg.EncoderLayers = enc
			p, err := NewParams(cfg)
			if err != nil {
				t.Fatal(err)
			}
			p.Init(11)
			perturbParams(p, 12)
			path := filepath.Join(dir, norm+".safetensors")
			if err := SaveCheckpoint(path, p, nil); err != nil {
				t.Fatal(err)
			}
			q, _, err := LoadCheckpoint(path)
			if err != nil {
				t.Fatalf("%s enc %d: %v", norm, enc, err)
			}
			if q.Cfg != cfg || len(q.List) != len(p.List) {
				t.Fatalf("%s enc %d: loaded config %+v with %d tensors", norm, enc, q.Cfg, len(q.List))
			}
			for i, a := range p.List {
				b := q.List[i]
				if a.Name != b.Name {
					t.Fatalf("%s: tensor %d is %s, saved %s", norm, i, b.Name, a.Name)
				}
				for j := range a.W {
					if a.W[j] != b.W[j] {
						t.Fatalf("%s %s[%d]: %v, saved %v", norm, a.Name, j, b.W[j], a.W[j])
					}
				}
			}
		}
	}
}

// A checkpoint is refused, naming the problem, when its norm is unknown
// or its tensors are another variant's: LayerNorms in a tfixup model,
// ReZero's α missing.
func TestCheckpointRefusesOtherVariants(t *testing.T) {
	dir := t.TempDir()
	save := func(saved, claimed string) error {
		p, err := NewParams(TinyConfig(saved, "relu"))
		if err != nil {
			t.Fatal(err)
		}
		p.Init(1)
		cfg := p.Cfg
		cfg.Norm = claimed
		f := &safetensors.File{Metadata: map[string]string{"format": CheckpointFormat, "config": cfg.JSON()}}
		for _, q := range p.List {
			f.Tensors = append(f.Tensors, safetensors.NewF32(q.Name, q.Shape, q.W))
		}
		path := filepath.Join(dir, saved+"-as-"+claimed+".safetensors")
		if err := safetensors.WriteFile(path, f); err != nil {
			t.Fatal(err)
		}
		_, _, err = LoadCheckpoint(path)
		return err
	}
	for _, c := range []struct{ saved, claimed, want string }{
		{PostLN, "scalenorm", "norm must be"},
		{PostLN, TFixup, `unexpected tensor "decoder.layers.0.self_attn_layer_norm.weight" for a tfixup model`},
		{TFixup, ReZero, "its config has 1092 parameters, the file holds 1088 values"}, // four α short
		{ReZero, TFixup, `unexpected tensor "decoder.layers.0.self_attn_alpha"`},
		{Admin, DeepNorm, `unexpected tensor "decoder.layers.0.self_attn_omega"`},
	} {
		err := save(c.saved, c.claimed)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s tensors as %s: %v, want an error with %q", c.saved, c.claimed, err, c.want)
		}
	}
}
