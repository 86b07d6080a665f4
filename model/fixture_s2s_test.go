package model

import (
	"math"
	"testing"

	"github.com/clinic-ml/clinic/model/modeltest"
)

// TestPyTorchSeq2SeqFixtures runs the encoder–decoder on the golden
// fixtures that the independent PyTorch implementation
// (testdata/reference.py) wrote, and requires logits, loss and every
// gradient to agree to 1e-4 relative, at every kernel level this CPU
// supports. (The Admin profiles the fixtures also hold are checked in
// package admin.)
func TestPyTorchSeq2SeqFixtures(t *testing.T) {
	files := modeltest.Fixtures(t, "testdata", true)
	requireEveryNorm(t, files)
	eachFixtureRun(t, files, seq2seqFixtureWithin(1e-4))
}

// seq2seqFixtureWithin is fixtureWithin for an encoder–decoder.
func seq2seqFixtureWithin(tol float64) func(t *testing.T, p *Params, fx modeltest.Fixture) {
	return func(t *testing.T, p *Params, fx modeltest.Fixture) { testSeq2SeqFixture(t, p, fx, tol) }
}

func testSeq2SeqFixture(t *testing.T, p *Params, fx modeltest.Fixture, tol float64) {
	if p.Cfg.EncoderLayers < 1 {
		t.Fatalf("%s: config has no encoder layers: %s", fx.Path, fx.Config)
	}
	f, pr := fx.File, fx.Pair(t)
	b := (*Pair)(&pr)
	m, err := NewSeq2Seq(p, b.Rows(), 1)
	if err != nil {
		t.Fatal(err)
	}
	p.ZeroGrad(nil)
	loss, count, err := m.Forward(b, true)
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, l := range b.TgtLens {
		want += int(l)
	}
	if count != want {
		t.Errorf("%d target tokens, want %d", count, want)
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
	worst, worstName := 0.0, ""
	for _, q := range p.List {
		g := f.Get("grad/" + q.Name)
		if g == nil {
			t.Fatalf("fixture lacks grad/%s", q.Name)
		}
		e := relErr(q.G, g.F32)
		if e > worst {
			worst, worstName = e, q.Name
		}
		if e > tol {
			t.Errorf("%s: gradient rel err %.3g", q.Name, e)
		}
	}
	t.Logf("logits rel err %.2g, loss %.6f (PyTorch %.6f), worst gradient rel err %.2g (%s)",
		relErr(m.Logits(), f.Get("logits").F32), loss, wantLoss, worst, worstName)
}
