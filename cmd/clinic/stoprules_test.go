package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clinic-ml/clinic/internal/metrics"
)

// The stopping rules' bad values are usage errors: exit 2, one line
// naming the flag, before any work; for 'clinic train' and the sweeps.
func TestStopRulesFlags(t *testing.T) {
	t.Chdir(t.TempDir()) // a command that wrongly started would write here
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"train", "--patience", "-1"}, "--patience must be ≥ 0, got -1"},
		{[]string{"train", "--max-epoch", "-3"}, "--max-epoch must be ≥ 0, got -3"},
		{[]string{"train", "--best-metric", "auc"}, `--best-metric must be loss or bleu, got "auc"`},
		{[]string{"train", "--best-metric", "bleu", "--patience", "3"}, "--best-metric bleu needs --task translate"},
		{[]string{"train", "--task", "translate", "--best-metric", "bleu", "--bleu-every", "0"}, "--best-metric bleu needs validation BLEU: give --bleu-every N"},
		{[]string{"train", "--stop-min-lr", "-1e-5"}, "--stop-min-lr must be finite and ≥ 0"},
		{[]string{"train", "--stop-min-lr", "2e-3", "--lr", "1e-3"}, "--stop-min-lr 0.002 must be below --lr 0.001"},
		{[]string{"analyze", "sweep", "--best-metric", "bleu"}, "--best-metric bleu needs --task translate"},
		{[]string{"analyze", "sweep", "--task", "translate", "--best-metric", "bleu"}, "--best-metric bleu needs validation BLEU"},
		{[]string{"analyze", "sweep", "--patience", "-2"}, "--patience must be ≥ 0, got -2"},
	} {
		code, _, e := runCLI(t, c.args...)
		if code != 2 || !strings.Contains(e, c.want) || strings.Count(strings.TrimSpace(e), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and one line with %q", c.args, code, e, c.want)
		}
	}
	if ents, _ := os.ReadDir("."); len(ents) > 0 {
		t.Errorf("a refused command wrote %s", ents[0].Name())
	}
}

// 'clinic train --max-epoch' stops at the end of the epoch and says so
// in its last line and the last metrics record; resumed with more
// --steps, it stops again at once, changing nothing. Without the rules
// the last line is as it always was.
func TestTrainStopsCLI(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "t.txt")
	// 900 bytes, 810 to train on: 32 bytes a step, epoch 1 ends at 26
	os.WriteFile(text, bytes.Repeat([]byte("the quick brown fox jumps over the lazy dog. "), 20), 0o644)
	args := func(out string, extra ...string) []string {
		return append([]string{"train", "--data", text, "--val-frac", "0.1", "--layers", "1", "--d-model", "16", "--heads", "2",
			"--d-ff", "32", "--seq-len", "16", "--batch-size", "2", "--threads", "1", "--eval-every", "10", "--eval-batches", "1",
			"--warmup", "4", "--out", out}, extra...)
	}
	a := filepath.Join(dir, "a")
	code, out, e := runCLI(t, args(a, "--steps", "100", "--max-epoch", "1")...)
	want := "; stopped: max-epoch 1 (epoch 1 ended at step 26)\n"
	if code != 0 || !strings.HasPrefix(lastLine(out), "clinic: step 26: train loss ") || !strings.HasSuffix(out, want) {
		t.Fatalf("exit %d, stdout %q, stderr %q; want the last line to end %q", code, out, e, want)
	}
	recs, err := metrics.ReadAll(filepath.Join(a, "metrics.jsonl"))
	if err != nil || len(recs) != 26 || recs[25]["stopped"] != "max-epoch" || recs[25]["val_loss"] == nil {
		t.Fatalf("metrics: %v, %d records, the last %v", err, len(recs), recs[len(recs)-1])
	}
	before, _ := os.ReadFile(filepath.Join(a, "metrics.jsonl"))
	code, out, e = runCLI(t, "train", "--resume", a, "--steps", "200")
	if code != 0 || !strings.HasPrefix(lastLine(out), "clinic: step 26: train loss NaN") || !strings.HasSuffix(out, want) {
		t.Errorf("resumed: exit %d, stdout %q, stderr %q", code, out, e)
	}
	if after, _ := os.ReadFile(filepath.Join(a, "metrics.jsonl")); !bytes.Equal(before, after) {
		t.Error("resuming a stopped run changed its metrics")
	}
	code, out, _ = runCLI(t, args(filepath.Join(dir, "b"), "--steps", "5", "--tensorboard", filepath.Join(dir, "tb"))...)
	if code != 0 || !strings.HasPrefix(lastLine(out), "clinic: step 5: train loss ") || strings.Contains(out, "stopped") {
		t.Errorf("without the rules: exit %d, %q", code, out)
	}
	// --tensorboard: an event file in DIR/<name of --out>, of a version
	// event and an event per step (framing: internal/metrics' tests).
	evs, _ := filepath.Glob(filepath.Join(dir, "tb", "b", "events.out.tfevents.*"))
	if len(evs) != 1 {
		t.Fatalf("event files %v", evs)
	}
	eb, _ := os.ReadFile(evs[0])
	n := 0
	for len(eb) >= 16 {
		eb = eb[16+binary.LittleEndian.Uint64(eb):]
		n++
	}
	if n != 6 || len(eb) != 0 {
		t.Errorf("%d events and %d stray bytes, want 6 and 0", n, len(eb))
	}
	if code, _, e := runCLI(t, args(filepath.Join(dir, "c"), "--tensorboard", text)...); code != 2 || !strings.Contains(e, "--tensorboard") {
		t.Errorf("--tensorboard naming a file: exit %d, %q", code, e)
	}
	// The sweeps take the rules with the training's flags.
	sw := filepath.Join(dir, "sweep")
	code, _, e = runCLI(t, "analyze", "sweep", "--data", text, "--val-frac", "0.1", "--d-model", "16", "--heads", "2", "--d-ff", "32",
		"--seq-len", "16", "--batch-size", "2", "--threads", "1", "--depths", "1", "--norms", "preln", "--steps", "100",
		"--eval-every", "10", "--eval-batches", "1", "--max-epoch", "1", "--out", sw)
	if code != 0 {
		t.Fatalf("sweep: exit %d: %s", code, e)
	}
	b, _ := os.ReadFile(filepath.Join(sw, "runs", "preln-L1", "result.json"))
	var r struct {
		FinalStep int `json:"final_step"`
	}
	if err := json.Unmarshal(b, &r); err != nil || r.FinalStep != 26 {
		t.Errorf("the sweep's run: %v, final step %d, want 26", err, r.FinalStep)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return fmt.Sprint(lines[len(lines)-1])
}
