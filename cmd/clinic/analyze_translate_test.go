package main

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// tinyPairs are the flags of a tiny translator analysis on pairs in
// dir.
func tinyPairs(t *testing.T, dir string, extra ...string) []string {
	_, src, tgt := writePairs(t, dir, 60)
	return append([]string{"--task", "translate", "--src", src, "--tgt", tgt, "--val-frac", "0.1", "--d-model", "16", "--heads", "2",
		"--d-ff", "32", "--seq-len", "32", "--max-tokens", "128", "--bpe-merges", "60", "--threads", "2"}, extra...)
}

// analyze change --task translate measures the encoder, the decoder and
// the whole model, at each depth on both sides, reproducibly.
func TestAnalyzeChangeTranslate(t *testing.T) {
	dir := t.TempDir()
	var csvs [2][]byte
	for i, out := range []string{filepath.Join(dir, "a"), filepath.Join(dir, "b")} {
		code, stdout, e := runCLI(t, append([]string{"analyze", "change"}, tinyPairs(t, dir, "--depths", "1,3", "--seeds", "2", "--out", out)...)...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, e)
		}
		for _, w := range []string{"encoder", "decoder", "model", "ratio L3/L1"} {
			if !strings.Contains(stdout, w) {
				t.Errorf("stdout lacks %q:\n%s", w, stdout)
			}
		}
		md := checkReport(t, out, "change.csv", "change_seeds.csv", "change_random_encoder.png", "change_grad_decoder.svg", "change_random_model.png")
		if !strings.Contains(md, "3+3") && !strings.Contains(md, "each side") {
			t.Error("report does not say depths count layers on each side")
		}
		rows := readCSV(t, filepath.Join(out, "change.csv"))
		if len(rows) != 1+2*3*3*2 {
			t.Fatalf("change.csv has %d rows, want 37", len(rows))
		}
		seen := map[string]int{}
		for _, r := range rows[1:] {
			if v, err := strconv.ParseFloat(r[4], 64); err != nil || !(v > 0) {
				t.Errorf("bad mean in %v", r)
			}
			seen[r[10]+"/"+r[11]]++
		}
		if seen["encoder/encoder"] != 12 || seen["decoder/decoder"] != 12 || seen["decoder/all"] != 12 {
			t.Errorf("stack/moved columns: %v", seen)
		}
		csvs[i], _ = os.ReadFile(filepath.Join(out, "change.csv"))
	}
	if !bytes.Equal(csvs[0], csvs[1]) {
		t.Error("two identical runs wrote different change.csv")
	}
}

