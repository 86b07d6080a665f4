package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clinic-ml/clinic/internal/bpe"
)

// withStdin runs f with s as what bpe encode and decode read.
func withStdin(t *testing.T, s string, f func()) {
	t.Helper()
	old := stdin
	stdin = strings.NewReader(s)
	defer func() { stdin = old }()
	f()
}

const bpeExcerpt = "../../internal/bpe/testdata/bible-en-es-2000.tsv.gz"

// learn → encode → decode through files gives back the input lines
// exactly, as tokens and as ids.
func TestBPERoundTrip(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "extra.txt")
	os.WriteFile(text, []byte("The quick brown fox.\nEl rápido zorro marrón.\n"), 0o644)
	codes := filepath.Join(dir, "codes.bpe")
	code, out, errOut := runCLI(t, "bpe", "learn", "--merges", "500", "--out", codes, "--tsv", bpeExcerpt, "--columns", "2,3", text)
	if code != 0 {
		t.Fatalf("learn: exit %d: %s", code, errOut)
	}
	if !strings.HasPrefix(out, "learned 500 merges from 4002 lines: vocabulary ") || strings.Count(out, "\n") != 1 {
		t.Errorf("learn summary %q", out)
	}
	if b, _ := os.ReadFile(codes); !bytes.HasPrefix(b, []byte("clinic-bpe/1\n")) {
		t.Fatalf("codes file starts %q", b[:min(len(b), 20)])
	}
	input := "In the beginning, God created the heavens and the earth.\n" +
		"EN el principio crió Dios los cielos y la tierra.\n" +
		"\n  spaces  and\ttabs \r\n日本語 😀 ▁ e\u0301\u00a0end\n"
	for _, ids := range []bool{false, true} {
		args := []string{"--codes", codes}
		if ids {
			args = append(args, "--ids")
		}
		var enc, dec string
		withStdin(t, input, func() {
			code, enc, errOut = runCLI(t, append([]string{"bpe", "encode"}, args...)...)
		})
		if code != 0 {
			t.Fatalf("encode %v: exit %d: %s", args, code, errOut)
		}
		if strings.Count(enc, "\n") != 5 {
			t.Errorf("encode %v: %d lines for 5:\n%s", args, strings.Count(enc, "\n"), enc)
		}
		if !ids && !strings.Contains(enc, "▁the ") {
			t.Errorf("tokens lack ▁the:\n%s", enc)
		}
		withStdin(t, enc, func() {
			code, dec, errOut = runCLI(t, append([]string{"bpe", "decode"}, args...)...)
		})
		if code != 0 {
			t.Fatalf("decode %v: exit %d: %s", args, code, errOut)
		}
		if dec != input {
			t.Errorf("decode(encode(x)) %v = %q, want %q", args, dec, input)
		}
	}
}

