package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/clinic-ml/clinic/internal/metrics"
	"github.com/clinic-ml/clinic/model"
)

// clinic train takes every --norm for both tasks: each run trains (the
// validation loss falls), repeats bit for bit with the same seed, and
// writes a checkpoint of its variant that translate and sample read.
func TestTrainEveryNorm(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "t.txt")
	os.WriteFile(text, bytes.Repeat([]byte("the quick brown fox jumps over the lazy dog. "), 400), 0o644)
	tsv, _, _ := writePairs(t, dir, 200)
	for _, norm := range []string{model.DeepNorm, model.ReZero, model.TFixup} {
		lm := func(out string) []string {
			return []string{"train", "--data", text, "--out", out, "--layers", "2", "--d-model", "32", "--heads", "2",
				"--d-ff", "64", "--seq-len", "32", "--batch-size", "4", "--steps", "40", "--eval-every", "20",
				"--warmup", "10", "--lr", "3e-3", "--norm", norm, "--threads", "2", "--seed", "7", "--val-frac", "0.1"}
		}
		a, b := filepath.Join(dir, norm+"-a"), filepath.Join(dir, norm+"-b")
		for _, out := range []string{a, b} {
			if code, _, e := runCLI(t, lm(out)...); code != 0 {
				t.Fatalf("%s: exit %d: %s", norm, code, e)
			}
		}
		ca, _ := os.ReadFile(filepath.Join(a, "model.safetensors"))
		cb, _ := os.ReadFile(filepath.Join(b, "model.safetensors"))
		if len(ca) == 0 || !bytes.Equal(ca, cb) {
			t.Errorf("%s: two runs with the same seed differ", norm)
		}
		recs, err := metrics.ReadAll(filepath.Join(a, "metrics.jsonl"))
		if err != nil || len(recs) != 40 {
			t.Fatalf("%s: %d metric lines, %v", norm, len(recs), err)
		}
		if v1, v2 := recs[19]["val_loss"].(float64), recs[39]["val_loss"].(float64); !(v2 < v1) {
			t.Errorf("%s: validation loss did not fall: %.3f → %.3f", norm, v1, v2)
		}
		p, _, err := model.LoadCheckpoint(filepath.Join(a, "model.safetensors"))
		if err != nil || p.Cfg.Norm != norm {
			t.Fatalf("%s: checkpoint %v, norm %q", norm, err, p.Cfg.Norm)
		}
		if norm == model.ReZero && p.Get("decoder.layers.1.ffn_alpha").W[0] == 0 {
			t.Error("rezero: α did not train")
		}
		if code, out, e := runCLI(t, "sample", "--checkpoint", filepath.Join(a, "model.safetensors"), "--prompt", "the", "--length", "5", "--temperature", "0"); code != 0 || !strings.HasPrefix(out, "the") {
			t.Errorf("%s: sample: exit %d, %q %q", norm, code, out, e)
		}
		if code, _, e := runCLI(t, append(lm(filepath.Join(dir, norm+"-p")), "--admin-init", "free")...); code != 2 || !strings.Contains(e, "need --norm admin") {
			t.Errorf("%s with --admin-init free: exit %d, %q", norm, code, e)
		}

		out := filepath.Join(dir, norm+"-mt")
		code, _, e := runCLI(t, "train", "--task", "translate", "--out", out, "--encoder-layers", "2", "--layers", "2",
			"--d-model", "32", "--heads", "2", "--d-ff", "64", "--max-len", "16", "--max-tokens", "256", "--norm", norm,
			"--steps", "20", "--eval-every", "10", "--bleu-every", "20", "--warmup", "5", "--lr", "3e-3", "--threads", "2",
			"--val-frac", "0.05", "--data", tsv, "--columns", "2,3", "--bpe-merges", "40")
		if code != 0 {
			t.Fatalf("%s translate: exit %d: %s", norm, code, e)
		}
		ck := filepath.Join(out, "model.safetensors")
		if p, _, err := model.LoadCheckpoint(ck); err != nil || p.Cfg.Norm != norm || p.Cfg.EncoderLayers != 2 {
			t.Fatalf("%s translate checkpoint: %v", norm, err)
		}
		hyp, e2 := translateFile(t, ck, "three one four\nnine\n")
		if strings.Count(hyp, "\n") != 2 {
			t.Errorf("%s: clinic translate wrote %q (%s)", norm, hyp, e2)
		}
	}
}