// analyze grads and dependency --task translate report both stacks, at
// initialization and for a trained translator's checkpoint; a
// checkpoint of the other kind is refused in one line.
func TestAnalyzeGradsDependencyTranslate(t *testing.T) {
	dir := t.TempDir()
	gout := filepath.Join(dir, "g")
	code, stdout, e := runCLI(t, append([]string{"analyze", "grads"}, tinyPairs(t, dir, "--layers", "2", "--encoder-layers", "3", "--seeds", "1", "--out", gout)...)...)
	if code != 0 {
		t.Fatalf("grads: exit %d: %s", code, e)
	}
	for _, w := range []string{"postln enc attn", "admin dec cross", "preln dec self"} {
		if !strings.Contains(stdout, w) {
			t.Errorf("grads stdout lacks %q:\n%s", w, stdout)
		}
	}
	checkReport(t, gout, "grads.csv", "grads_postln_encoder.png", "grads_admin_decoder.svg", "grads_relative_encoder.png", "grads_relative_decoder.svg")
	g := readCSV(t, filepath.Join(gout, "grads.csv"))
	if len(g) != 1+3*(2*3+3*2) {
		t.Errorf("grads.csv has %d rows, want 37", len(g))
	}
	for _, r := range g[1:] {
		rel, err := strconv.ParseFloat(r[10], 64)
		if err != nil || !(rel > 0 && rel <= 1) {
			t.Errorf("relative norm in %v", r)
		}
	}

	dout := filepath.Join(dir, "d")
	if code, _, e := runCLI(t, append([]string{"analyze", "dependency"}, tinyPairs(t, dir, "--layers", "2", "--out", dout)...)...); code != 0 {
		t.Fatalf("dependency: exit %d: %s", code, e)
	}
	checkReport(t, dout, "dependency.csv", "dependency_postln_encoder.png", "dependency_admin_decoder.png")
	sums := map[string]float64{}
	for _, r := range readCSV(t, filepath.Join(dout, "dependency.csv"))[1:] {
		v, err := strconv.ParseFloat(r[5], 64)
		if err != nil {
			t.Fatal(err)
		}
		sums[r[0]+" "+r[6]+" "+r[1]] += v
	}
	if len(sums) != 3*(4+6) {
		t.Errorf("%d rows of shares, want 30", len(sums))
	}
	for k, s := range sums {
		if math.Abs(s-1) > 1e-9 {
			t.Errorf("row %s sums to %.12f", k, s)
		}
	}

	run := filepath.Join(dir, "run")
	_, src, tgt := writePairs(t, dir, 60)
	if code, _, e := runCLI(t, "train", "--task", "translate", "--src", src, "--tgt", tgt, "--layers", "1", "--encoder-layers", "2", "--d-model", "16",
		"--heads", "2", "--d-ff", "32", "--seq-len", "32", "--max-tokens", "128", "--bpe-merges", "60", "--steps", "2", "--warmup", "1",
		"--bleu-every", "0", "--threads", "1", "--val-frac", "0.1", "--out", run); code != 0 {
		t.Fatalf("train: exit %d: %s", code, e)
	}
	ck := filepath.Join(run, "model.safetensors")
	cout := filepath.Join(dir, "gc")
	code, stdout, e = runCLI(t, "analyze", "grads", "--task", "translate", "--checkpoint", ck, "--src", src, "--tgt", tgt, "--val-frac", "0.1",
		"--max-tokens", "128", "--seeds", "1", "--out", cout)
	if code != 0 {
		t.Fatalf("grads --checkpoint: exit %d: %s", code, e)
	}
	if !strings.Contains(stdout, "checkpoint enc attn") || !strings.Contains(stdout, "init dec cross") {
		t.Errorf("grads --checkpoint stdout: %s", stdout)
	}
	if g := readCSV(t, filepath.Join(cout, "grads.csv")); len(g) != 1+2*(4+3) {
		t.Errorf("grads.csv of the checkpoint has %d rows, want 15", len(g))
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"analyze", "grads", "--checkpoint", ck, "--out", filepath.Join(dir, "x")}, "with --task translate"},
		{[]string{"analyze", "dependency", "--task", "lm", "--checkpoint", ck, "--out", filepath.Join(dir, "x")}, "with --task translate"},
		{[]string{"analyze", "dependency", "--task", "translate", "--checkpoint", ck, "--encoder-layers", "4", "--out", filepath.Join(dir, "x")}, "--encoder-layers does not apply with --checkpoint"},
		{[]string{"analyze", "change", "--task", "translate", "--encoder-layers", "4", "--out", filepath.Join(dir, "x")}, "--depths"},
		{[]string{"analyze", "grads", "--task", "translate", "--batch-size", "4", "--out", filepath.Join(dir, "x")}, "--batch-size does not apply"},
		{[]string{"analyze", "grads", "--task", "translate", "--bleu-every", "4", "--out", filepath.Join(dir, "x")}, "--bleu-every does not apply"},
		{[]string{"analyze", "grads", "--max-tokens", "4", "--out", filepath.Join(dir, "x")}, "needs --task translate"},
	} {
		code, _, e := runCLI(t, c.args...)
		if code == 0 || !strings.Contains(e, c.want) || strings.Count(strings.TrimSpace(e), "\n") > 1 {
			t.Errorf("%v: exit %d, %q (want %q)", c.args, code, e, c.want)
		}
	}
}