// Bad input gets a one-line error with exit 2 for the command line and 1
// for files, never a panic.
func TestBPEBadInput(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.txt")
	os.WriteFile(good, []byte("a b a b\nab ab\n"), 0o644)
	bad := filepath.Join(dir, "bad.txt")
	os.WriteFile(bad, []byte("fine line\nbroken \xff line\n"), 0o644)
	short := filepath.Join(dir, "short.tsv")
	os.WriteFile(short, []byte("1\tone\tuno\n2\ttwo\n"), 0o644)
	notGz := filepath.Join(dir, "text.gz")
	os.WriteFile(notGz, []byte("plain"), 0o644)
	malformed := filepath.Join(dir, "malformed.bpe")
	os.WriteFile(malformed, []byte("clinic-bpe/1\nchars 1\na\nmerges 1\na b\n"), 0o644)
	codes := filepath.Join(dir, "codes.bpe")
	if code, _, e := runCLI(t, "bpe", "learn", "--merges", "5", "--out", codes, good); code != 0 {
		t.Fatalf("learn: %s", e)
	}
	out := filepath.Join(dir, "out.bpe")
	for _, tc := range []struct {
		code  int
		args  []string
		stdin string
		want  string
	}{
		{2, []string{"bpe"}, "", "missing subcommand"},
		{2, []string{"bpe", "apply"}, "", "unknown subcommand"},
		{2, []string{"bpe", "learn", "--merges", "-3", "--out", out, good}, "", "--merges must be ≥ 0"},
		{2, []string{"bpe", "learn", "--merges", "x", good}, "", "invalid argument"},
		{2, []string{"bpe", "learn", "--merges", "99999999", good}, "", "at most"},
		{2, []string{"bpe", "learn", "--min-frequency", "0", good}, "", "--min-frequency"},
		{2, []string{"bpe", "learn", "--out", out}, "", "no input"},
		{2, []string{"bpe", "learn", "--tsv", short, "--columns", "0,2"}, "", "--columns"},
		{2, []string{"bpe", "learn", "--columns", "2", good}, "", "needs --tsv"},
		{2, []string{"bpe", "encode", "stray"}, "", "unexpected argument"},
		{1, []string{"bpe", "learn", "--out", out, filepath.Join(dir, "missing.txt")}, "", "missing.txt: no such file"},
		{1, []string{"bpe", "learn", "--out", out, bad}, "", "bad.txt:2: invalid UTF-8"},
		{1, []string{"bpe", "learn", "--out", out, "--tsv", short, "--columns", "2,3"}, "", "short.tsv:2: 2 columns"},
		{1, []string{"bpe", "learn", "--out", out, notGz}, "", "text.gz: not readable as gzip"},
		{1, []string{"bpe", "learn", "--out", filepath.Join(dir, "no", "such", "c.bpe"), good}, "", "c.bpe"},
		{1, []string{"bpe", "encode", "--codes", filepath.Join(dir, "none.bpe")}, "x\n", "none.bpe: no such file"},
		{1, []string{"bpe", "encode", "--codes", malformed}, "x\n", `malformed.bpe: codes line 5: merge "a b" uses "b"`},
		{1, []string{"bpe", "encode", "--codes", good}, "x\n", "good.txt: codes line 1: header"},
		{1, []string{"bpe", "decode", "--codes", codes, "--ids"}, "3 4\n5 -1\n", "stdin:2"},
		{1, []string{"bpe", "decode", "--codes", codes, "--ids"}, "99999\n", "stdin:1"},
		{1, []string{"bpe", "decode", "--codes", codes}, "▁a nosuchtoken\n", `stdin:1: unknown token "nosuchtoken"`},
	} {
		var code int
		var errOut string
		withStdin(t, tc.stdin, func() { code, _, errOut = runCLI(t, tc.args...) })
		if code != tc.code {
			t.Errorf("%v: exit %d, want %d (stderr %q)", tc.args, code, tc.code, errOut)
		}
		if !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: stderr %q lacks %q", tc.args, errOut, tc.want)
		}
		if n := strings.Count(strings.TrimSpace(errOut), "\n"); n != 0 {
			t.Errorf("%v: %d lines on stderr, want one: %q", tc.args, n+1, errOut)
		}
		if strings.Contains(errOut, "goroutine ") || strings.Contains(errOut, "panic") {
			t.Errorf("%v: panic trace: %s", tc.args, errOut)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a failed learn wrote its --out file")
	}
}

func TestBPEHelp(t *testing.T) {
	for _, args := range [][]string{{"bpe", "--help"}, {"bpe", "learn", "--help"}, {"bpe", "encode", "--help"}, {"bpe", "decode", "--help"}} {
		code, out, _ := runCLI(t, args...)
		if code != 0 || !strings.Contains(out, "Usage: clinic bpe") {
			t.Errorf("%v: exit %d, output %q", args, code, out)
		}
	}
}

