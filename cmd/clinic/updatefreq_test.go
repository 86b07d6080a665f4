package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clinic-ml/clinic/internal/metrics"
)

// stepTokens are the "tokens" fields of a run's metrics lines.
func stepTokens(t *testing.T, dir string) []any { return stepField(t, dir, "tokens") }

// stepField is the field name of each of a run's metrics lines (nil
// where a line has none).
func stepField(t *testing.T, dir, name string) []any {
	t.Helper()
	recs, err := metrics.ReadAll(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var vs []any
	for _, r := range recs {
		vs = append(vs, r[name])
	}
	return vs
}

// A bad --update-freq (0, negative, not an integer) is a one-line usage
// error naming the flag, for 'clinic train' and the sweeps.
func TestUpdateFreqBadInput(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"train", "--update-freq", "0"}, "--update-freq must be at least 1, got 0"},
		{[]string{"train", "--update-freq", "-3"}, "--update-freq must be at least 1, got -3"},
		{[]string{"train", "--task", "translate", "--update-freq", "0"}, "--update-freq must be at least 1, got 0"},
		{[]string{"train", "--update-freq", "1.5"}, `invalid argument "1.5" for "--update-freq"`},
		{[]string{"train", "--update-freq", "two"}, `invalid argument "two" for "--update-freq"`},
		{[]string{"train", "--update-freq", "99999999999"}, "--update-freq must be at most"},
		{[]string{"analyze", "sweep", "--update-freq", "0"}, "--update-freq must be at least 1, got 0"},
		{[]string{"analyze", "sweep", "--task", "translate", "--update-freq", "-1"}, "--update-freq must be at least 1, got -1"},
	} {
		code, _, e := runCLI(t, append(c.args, "--out", out)...)
		if code != 2 || !strings.Contains(e, c.want) || strings.Count(e, "\n") != 1 {
			t.Errorf("%v: exit %d, %q; want 2 and one line with %q", c.args, code, e, c.want)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("a refused run created %s", out)
	}
}

// --update-freq 2 trains both tasks, its metrics give each step's
// tokens (those of its two batches; none without the flag), a run
// resumed without the flag keeps it and ends bit-identical to the run
// never stopped, and a resumed run may change it.
func TestUpdateFreqCLI(t *testing.T) {
	dir := t.TempDir()
	text := writeText(t, dir)
	a, b, one := filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "one")
	if code, out, e := runCLI(t, lmArgs(text, a, "12", "--update-freq", "2")...); code != 0 || !strings.Contains(out, "2 batches of 2×16 bytes/step") {
		t.Fatalf("train: exit %d: %s %s", code, out, e)
	}
	if code, _, e := runCLI(t, lmArgs(text, one, "12")...); code != 0 {
		t.Fatalf("train: exit %d: %s", code, e)
	}
	if ts := stepTokens(t, a); len(ts) != 12 || ts[0] != 64.0 || ts[11] != 64.0 {
		t.Errorf("--update-freq 2: tokens %v, want 64 (2 batches of 2×16) each step", ts)
	}
	if ts := stepTokens(t, one); len(ts) != 12 || ts[0] != nil {
		t.Errorf("no --update-freq: tokens %v, want none", ts)
	}
	if bytes.Equal(checkpoint(t, a), checkpoint(t, one)) {
		t.Error("--update-freq 2 trained what one batch a step trains")
	}
	if code, _, e := runCLI(t, lmArgs(text, b, "6", "--update-freq", "2")...); code != 0 {
		t.Fatalf("train: exit %d: %s", code, e)
	}
	if code, out, e := runCLI(t, "train", "--resume", b, "--steps", "12"); code != 0 || strings.Contains(out, "--update-freq") {
		t.Fatalf("resume: exit %d: %s %s", code, out, e)
	}
	sameRun(t, a, b)
	code, out, e := runCLI(t, "train", "--resume", b, "--steps", "14", "--update-freq", "3")
	if code != 0 || !strings.Contains(out, "--update-freq 3 (was 2)") {
		t.Fatalf("resume --update-freq 3: exit %d: %s %s", code, out, e)
	}
	if ts := stepTokens(t, b); len(ts) != 14 || ts[11] != 64.0 || ts[12] != 96.0 {
		t.Errorf("resumed with --update-freq 3: tokens %v", ts)
	}

	// bf16 mixed precision: 1 and 2 threads train the same weights.
	precisionRun(t, dir, "bf1", "--precision", "bf16", "--update-freq", "2", "--threads", "1")
	precisionRun(t, dir, "bf2", "--precision", "bf16", "--update-freq", "2", "--threads", "2")
	bf := filepath.Join(dir, "bf2")
	if ps, ts := stepPrecisions(t, bf), stepTokens(t, bf); len(ps) != 3 || ps[2] != "bf16" || ts[2] != 64.0 {
		t.Errorf("bf16 with --update-freq 2: precision %v, tokens %v", ps, ts)
	}
	if !bytes.Equal(checkpoint(t, filepath.Join(dir, "bf1")), checkpoint(t, bf)) {
		t.Error("bf16 with --update-freq 2: 1 and 2 threads give different checkpoints")
	}

	// Translation: each step's tokens are its batches' target tokens.
	tsv, _, _ := writePairs(t, dir, 200)
	tr := filepath.Join(dir, "tr")
	code, out, e = runCLI(t, "train", "--task", "translate", "--out", tr, "--data", tsv, "--columns", "2,3", "--bpe-merges", "30",
		"--encoder-layers", "1", "--layers", "1", "--d-model", "16", "--heads", "2", "--d-ff", "32", "--max-len", "16",
		"--max-tokens", "64", "--steps", "4", "--eval-every", "2", "--bleu-every", "4", "--warmup", "2", "--threads", "2",
		"--val-frac", "0.05", "--update-freq", "3")
	if code != 0 || !strings.Contains(out, "batches of ≤ 64 tokens (3 a step)") {
		t.Fatalf("translate: exit %d: %s %s", code, out, e)
	}
	for i, v := range stepTokens(t, tr) {
		// 3 batches of ≤ 64 tokens, padding included: more than one
		// batch's worth of target tokens, at most three.
		if n, ok := v.(float64); !ok || n <= 16 || n > 3*64 {
			t.Errorf("translate step %d: tokens %v", i+1, v)
		}
	}
}

// The depth sweeps take --update-freq: the language model's runs
// accumulate (their metrics give each step's tokens) and the report
// says each step's batches.
func TestUpdateFreqSweep(t *testing.T) {
	dir := t.TempDir()
	text := tinyText(t, dir)
	out := filepath.Join(dir, "sweep")
	code, _, e := runCLI(t, append([]string{"analyze", "sweep"}, tiny(text, "--depths", "1", "--norms", "preln",
		"--steps", "4", "--eval-every", "2", "--eval-batches", "1", "--warmup", "2", "--update-freq", "3", "--out", out)...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, e)
	}
	if ts := stepTokens(t, filepath.Join(out, "runs", "preln-L1")); len(ts) != 4 || ts[3] != 96.0 {
		t.Errorf("sweep run: tokens %v, want 96 (3 batches of 2×16) each step", ts)
	}
	rep, _ := os.ReadFile(filepath.Join(out, "report.md"))
	if !strings.Contains(string(rep), "for 4 steps of 3 batches of 2×16 bytes") {
		t.Errorf("report.md does not say the steps' batches:\n%s", rep)
	}
}
