package model

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseConfig: any JSON gives a valid config or an error, never a
// panic, and a config that parses survives a JSON round trip.
func FuzzParseConfig(f *testing.F) {
	f.Add(DefaultConfig().JSON())
	f.Add(`{"encoder_layers":2,"layers":2,"d_model":16,"heads":2,"d_ff":32,"seq_len":8,"vocab":40,"norm":"admin"}`)
	f.Add(`{"layers":-1}`)
	f.Add(`{"layers":1e99}`)
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseConfig(s)
		if err != nil {
			return
		}
		c2, err := ParseConfig(c.JSON())
		if err != nil || c2 != c {
			t.Fatalf("round trip of %s: %v, %+v", c.JSON(), err, c2)
		}
	})
}

// FuzzLoadCheckpoint: any file gives parameters or an error, never a
// panic or an allocation the header does not justify.
func FuzzLoadCheckpoint(f *testing.F) {
	dir := f.TempDir()
	for i, cfg := range []Config{
		{Layers: 1, DModel: 4, Heads: 2, DFF: 4, SeqLen: 4, Vocab: 5, Norm: Admin, Activation: "relu", LNEps: 1e-5},
		{EncoderLayers: 1, Layers: 1, DModel: 4, Heads: 1, DFF: 2, SeqLen: 3, Vocab: 6, Norm: PreLN, Activation: "gelu", LNEps: 1e-5},
	} {
		p, _ := NewParams(cfg)
		p.Init(uint64(i))
		path := filepath.Join(dir, "seed.safetensors")
		if err := SaveCheckpoint(path, p, map[string]string{"step": "1"}); err != nil {
			f.Fatal(err)
		}
		b, _ := os.ReadFile(path)
		f.Add(b)
	}
	f.Add([]byte("not a checkpoint"))
	f.Add([]byte{8, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' ', ' ', ' ', ' ', ' '})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, _, err := DecodeCheckpoint(b, "fuzz.safetensors")
		if err == nil && (p == nil || len(p.W) != p.Cfg.ParamCount()) {
			t.Fatalf("loaded %v parameters for a config of %d", len(p.W), p.Cfg.ParamCount())
		}
	})
}