// Tokens that spell byte or reserved tokens, or hold a backslash or a
// no-break space, print escaped and decode back to what was encoded;
// issue 23 had "zA" and "z<0x41>" both decode to "z<0x41>".
func TestBPETokenEscapes(t *testing.T) {
	dir := t.TempDir()
	codes := filepath.Join(dir, "codes.bpe")
	os.WriteFile(codes, []byte("clinic-bpe/1\nchars 10\n▁\n<\n0\nx\n4\n1\n>\n\\\nU+00A0\ns\n"+
		"merges 8\n< 0\n<0 x\n<0x 4\n<0x4 1\n<0x41 >\n\\ \u00a0\n< s\n<s >\n"), 0o644)
	input := "zA\nz<0x41>\n<s> \\\u00a0 \\<0x41>\n"
	var code int
	var enc, dec, errOut string
	withStdin(t, input, func() { code, enc, errOut = runCLI(t, "bpe", "encode", "--codes", codes) })
	if want := "▁ <0x7A> <0x41>\n▁ <0x7A> \\<0x41>\n▁ \\<s> ▁ \\\\ \\u00A0 ▁ \\\\ \\<0x41>\n"; code != 0 || enc != want {
		t.Fatalf("encode: exit %d (%s), tokens\n%s\nwant\n%s", code, errOut, enc, want)
	}
	withStdin(t, enc, func() { code, dec, errOut = runCLI(t, "bpe", "decode", "--codes", codes) })
	if code != 0 || dec != input {
		t.Errorf("decode: exit %d (%s), %q, want %q", code, errOut, dec, input)
	}
	withStdin(t, "▁ a\\q\n", func() { code, _, errOut = runCLI(t, "bpe", "decode", "--codes", codes) })
	if want := `stdin:1: token "a\\q": a backslash must begin`; code != 1 || !strings.Contains(errOut, want) || strings.Count(errOut, "\n") != 1 {
		t.Errorf("bad escape: exit %d, stderr %q, want %q", code, errOut, want)
	}
}

// --merges 0 is a character-level vocabulary (the base characters and
// the bytes), which train --bpe-merges 0 accepts too (issue 23: learn
// refused it): codes learned with it round-trip, and a translator
// trains on them.
func TestBPEZeroMerges(t *testing.T) {
	dir := t.TempDir()
	src, tgt := filepath.Join(dir, "s.txt"), filepath.Join(dir, "t.txt")
	os.WriteFile(src, []byte(strings.Repeat("one two three\nfour five\nsix seven\n", 4)), 0o644)
	os.WriteFile(tgt, []byte(strings.Repeat("uno dos tres\ncuatro cinco\nseis siete\n", 4)), 0o644)
	codes := filepath.Join(dir, "c.bpe")
	code, out, e := runCLI(t, "bpe", "learn", "--merges", "0", "--out", codes, src, tgt)
	if code != 0 || !strings.HasPrefix(out, "learned 0 merges from 24 lines") {
		t.Fatalf("learn --merges 0: exit %d, %q, %s", code, out, e)
	}
	const line = "cinco two ñandú\n"
	var enc, dec string
	withStdin(t, line, func() { code, enc, e = runCLI(t, "bpe", "encode", "--codes", codes) })
	// one token per character (two per space-led word), more for the
	// bytes of the characters not seen
	if code != 0 || strings.Count(enc, " ") < len("cinco two ñandú") {
		t.Fatalf("encode: exit %d, %q, %s", code, enc, e)
	}
	withStdin(t, enc, func() { code, dec, e = runCLI(t, "bpe", "decode", "--codes", codes) })
	if code != 0 || dec != line {
		t.Fatalf("decode: exit %d, %q, want %q (%s)", code, dec, line, e)
	}
	for _, extra := range [][]string{{"--bpe-merges", "0"}, {"--bpe-codes", codes}} {
		run := filepath.Join(dir, "run"+extra[0])
		args := append([]string{"train", "--task", "translate", "--src", src, "--tgt", tgt, "--out", run, "--layers", "1",
			"--encoder-layers", "1", "--d-model", "16", "--heads", "2", "--d-ff", "16", "--seq-len", "32", "--max-tokens", "128",
			"--steps", "2", "--eval-every", "1", "--bleu-every", "2", "--threads", "1", "--val-frac", "0.2"}, extra...)
		if code, _, e := runCLI(t, args...); code != 0 {
			t.Fatalf("train %v: exit %d: %s", extra, code, e)
		}
	}
	learned, err := bpe.ReadFile(filepath.Join(dir, "run--bpe-merges", "bpe.codes"))
	if err != nil || learned.NumMerges() != 0 {
		t.Errorf("train --bpe-merges 0 learned codes %v, %v", learned, err)
	}
}
