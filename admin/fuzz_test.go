package admin

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/clinic-ml/clinic/model"
)

// FuzzLoadProfile: any file is a valid profile or an error, never a
// panic; a profile that loads applies to a model of its shape.
func FuzzLoadProfile(f *testing.F) {
	for _, pr := range []*Profile{Free(tinyConfig(model.Admin, 2)), Free(seq2seqConfig())} {
		b, _ := json.Marshal(pr)
		f.Add(b)
	}
	f.Add([]byte(`{"format":"clinic-admin-profile/1","layers":1,"omega":[1,"x"]}`))
	f.Add([]byte(`{"format":"clinic-admin-profile/1","layers":1,"omega":[1,1e39]}`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(dir, "p.json")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		pr, err := Load(path)
		if err != nil || pr.Layers > 64 || pr.EncoderLayers > 64 {
			return
		}
		cfg := model.Config{Layers: pr.Layers, EncoderLayers: pr.EncoderLayers, DModel: 4, Heads: 1, DFF: 4, SeqLen: 4,
			Vocab: 8, Norm: model.Admin, Activation: "relu", LNEps: 1e-5}
		p, err := model.NewParams(cfg)
		if err != nil {
			return
		}
		if err := pr.Apply(p); err != nil {
			t.Fatalf("a valid profile for %d+%d layers does not apply to that model: %v", pr.EncoderLayers, pr.Layers, err)
		}
	})
}
