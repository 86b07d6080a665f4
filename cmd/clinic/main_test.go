package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clinic-ml/clinic/internal/metrics"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

// Bad input gets a one-line error and a non-zero status, never a panic.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.txt")
	os.WriteFile(bad, []byte{0xff, 0xfe, 'a'}, 0o644)
	garbage := filepath.Join(dir, "garbage.safetensors")
	os.WriteFile(garbage, []byte("not a checkpoint at all"), 0o644)
	badProfile := filepath.Join(dir, "p.json")
	os.WriteFile(badProfile, []byte(`{"format":"clinic-admin-profile/1","layers":2,"omega":[1,2]}`), 0o644)
	for _, tc := range []struct {
		code int
		args []string
		want string
	}{
		{2, []string{"train", "--layers", "0"}, "layers"},
		{2, []string{"train", "--layers", "x"}, "invalid argument"},
		{2, []string{"train", "--heads", "3"}, "heads"},
		{2, []string{"train", "--norm", "rmsnorm"}, "norm"},
		{2, []string{"train", "--lr", "-1"}, "--lr"},
		{2, []string{"train", "--dropout", "1.5"}, "dropout"},
		{2, []string{"train", "--no-such-flag"}, "unknown flag"},
		{2, []string{"train", "stray"}, "unexpected argument"},
		{2, []string{"train", "--admin-init", "free", "--norm", "preln"}, "need --norm admin"},
		{2, []string{"bogus"}, "unknown command"},
		{2, []string{"train", "--threads", "100000"}, "--threads must be between"},
		{2, []string{"profile", "--layers", "48", "--d-model", "8192", "--heads", "8", "--d-ff", "32768"}, "this machine has"},
		{2, []string{"analyze", "change", "--depths", "6,400", "--d-model", "4096", "--heads", "8", "--d-ff", "16384"}, "this machine has"},
		{2, []string{"analyze", "grads", "--layers", "200", "--d-model", "4096", "--heads", "8", "--d-ff", "16384", "--seq-len", "2048"}, "this machine has"},
		{2, []string{"translate", "--threads", "-2"}, "--threads must be between"},
		{2, []string{"train", "--layers", "48", "--d-model", "8192", "--heads", "8", "--d-ff", "32768", "--out", dir}, "this machine has"},
		{2, []string{"train", "--task", "translate", "--layers", "2", "--encoder-layers", "2", "--max-tokens", "100000000", "--out", dir}, "this machine has"},
		{2, []string{"sample", "--temperature", "-1"}, "temperature"},
		{1, []string{"train", "--data", filepath.Join(dir, "missing.txt"), "--out", dir}, "missing.txt"},
		{1, []string{"train", "--data", bad, "--out", dir}, "bad.txt"},
		{1, []string{"train", "--cpuprofile", filepath.Join(dir, "no", "such", "cpu.prof"), "--out", dir}, "cpu.prof"},
		{1, []string{"train", "--norm", "admin", "--admin-profile", badProfile, "--layers", "2", "--d-model", "16", "--d-ff", "16", "--heads", "2", "--seq-len", "8", "--out", dir}, "p.json"},
		{1, []string{"sample", "--checkpoint", garbage}, "garbage.safetensors"},
		{1, []string{"sample", "--checkpoint", filepath.Join(dir, "none.safetensors")}, "none.safetensors"},
	} {
		code, _, errOut := runCLI(t, tc.args...)
		if code != tc.code {
			t.Errorf("%v: exit %d, want %d (stderr %q)", tc.args, code, tc.code, errOut)
		}
		first := strings.SplitN(errOut, "\n", 2)[0]
		if !strings.Contains(first, tc.want) {
			t.Errorf("%v: first stderr line %q lacks %q", tc.args, first, tc.want)
		}
		if n := strings.Count(strings.TrimSpace(errOut), "\n"); n != 0 {
			t.Errorf("%v: %d lines on stderr, want one: %q", tc.args, n+1, errOut)
		}
		if strings.Contains(errOut, "goroutine ") || strings.Contains(errOut, "panic") {
			t.Errorf("%v: panic trace: %s", tc.args, errOut)
		}
	}
}

func TestHelp(t *testing.T) {
	for _, c := range []string{"train", "profile", "sample", "version"} {
		code, out, _ := runCLI(t, c, "--help")
		if code != 0 || !strings.Contains(out, "Usage: clinic "+c) {
			t.Errorf("%s --help: exit %d, output %q", c, code, out)
		}
	}
	_, out, _ := runCLI(t, "train", "--help")
	for _, f := range []string{"--layers", "--d-model", "--heads", "--d-ff", "--seq-len", "--batch-size", "--dropout", "--lr", "--warmup", "--steps", "--eval-every", "--norm", "--seed", "--threads", "--data", "--out", "--admin-profile"} {
		if !strings.Contains(out, f) {
			t.Errorf("train --help lacks %s", f)
		}
	}
}