// translateFile feeds in to clinic translate over ck.
func translateFile(t *testing.T, ck, in string) (string, string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "in.txt")
	os.WriteFile(f, []byte(in), 0o644)
	code, out, e := runCLI(t, "translate", "--checkpoint", ck, "--beam", "2", "--input", f)
	if code != 0 {
		t.Fatalf("translate: exit %d: %s", code, e)
	}
	return out, e
}

// analyze change and sweep take all six norms: every norm has its rows,
// ReZero's output does not move at initialization (every α = 0) while
// the others' does, and the sweep trains each.
func TestAnalyzeEveryNorm(t *testing.T) {
	dir := t.TempDir()
	text := tinyText(t, dir)
	all := strings.Join(model.Norms, ",")
	out := filepath.Join(dir, "change")
	code, stdout, e := runCLI(t, append([]string{"analyze", "change"}, tiny(text, "--depths", "1,2", "--seeds", "1", "--norms", all, "--out", out)...)...)
	if code != 0 {
		t.Fatalf("change: exit %d: %s", code, e)
	}
	md := checkReport(t, out, "change.csv", "change_random.png")
	if !strings.Contains(md, "ReZero starts with every α = 0") {
		t.Error("report does not explain ReZero's zero change")
	}
	seen := map[string]int{}
	for _, r := range readCSV(t, filepath.Join(out, "change.csv"))[1:] {
		v, err := strconv.ParseFloat(r[4], 64)
		if err != nil {
			t.Fatal(err)
		}
		seen[r[1]]++
		if (r[1] == model.ReZero) != (v == 0) {
			t.Errorf("%s %s L%s: change %g", r[0], r[1], r[2], v)
		}
	}
	for _, n := range model.Norms {
		if seen[n] != 4 || !strings.Contains(stdout, n) {
			t.Errorf("%s: %d rows in change.csv", n, seen[n])
		}
	}

	sw := filepath.Join(dir, "sweep")
	code, _, e = runCLI(t, append([]string{"analyze", "sweep"}, tiny(text, "--depths", "1", "--norms", "deepnorm,rezero,tfixup",
		"--steps", "6", "--eval-every", "3", "--eval-batches", "2", "--warmup", "2", "--lr", "3e-3", "--out", sw)...)...)
	if code != 0 {
		t.Fatalf("sweep: exit %d: %s", code, e)
	}
	rows := readCSV(t, filepath.Join(sw, "sweep.csv"))
	if len(rows) != 4 {
		t.Fatalf("sweep.csv has %d rows, want 4", len(rows))
	}
	for i, r := range rows[1:] {
		if want := []string{"deepnorm", "rezero", "tfixup"}[i]; r[1] != want || r[2] != "6" {
			t.Errorf("sweep row %v, want %s after 6 steps", r, want)
		}
	}
	// The translation sweep trains, averages and scores each new variant.
	tsv, _, _ := writePairs(t, dir, 300)
	test := filepath.Join(dir, "test.tsv")
	os.WriteFile(test, []byte("x\tfour two one\t4 2 1\ny\tnine nine zero\t9 9 0\n"), 0o644)
	mt := filepath.Join(dir, "mt")
	code, _, e = runCLI(t, "analyze", "sweep", "--task", "translate", "--data", tsv, "--columns", "2,3", "--test-data", test,
		"--depths", "1", "--norms", "deepnorm,rezero,tfixup", "--d-model", "32", "--heads", "2", "--d-ff", "64", "--max-len", "16",
		"--max-tokens", "256", "--bpe-merges", "40", "--steps", "20", "--save-every", "10", "--eval-every", "10",
		"--avg-last", "2", "--beam", "2", "--warmup", "5", "--lr", "3e-3", "--threads", "2", "--out", mt)
	if code != 0 {
		t.Fatalf("translate sweep: exit %d: %s", code, e)
	}
	rows = readCSV(t, filepath.Join(mt, "sweep.csv"))
	if len(rows) != 4 {
		t.Fatalf("translate sweep.csv has %d rows, want 4", len(rows))
	}
	for _, r := range rows[1:] {
		if r[6] != "trained" || r[5] != "2" || r[4] == "" {
			t.Errorf("translate sweep row %v: want trained, 2 checkpoints averaged and a BLEU", r)
		}
	}

	dep := filepath.Join(dir, "dep")
	if code, _, e := runCLI(t, append([]string{"analyze", "dependency"}, tiny(text, "--layers", "2", "--seeds", "1", "--norms", "deepnorm,tfixup", "--out", dep)...)...); code != 0 {
		t.Fatalf("dependency: exit %d: %s", code, e)
	}
	checkReport(t, dep, "dependency.csv", "dependency_deepnorm.png", "dependency_tfixup.png")
}
