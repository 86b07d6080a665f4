package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clinic-ml/clinic/internal/bpe"
	"github.com/clinic-ml/clinic/model"
)

// tinyTranslator writes an encoder–decoder checkpoint with random
// weights and joint BPE codes in its metadata, as 'clinic train --task
// translate' would, and a decoder-only one.
func tinyTranslator(t *testing.T, dir string) (ckpt, lm string) {
	t.Helper()
	codes, err := bpe.Learn([]string{"one two three four five", "uno dos tres cuatro cinco", "one two", "uno dos"}, 20, bpe.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	text, _ := codes.MarshalText()
	cfg := model.Config{EncoderLayers: 2, Layers: 2, DModel: 16, Heads: 2, DFF: 32, SeqLen: 20, Vocab: codes.Size(),
		Norm: model.Admin, Activation: "relu", LNEps: 1e-5}
	p, err := model.NewParams(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p.Init(1)
	ckpt = filepath.Join(dir, "mt.safetensors")
	meta := map[string]string{"task": "translate", "bpe_codes": string(text), "src_lang": "en", "tgt_lang": "es"}
	if err := model.SaveCheckpoint(ckpt, p, meta); err != nil {
		t.Fatal(err)
	}
	cfg.EncoderLayers, cfg.Vocab = 0, 256
	q, _ := model.NewParams(cfg)
	q.Init(1)
	lm = filepath.Join(dir, "lm.safetensors")
	if err := model.SaveCheckpoint(lm, q, map[string]string{"step": "1"}); err != nil {
		t.Fatal(err)
	}
	return ckpt, lm
}

// 'clinic translate' writes one line per input line in input order:
// empty lines stay empty, a line too long for the model is truncated
// with a warning naming it, and the output does not depend on the batch
// size or on reading stdin instead of a file.
func TestTranslateCLI(t *testing.T) {
	dir := t.TempDir()
	ckpt, _ := tinyTranslator(t, dir)
	in := filepath.Join(dir, "in.txt")
	long := strings.Repeat("five four three two one ", 6)
	src := "one two\n\nthree four five\n" + long + "\ntwo\r\n   \none\n"
	os.WriteFile(in, []byte(src), 0o644)
	args := func(out string, extra ...string) []string {
		return append([]string{"translate", "--checkpoint", ckpt, "--input", in, "--output", out,
			"--max-len-a", "1", "--max-len-b", "2", "--threads", "2"}, extra...)
	}
	outs := map[string]string{}
	for _, tc := range [][]string{{"--batch-size", "32"}, {"--batch-size", "1"}, {"--batch-size", "2"}} {
		out := filepath.Join(dir, "out"+tc[1]+".txt")
		code, stdout, stderr := runCLI(t, args(out, tc...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", tc, code, stderr)
		}
		if stdout != "" {
			t.Errorf("%v: stdout %q with --output", tc, stdout)
		}
		if !strings.Contains(stderr, "in.txt:4 has") || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%v: stderr %q, want one warning naming line 4", tc, stderr)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		outs[tc[1]] = string(b)
	}
	got := outs["32"]
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	if len(lines) != 7 || lines[1] != "" || lines[5] != "" || !strings.HasSuffix(got, "\n") {
		t.Fatalf("output %q: want 7 lines, the 2nd and 6th empty", got)
	}
	for _, i := range []int{0, 2, 3, 4, 6} {
		if lines[i] == "" {
			t.Errorf("line %d translated to nothing: %q", i+1, got)
		}
	}
	if outs["1"] != got || outs["2"] != got {
		t.Errorf("batch sizes give different outputs:\n%q\n%q\n%q", got, outs["1"], outs["2"])
	}
	// Line 1 alone translates as it does among the others.
	one := filepath.Join(dir, "one.txt")
	os.WriteFile(one, []byte("one two\n"), 0o644)
	if code, out, e := runCLI(t, "translate", "--checkpoint", ckpt, "--input", one, "--max-len-a", "1", "--max-len-b", "2"); code != 0 || out != lines[0]+"\n" {
		t.Errorf("alone: exit %d, %q (%s), want %q", code, out, e, lines[0])
	}
	// stdin to stdout.
	f, _ := os.Open(in)
	defer f.Close()
	stdin = f
	defer func() { stdin = os.Stdin }()
	code, out, _ := runCLI(t, "translate", "--checkpoint", ckpt, "--max-len-a", "1", "--max-len-b", "2", "--batch-size", "3")
	if code != 0 || out != got {
		t.Errorf("stdin: exit %d, %q, want %q", code, out, got)
	}
	// Greedy works too, and an empty input gives an empty output.
	empty := filepath.Join(dir, "empty.txt")
	os.WriteFile(empty, nil, 0o644)
	if code, out, e := runCLI(t, "translate", "--checkpoint", ckpt, "--input", empty, "--beam", "1"); code != 0 || out != "" {
		t.Errorf("empty input: exit %d, %q, %s", code, out, e)
	}
	if code, out, e := runCLI(t, args(filepath.Join(dir, "g.txt"), "--beam", "1", "--lenpen", "-0.5")...); code != 0 || out != "" {
		t.Errorf("greedy: exit %d, %s", code, e)
	}
}

// Bad input gets a one-line error and the right status, never a panic.
func TestTranslateBadInput(t *testing.T) {
	dir := t.TempDir()
	ckpt, lm := tinyTranslator(t, dir)
	in := filepath.Join(dir, "in.txt")
	os.WriteFile(in, []byte("one\n"), 0o644)
	badUTF := filepath.Join(dir, "bad.txt")
	os.WriteFile(badUTF, []byte("one two\nthree \xff four\n"), 0o644)
	garbage := filepath.Join(dir, "garbage.safetensors")
	os.WriteFile(garbage, []byte("not a checkpoint at all"), 0o644)
	tr := func(a ...string) []string {
		return append([]string{"translate", "--checkpoint", ckpt, "--input", in}, a...)
	}
	for _, tc := range []struct {
		code int
		args []string
		want string
	}{
		{2, tr("--beam", "0"), "--beam"},
		{2, tr("--batch-size", "0"), "--batch-size"},
		{2, tr("--lenpen", "NaN"), "--lenpen"},
		{2, tr("--lenpen", "x"), "invalid argument"},
		{2, tr("--max-len-a", "-1"), "--max-len-a"},
		{2, tr("--max-len-b", "-1"), "--max-len-b"},
		{2, tr("--threads", "-1"), "--threads"},
		{2, tr("extra"), "unexpected argument"},
		{1, tr("--input", badUTF), "bad.txt:2: not valid UTF-8"},
		{1, tr("--input", filepath.Join(dir, "missing.txt")), "missing.txt"},
		{1, tr("--checkpoint", lm), "lm.safetensors is a language model, not a translator"},
		{1, tr("--checkpoint", garbage), "garbage.safetensors"},
		{1, tr("--checkpoint", filepath.Join(dir, "none.safetensors")), "none.safetensors"},
		{1, tr("--output", filepath.Join(dir, "no", "such", "dir.txt")), "dir.txt"},
	} {
		code, _, errOut := runCLI(t, tc.args...)
		if code != tc.code {
			t.Errorf("%v: exit %d, want %d (stderr %q)", tc.args, code, tc.code, errOut)
		}
		if !strings.Contains(errOut, tc.want) || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
			t.Errorf("%v: stderr %q, want one line with %q", tc.args, errOut, tc.want)
		}
		if strings.Contains(errOut, "goroutine ") || strings.Contains(errOut, "panic") {
			t.Errorf("%v: panic trace: %s", tc.args, errOut)
		}
	}
}

// "-" is stdin for --input and stdout for --output, as for bleu --hyp
// (issue 23: --input - was read as a file named "-").
func TestTranslateDashIsStdio(t *testing.T) {
	dir := t.TempDir()
	ckpt, _ := tinyTranslator(t, dir)
	in := filepath.Join(dir, "in.txt")
	os.WriteFile(in, []byte("one two\n\nthree four five\n"), 0o644)
	common := []string{"translate", "--checkpoint", ckpt, "--max-len-a", "1", "--max-len-b", "2", "--threads", "1"}
	code, want, e := runCLI(t, append(common, "--input", in)...)
	if code != 0 || strings.Count(want, "\n") != 3 {
		t.Fatalf("from a file: exit %d, %q, %s", code, want, e)
	}
	defer func() { stdin = os.Stdin }()
	for _, extra := range [][]string{{"--input", "-"}, {"--input", "-", "--output", "-"}, {"--output", "-"}} {
		f, err := os.Open(in)
		if err != nil {
			t.Fatal(err)
		}
		stdin = f
		code, out, e := runCLI(t, append(common, extra...)...)
		f.Close()
		if code != 0 || out != want {
			t.Errorf("%v: exit %d, %q (stderr %q), want %q", extra, code, out, e, want)
		}
	}
	if _, err := os.Stat("-"); err == nil {
		t.Error(`--output - wrote a file named "-"`)
	}
}