// A short run on a small text trains, writes metrics and a checkpoint
// that sample can read; the same seed and threads give bit-identical
// checkpoints.
func TestTrainSampleDeterministic(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "t.txt")
	os.WriteFile(text, bytes.Repeat([]byte("the quick brown fox jumps over the lazy dog. "), 400), 0o644)
	args := func(out string) []string {
		return []string{"train", "--data", text, "--out", out, "--layers", "2", "--d-model", "32", "--heads", "2",
			"--d-ff", "64", "--seq-len", "32", "--batch-size", "4", "--steps", "60", "--eval-every", "20",
			"--warmup", "10", "--lr", "3e-3", "--norm", "admin", "--threads", "2", "--seed", "7", "--val-frac", "0.1"}
	}
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	if code, _, e := runCLI(t, args(a)...); code != 0 {
		t.Fatalf("train: exit %d: %s", code, e)
	}
	// Profiling the CPU changes nothing in the run.
	prof := filepath.Join(dir, "cpu.prof")
	if code, _, e := runCLI(t, append(args(b), "--cpuprofile", prof)...); code != 0 {
		t.Fatalf("train --cpuprofile: exit %d: %s", code, e)
	}
	if pb, _ := os.ReadFile(prof); len(pb) < 2 || pb[0] != 0x1f || pb[1] != 0x8b {
		t.Errorf("--cpuprofile wrote %d bytes, not a gzipped pprof profile", len(pb))
	}
	ca, _ := os.ReadFile(filepath.Join(a, "model.safetensors"))
	cb, _ := os.ReadFile(filepath.Join(b, "model.safetensors"))
	if len(ca) == 0 || !bytes.Equal(ca, cb) {
		t.Fatalf("two runs with the same seed differ (%d vs %d bytes)", len(ca), len(cb))
	}
	recs, err := metrics.ReadAll(filepath.Join(a, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 60 {
		t.Fatalf("%d metric lines, want 60", len(recs))
	}
	first, last := recs[19]["val_loss"].(float64), recs[59]["val_loss"].(float64)
	if !(last < first && last < 2.0) {
		t.Errorf("validation loss did not fall: step 20 %.3f, step 60 %.3f", first, last)
	}
	if _, err := os.Stat(filepath.Join(a, "admin_profile.json")); err != nil {
		t.Error(err)
	}
	code, out, e := runCLI(t, "sample", "--checkpoint", filepath.Join(a, "model.safetensors"), "--prompt", "the quick", "--length", "20", "--temperature", "0")
	if code != 0 || !strings.HasPrefix(out, "the quick") || len(out) < 29 {
		t.Fatalf("sample: exit %d, out %q, err %q", code, out, e)
	}
	// A second run into the same directory must not clobber the first.
	if code, _, e := runCLI(t, args(a)...); code != 2 || !strings.Contains(e, "--overwrite") {
		t.Errorf("rerun into %s: exit %d, %q", a, code, e)
	}
	if after, _ := os.ReadFile(filepath.Join(a, "model.safetensors")); !bytes.Equal(after, ca) {
		t.Error("the refused rerun changed the checkpoint")
	}
	// Reloading the profile reproduces the run.
	c := filepath.Join(dir, "c")
	if code, _, e := runCLI(t, append(args(c), "--admin-profile", filepath.Join(a, "admin_profile.json"))...); code != 0 {
		t.Fatalf("train with profile: %s", e)
	}
	cc, _ := os.ReadFile(filepath.Join(c, "model.safetensors"))
	if !bytes.Equal(ca[:len(ca)-0], cc) {
		t.Error("training from the saved profile differs from profiling in place")
	}
}

// A panic inside a command is reported in one line with its own exit
// status, never as a trace.
func TestInternalErrorIsOneLine(t *testing.T) {
	old := stdin
	stdin = nil // bpe encode reads stdin: a nil reader panics inside
	defer func() { stdin = old }()
	dir := t.TempDir()
	codes := filepath.Join(dir, "c.bpe")
	if code, _, e := runCLI(t, "bpe", "learn", "--merges", "5", "--out", codes, "../../internal/bpe/testdata/bible-en-es-2000.tsv.gz"); code != 0 {
		t.Fatalf("learn: %s", e)
	}
	code, _, e := runCLI(t, "bpe", "encode", "--codes", codes)
	if code != exitInternal || !strings.Contains(e, "internal error") || strings.Count(strings.TrimSpace(e), "\n") != 0 {
		t.Errorf("exit %d, stderr %q", code, e)
	}
}
