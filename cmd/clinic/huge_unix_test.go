//go:build unix

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clinic-ml/clinic/internal/hugefile"
	"github.com/clinic-ml/clinic/internal/train"
	"github.com/clinic-ml/clinic/model"
)

// wantHugeRefused fails unless args exit 1 promptly (runQuick) with one
// line naming name and containing want, having allocated far less than
// the huge file holds. With in set, it is standard input.
func wantHugeRefused(t *testing.T, in, name, want string, args ...string) {
	t.Helper()
	if in != "" {
		f, err := os.Open(in)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		old := stdin
		stdin = f
		defer func() { stdin = old }()
	}
	var code int
	var e string
	a := hugefile.Allocated(func() { code, e = runQuick(t, args...) })
	if code != 1 || !strings.Contains(e, name) || !strings.Contains(e, want) || strings.Count(strings.TrimSpace(e), "\n") != 0 {
		t.Errorf("%v: exit %d, stderr %q; want exit 1 and one line naming %s with %q", args, code, e, name, want)
	}
	if a > 256<<20 {
		t.Errorf("%v: %d MiB allocated to refuse a huge file", args, a>>20)
	}
}

// Huge files are refused at once, naming them, wherever clinic reads
// one: checkpoints on their header (a file of zeros gives a header length
// of 0; a well-formed file must hold its model's tensors), text inputs
// over the 2 GiB cap before they are read (standard input redirected
// from a file too), and a run's trainer state, checkpoint and metrics
// on --resume.
func TestHugeInputsRefused(t *testing.T) {
	dir := t.TempDir()
	ckpt, lm := tinyTranslator(t, dir)
	_, meta, err := model.LoadCheckpoint(lm)
	if err != nil {
		t.Fatal(err)
	}
	small := filepath.Join(dir, "small.txt")
	os.WriteFile(small, []byte("one two\n"), 0o644)
	codes := filepath.Join(dir, "c.bpe")
	if code, _, e := runCLI(t, "bpe", "learn", "--merges", "5", "--out", codes, small); code != 0 {
		t.Fatal(e)
	}
	h, out := filepath.Join(dir, "huge"), filepath.Join(dir, "out")
	zeros, otherModel := []byte(nil), hugefile.Tiling(t, map[string]string{"config": meta["config"]})
	for _, c := range []struct {
		head []byte
		want string
		args []string
	}{
		{zeros, "not a safetensors file", []string{"translate", "--checkpoint", h, "--input", small}},
		{zeros, "not a safetensors file", []string{"sample", "--checkpoint", h}},
		{zeros, "not a safetensors file", []string{"logits", "--checkpoint", h, "--text", "abc", "--out", filepath.Join(dir, "l.safetensors")}},
		{zeros, "not a safetensors file", []string{"analyze", "grads", "--checkpoint", h, "--out", out}},
		{zeros, "not a safetensors file", []string{"average", "--out", filepath.Join(dir, "avg.safetensors"), lm, h}},
		{otherModel, `unexpected tensor "a"`, []string{"average", "--out", filepath.Join(dir, "avg.safetensors"), lm, h}},
		{otherModel, `unexpected tensor "a"`, []string{"sample", "--checkpoint", h}},
		{zeros, "over the 2 GiB limit", []string{"translate", "--checkpoint", ckpt, "--input", h}},
		{zeros, "over the 2 GiB limit", []string{"bleu", "--ref", h, "--hyp", small}},
		{zeros, "over the 2 GiB limit", []string{"bleu", "--ref", small, "--hyp", h}},
		{zeros, "over the 2 GiB limit", []string{"bpe", "learn", "--merges", "5", "--out", filepath.Join(dir, "c2.bpe"), h}},
		{zeros, "over the 2 GiB limit", []string{"bpe", "learn", "--merges", "5", "--out", filepath.Join(dir, "c2.bpe"), "--tsv", h}},
		{zeros, "over the 1 GiB limit", []string{"bpe", "encode", "--codes", h}},
		{zeros, "over the 2 GiB limit", []string{"train", "--data", h, "--out", out}},
	} {
		hugefile.Make(t, h, c.head)
		wantHugeRefused(t, "", h, c.want, c.args...)
	}

	// Standard input: read whole, capped as a file is; streamed by
	// bpe, a line at a time, each line capped.
	hugefile.Make(t, h, nil)
	wantHugeRefused(t, h, "stdin", "over the 2 GiB limit", "translate", "--checkpoint", ckpt)
	wantHugeRefused(t, h, "stdin", "over the 2 GiB limit", "bleu", "--ref", small)
	defer func(n int64) { maxStdinLine = n }(maxStdinLine)
	maxStdinLine = 1 << 20 // the 2 GiB of the cap would take a while
	wantHugeRefused(t, h, "stdin:1", "line over the 1048576-byte limit", "bpe", "encode", "--codes", codes)
	wantHugeRefused(t, h, "stdin:1", "line over the 1048576-byte limit", "bpe", "decode", "--codes", codes)

	// A run's own files on --resume.
	text := writeText(t, dir)
	run := filepath.Join(dir, "run")
	if code, _, e := runCLI(t, lmArgs(text, run, "6")...); code != 0 {
		t.Fatalf("train: %s", e)
	}
	for _, c := range []struct {
		file string
		head []byte
		want string
	}{
		{train.StateFile, zeros, "not a safetensors file"},
		{train.StateFile, hugefile.Tiling(t, map[string]string{"step": "6"}), `format "", want`},
		{"model.safetensors", zeros, "not a safetensors file"},
		{"model.safetensors", hugefile.Tiling(t, map[string]string{"step": "6"}), "is not the checkpoint"},
		{"metrics.jsonl", zeros, "over the 2 GiB limit"},
	} {
		path := filepath.Join(run, c.file)
		good, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		hugefile.Make(t, path, c.head)
		wantHugeRefused(t, "", path, c.want, "train", "--resume", run, "--steps", "12")
		os.Remove(path)
		os.WriteFile(path, good, 0o644)
	}
	if code, _, e := runCLI(t, "train", "--resume", run, "--steps", "12"); code != 0 {
		t.Fatalf("resume after the refusals: %s", e)
	}
}
