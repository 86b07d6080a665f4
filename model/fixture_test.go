package model

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/clinic-ml/clinic/model/modeltest"
)

// relErr is ‖a−b‖/‖b‖.
var relErr = modeltest.RelErr

// TestPyTorchFixtures runs the model on the golden fixtures that the
// independent PyTorch implementation (testdata/reference.py) wrote, and
// requires logits, loss and every gradient to agree to 1e-4 relative,
// at every kernel level this CPU supports, through the generated layer
// code where the variant has one and the generic path. (The Admin profile the
// fixtures also hold is checked in package admin.)
func TestPyTorchFixtures(t *testing.T) {
	files := modeltest.Fixtures(t, "testdata", false)
	requireEveryNorm(t, files)
	eachFixtureRun(t, files, fixtureWithin(1e-4))
}

// eachFixtureRun runs test on every fixture at every kernel level this
// CPU supports, on the generated layer code (where the variant has one)
// and on the generic path.
func eachFixtureRun(t *testing.T, files []modeltest.Fixture, test func(t *testing.T, p *Params, fx modeltest.Fixture)) {
	modeltest.EachLevel(t, func(level string) {
		for _, fx := range files {
			for _, path := range bothPaths {
				t.Run(level+"/"+path+"/"+fx.Name(), func(t *testing.T) {
					test(t, fixtureParams(t, fx, path == "generic"), fx)
				})
			}
		}
	})
}

// fixtureParams plans a fixture's model, on the generic path or not, and
// loads its weights.
func fixtureParams(t *testing.T, fx modeltest.Fixture, generic bool) *Params {
	return modeltest.Params(t, fx, func(config string) (*Params, error) {
		cfg, err := ParseConfig(config)
		if err != nil {
			return nil, err
		}
		cfg.Generic = generic
		return NewParams(cfg)
	})
}

// requireEveryNorm fails unless files hold a fixture of every variant
// (fixture_[s2s_]<norm>_…).
func requireEveryNorm(t *testing.T, files []modeltest.Fixture) {
	t.Helper()
	for _, norm := range Norms {
		if !slices.ContainsFunc(files, func(f modeltest.Fixture) bool {
			return strings.HasPrefix(strings.TrimPrefix(f.Name(), "fixture_s2s_"), norm+"_") ||
				strings.HasPrefix(strings.TrimPrefix(f.Name(), "fixture_"), norm+"_")
		}) {
			var names []string
			for _, f := range files {
				names = append(names, f.Name())
			}
			t.Errorf("no %s fixture among %v", norm, names)
		}
	}
}

// fixtureWithin is a fixture test: logits, loss and every gradient of a
// training pass on the fixture's batch (dropout 0) within tol relative of
// the fixture's.
func fixtureWithin(tol float64) func(t *testing.T, p *Params, fx modeltest.Fixture) {
	return func(t *testing.T, p *Params, fx modeltest.Fixture) { testFixture(t, p, fx, tol) }
}

func testFixture(t *testing.T, p *Params, fx modeltest.Fixture, tol float64) {
	f := fx.File
	toks, tgts, B, T := fx.Tokens()
	m, err := New(p, B, 1)
	if err != nil {
		t.Fatal(err)
	}
	p.ZeroGrad(nil)
	loss, err := m.Forward(toks, tgts, B, T, true)
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
