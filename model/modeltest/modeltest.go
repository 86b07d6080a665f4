// Package modeltest is what the tests of package model and package admin
// share about the golden fixtures that the independent PyTorch
// implementation (model/testdata/reference.py) wrote: which files there
// are, their batches, and running a check at every kernel level. It
// does not import model, so model's own tests can use it.
package modeltest

import (
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/clinic-ml/clinic/asm"
	"github.com/clinic-ml/clinic/internal/safetensors"
)

// Fixture is one fixture file.
type Fixture struct {
	Path string
	File *safetensors.File
	// Config is the model's config, in JSON (model.ParseConfig).
	Config string
}

// Name is the file's name.
func (f Fixture) Name() string { return filepath.Base(f.Path) }

// Fixtures reads the fixtures in dir: the decoder-only ones
// (fixture_*.safetensors), or with seq2seq the encoder–decoder ones
// (fixture_s2s_*.safetensors).
func Fixtures(t testing.TB, dir string, seq2seq bool) []Fixture {
	t.Helper()
	all, _ := filepath.Glob(filepath.Join(dir, "fixture_*.safetensors"))
	s2s, _ := filepath.Glob(filepath.Join(dir, "fixture_s2s_*.safetensors"))
	var fs []Fixture
	for _, path := range all {
		if slices.Contains(s2s, path) != seq2seq {
			continue
		}
		f, err := safetensors.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		fs = append(fs, Fixture{Path: path, File: f, Config: f.Metadata["config"]})
	}
	if len(fs) == 0 {
		t.Fatalf("no fixtures in %s", dir)
	}
	return fs
}

// Params plans the fixture's model with plan, given the config's JSON
// (model.ParseConfig, then model.NewParams), and loads the fixture's
// weights into it.
func Params[P interface {
	LoadTensors(f *safetensors.File, prefix string) error
}](t testing.TB, fx Fixture, plan func(config string) (P, error)) P {
	t.Helper()
	p, err := plan(fx.Config)
	if err == nil {
		err = p.LoadTensors(fx.File, "param/")
	}
	if err != nil {
		t.Fatalf("%s: %v", fx.Path, err)
	}
	return p
}

// Pair is an encoder–decoder fixture's batch, field for field a
// model.Pair (convert it with model.Pair(p)).
type Pair struct {
	Bsz, SrcT, TgtT                      int
	Src, SrcLens, TgtIn, TgtOut, TgtLens []int32
}

// Pair returns the fixture's encoder–decoder batch.
func (f Fixture) Pair(t testing.TB) Pair {
	t.Helper()
	for _, name := range []string{"src", "src_lens", "tgt_in", "tgt_out", "tgt_lens"} {
		if g := f.File.Get(name); g == nil || g.DType != safetensors.I32 {
			t.Fatalf("%s: no I32 tensor %q", f.Path, name)
		}
	}
	src, tgtIn := f.File.Get("src"), f.File.Get("tgt_in")
	return Pair{Bsz: src.Shape[0], SrcT: src.Shape[1], TgtT: tgtIn.Shape[1],
		Src: src.I32, SrcLens: f.File.Get("src_lens").I32, TgtIn: tgtIn.I32,
		TgtOut: f.File.Get("tgt_out").I32, TgtLens: f.File.Get("tgt_lens").I32}
}

// Tokens returns a decoder-only fixture's batch: tokens and targets,
// [B, T].
func (f Fixture) Tokens() (tokens, targets []int32, B, T int) {
	toks := f.File.Get("tokens")
	return toks.I32, f.File.Get("targets").I32, toks.Shape[0], toks.Shape[1]
}

// EachLevel runs check at every kernel level this CPU supports, then
// puts the level back.
func EachLevel(t *testing.T, check func(level string)) {
	t.Helper()
	defer asm.SetCPULevel(asm.CPULevel())
	for _, level := range asm.SupportedLevels() {
		if err := asm.SetCPULevel(level); err != nil {
			t.Fatal(err)
		}
		check(level)
	}
}

// RelErr is ‖a−b‖/‖b‖ (‖a−b‖ when b is 0).
func RelErr(a, b []float32) float64 {
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
