package admin

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clinic-ml/clinic/model"
)

func tiny(norm string) model.Config {
	return model.Config{Layers: 3, DModel: 16, Heads: 2, DFF: 24, SeqLen: 8, Vocab: 256,
		Dropout: 0.1, AttnDropout: 0.1, ActDropout: 0.1, Norm: norm, Activation: "relu", LNEps: 1e-5}
}

func TestRunSaveLoadApply(t *testing.T) {
	cfg := tiny(model.Admin)
	p, _ := model.NewParams(cfg)
	p.Init(1)
	m, _ := model.New(p, 2, 1)
	toks := make([]int32, 2*8)
	for i := range toks {
		toks[i] = int32(i * 37 % 256)
	}
	pr, err := Run(m, toks, 2, 8, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(pr.Omega) != 6 || pr.Omega[0] != 1 {
		t.Fatalf("profile %v: want 6 values starting at exactly 1", pr.Omega)
	}
	for k := 1; k < len(pr.Omega); k++ {
		// Each branch adds variance, so the ratio grows.
		if !(pr.Omega[k] > pr.Omega[k-1]) {
			t.Errorf("ω not increasing: %v", pr.Omega)
		}
	}
	for k, q := range p.Omegas() {
		for _, v := range q.W {
			if v != float32(pr.Omega[k]) {
				t.Fatalf("ω_%d holds %v, profile says %v", k, v, pr.Omega[k])
			}
		}
	}
	path := filepath.Join(t.TempDir(), "omega.json")
	if err := pr.Save(path); err != nil {
		t.Fatal(err)
	}
	back, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	for k := range pr.Omega {
		if back.Omega[k] != pr.Omega[k] {
			t.Fatalf("round trip changed ω_%d: %v → %v", k, pr.Omega[k], back.Omega[k])
		}
	}
	p2, _ := model.NewParams(cfg)
	if err := back.Apply(p2); err != nil {
		t.Fatal(err)
	}
	wrong, _ := model.NewParams(model.Config{Layers: 2, DModel: 16, Heads: 2, DFF: 24, SeqLen: 8, Vocab: 256, Norm: model.Admin, Activation: "relu", LNEps: 1e-5})
	if err := back.Apply(wrong); err == nil {
		t.Error("a 3-layer profile applied to a 2-layer model")
	}
	pre, _ := model.NewParams(tiny(model.PreLN))
	if err := back.Apply(pre); err == nil {
		t.Error("a profile applied to a Pre-LN model")
	}
}

func TestFree(t *testing.T) {
	pr := Free(tiny(model.Admin))
	want := math.Sqrt(7/math.Log(7) - 1)
	for _, v := range pr.Omega {
		if math.Abs(v-want) > 1e-12 {
			t.Fatalf("free ω %v, want %v", v, want)
		}
	}
	if pr.Validate() != nil {
		t.Fatal(pr.Validate())
	}
}

func TestLoadRejects(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"notjson":  "{",
		"format":   `{"format":"x","layers":1,"omega":[1,2]}`,
		"count":    `{"format":"clinic-admin-profile/1","layers":2,"omega":[1,2]}`,
		"negative": `{"format":"clinic-admin-profile/1","layers":1,"omega":[1,-2]}`,
	} {
		path := filepath.Join(dir, name+".json")
		os.WriteFile(path, []byte(body), 0o644)
		_, err := Load(path)
		if err == nil || !strings.Contains(err.Error(), name+".json") {
			t.Errorf("%s: error %v should name the file", name, err)
		}
	}
	if _, err := Load(filepath.Join(dir, "missing.json")); err == nil {
		t.Error("missing file loaded")
	}
}

func TestApplyValidates(t *testing.T) {
	cfg := model.Config{Layers: 2, DModel: 8, Heads: 2, DFF: 8, SeqLen: 4, Vocab: 256, Norm: model.Admin, Activation: "relu", LNEps: 1e-5}
	p, err := model.NewParams(cfg)
	if err != nil {
		t.Fatal(err)
	}
	good := Free(cfg)
	if err := good.Apply(p); err != nil {
		t.Fatal(err)
	}
	short := *good
	short.Omega = short.Omega[:3]
	nan := *good
	nan.Omega = append([]float64{math.NaN()}, good.Omega[1:]...)
	deeper := Free(model.Config{Layers: 3, DModel: 8, Heads: 2, DFF: 8, SeqLen: 4, Vocab: 256, Norm: model.Admin, Activation: "relu", LNEps: 1e-5})
	encCfg := cfg
	encCfg.EncoderLayers = 2
	enc := Free(encCfg)
	for name, pr := range map[string]*Profile{"short": &short, "nan": &nan, "deeper": deeper, "encoder": enc} {
		if err := pr.Apply(p); err == nil {
			t.Errorf("%s profile applied", name)
		}
	}
}
