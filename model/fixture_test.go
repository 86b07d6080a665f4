package model

import (
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/clinic-ml/clinic/asm"
	"github.com/clinic-ml/clinic/internal/safetensors"
)

// relErr is ‖a−b‖/‖b‖.
func relErr(a, b []float32) float64 {
	var d, n float64
	for i := range b {
		e := float64(a[i]) - float64(b[i])
		d += e * e
		n += float64(b[i]) * float64(b[i])
	}
	if n == 0 {
		return math.Sqrt(d)
	}
	return math.Sqrt(d / n)
}

// TestPyTorchFixtures runs the model on the golden fixtures that the
// independent PyTorch implementation (testdata/reference.py) wrote, and
// requires logits, loss and every gradient to agree to 1e-4 relative,
// at every kernel level this CPU supports, through the generated layer
// code where the variant has one and the generic path. (The Admin profile the
// fixtures also hold is checked in package admin.)
func TestPyTorchFixtures(t *testing.T) {
	files := lmFixtures(t)
	requireEveryNorm(t, files)
	eachFixtureRun(t, files, testFixture)
}

// eachFixtureRun runs test on every fixture file at every kernel level
// this CPU supports, on the generated layer code (where the variant has
// one) and on the generic path.
func eachFixtureRun(t *testing.T, files []string, test func(t *testing.T, file string)) {
	defer asm.SetCPULevel(asm.CPULevel())
	for _, level := range asm.SupportedLevels() {
		if err := asm.SetCPULevel(level); err != nil {
			t.Fatal(err)
		}
		for _, file := range files {
			for _, path := range bothPaths {
				t.Run(level+"/"+path+"/"+filepath.Base(file), func(t *testing.T) {
					SetSpecialized(path == "specialized")
					defer SetSpecialized(true)
					test(t, file)
				})
			}
		}
	}
}

// requireEveryNorm fails unless files hold a fixture of every variant
// (fixture_[s2s_]<norm>_…).
func requireEveryNorm(t *testing.T, files []string) {
	t.Helper()
	for _, norm := range Norms {
		if !slices.ContainsFunc(files, func(f string) bool {
			return strings.HasPrefix(strings.TrimPrefix(filepath.Base(f), "fixture_s2s_"), norm+"_") ||
				strings.HasPrefix(strings.TrimPrefix(filepath.Base(f), "fixture_"), norm+"_")
		}) {
			t.Errorf("no %s fixture among %v", norm, files)
		}
	}
}

// lmFixtures lists the decoder-only fixtures: fixture_*.safetensors
// without the encoder–decoder ones (fixture_s2s_*, fixture_s2s_test.go).
func lmFixtures(t *testing.T) []string {
	all, _ := filepath.Glob("testdata/fixture_*.safetensors")
	s2s, _ := filepath.Glob("testdata/fixture_s2s_*.safetensors")
	var files []string
	for _, f := range all {
		if !slices.Contains(s2s, f) {
			files = append(files, f)
		}
	}
	return files
}

func testFixture(t *testing.T, path string) {
	f, err := safetensors.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ParseConfig(f.Metadata["config"])
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewParams(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.LoadTensors(f, "param/"); err != nil {
		t.Fatal(err)
	}
	toks, tgts := f.Get("tokens"), f.Get("targets")
	B, T := toks.Shape[0], toks.Shape[1]
	m, err := New(p, B, 1)
	if err != nil {
		t.Fatal(err)
	}
	const tol = 1e-4
	p.ZeroGrad(nil)
	loss, err := m.Forward(toks.I32, tgts.I32, B, T, true)
	if err != nil {
		t.Fatal(err)
	}
	if e := relErr(m.Logits(), f.Get("logits").F32); e > tol {
		t.Errorf("logits rel err %.3g", e)
	}
	wantLoss := float64(f.Get("loss").F32[0])
	if math.Abs(loss-wantLoss) > tol*math.Abs(wantLoss) {
		t.Errorf("loss %.7f, PyTorch %.7f", loss, wantLoss)
	}
	if err := m.Backward(); err != nil {
		t.Fatal(err)
	}
	worst := 0.0
	for _, q := range p.List {
		g := f.Get("grad/" + q.Name)
		if g == nil {
			t.Fatalf("fixture lacks grad/%s", q.Name)
		}
		e := relErr(q.G, g.F32)
		worst = max(worst, e)
		if e > tol {
			t.Errorf("%s: gradient rel err %.3g", q.Name, e)
		}
	}
	t.Logf("loss %.6f (PyTorch %.6f), worst gradient rel err %.2g", loss, wantLoss, worst)
}
