package model

import (
	"math"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadCheckpointRefusesNonFinite(t *testing.T) {
	p, dir, ok := savedCheckpoint(t)
	if _, _, err := LoadCheckpoint(ok); err != nil {
		t.Fatal(err)
	}
	for _, v := range []float32{float32(math.NaN()), float32(math.Inf(-1))} {
		q := p.List[len(p.List)/2]
		old := q.W[3]
		q.W[3] = v
		bad := filepath.Join(dir, "bad.safetensors")
		if err := SaveCheckpoint(bad, p, nil); err != nil {
			t.Fatal(err) // saving is unaffected
		}
		q.W[3] = old
		_, _, err := LoadCheckpoint(bad)
		if err == nil || !strings.Contains(err.Error(), q.Name) || !strings.Contains(err.Error(), "not finite") {
			t.Errorf("%v: got %v, want an error naming %s", v, err, q.Name)
		}
	}
}

// savedCheckpoint saves a small Pre-LN model's parameters p as a
// checkpoint in a new folder, dir/ok.safetensors.
func savedCheckpoint(t *testing.T) (p *Params, dir, path string) {
	t.Helper()
	cfg := Config{Layers: 1, DModel: 8, Heads: 2, DFF: 8, SeqLen: 4, Vocab: 256, Norm: PreLN, Activation: "relu", LNEps: 1e-5}
	p, err := NewParams(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p.Init(1)
	dir = t.TempDir()
	path = filepath.Join(dir, "ok.safetensors")
	if err := SaveCheckpoint(path, p, nil); err != nil {
		t.Fatal(err)
	}
	return p, dir, path
}
