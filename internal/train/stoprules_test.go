package train

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/clinic-ml/clinic/internal/limits"
	"github.com/clinic-ml/clinic/internal/metrics"
	"github.com/clinic-ml/clinic/internal/optim"
	"github.com/clinic-ml/clinic/model"
)

// smallLM is a language model on a training text of n bytes.
func smallLM(t *testing.T, n int) *LM {
	t.Helper()
	text := bytes.Repeat([]byte("four score and seven years ago our fathers brought forth "), 60)
	cfg := model.Config{Layers: 1, DModel: 16, Heads: 2, DFF: 32, SeqLen: 16, Vocab: 256, Norm: model.PreLN,
		Dropout: 0.1, AttnDropout: 0.1, ActDropout: 0.1, Activation: "relu", LNEps: 1e-5}
	lm, err := NewLM(LMConfig{Pool: testPool(), Model: cfg, Batch: 2, EvalBatches: 1, Seed: 1, Train: text[:n], Val: text[3000:],
		TrainName: "train", ValName: "val"})
	if err != nil {
		t.Fatal(err)
	}
	return lm
}

// scripted is a task whose validation loss and score are functions of
// the step (set by BeforeStep), so that when --patience stops is known.
type scripted struct {
	Resumable
	step int
	loss func(step int) float64
}

func (s *scripted) Evaluate() (float64, error) { return s.loss(s.step), nil }

// Epochs passes on the task's epochs (an interface field does not).
func (s *scripted) Epochs(tokens int64) int { return s.Resumable.(Epocher).Epochs(tokens) }

// valLoss: the best is 3 at step 8, equalled (not bettered) at 14.
var valLoss = map[int]float64{2: 5, 4: 4, 6: 4.5, 8: 3, 10: 3.5, 12: 3.2, 14: 3, 16: 3.9, 18: 2, 20: 2}

// valBLEU (every 3 steps): the best is 20 at step 9.
var valBLEU = map[int]float64{3: 10, 6: 12, 9: 20, 12: 19, 15: 20, 18: 5, 21: 30}

// stopRun trains task in dir (a fresh run, or with resume the run saved
// there) to steps at most under rules, evaluating every 2 steps and
// scoring val_bleu every 3, saving every 4 and stopping on request
// after step stopAt (0: never). It returns the result, Run's error and
// the metrics.
func stopRun(t *testing.T, task Resumable, dir string, steps int, rules StopRules, stopAt int, resume bool) (*Result, error, []map[string]any) {
	t.Helper()
	mpath, ckpt, state := filepath.Join(dir, "metrics.jsonl"), filepath.Join(dir, "model.safetensors"), filepath.Join(dir, StateFile)
	s := &scripted{Resumable: task, loss: func(step int) float64 { return valLoss[step] }}
	stop := make(chan struct{})
	o := adam()
	o.Warmup = 4
	tr, err := New(s, Options{Steps: steps, EvalEvery: 2, SaveEvery: 4, Optim: o, Checkpoint: ckpt, State: state, Stop: stop, Rules: rules,
		Scores: []Score{{Name: "val_bleu", Every: 3, Eval: func() (float64, error) { return valBLEU[s.step], nil }}},
		BeforeStep: func(step int) {
			s.step = step
			if step == stopAt {
				close(stop)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	open := metrics.Create
	if resume {
		st, err := ReadState(state)
		if err != nil {
			t.Fatal(err)
		}
		if err := tr.Restore(st, ckpt); err != nil {
			t.Fatal(err)
		}
		s.step = st.Step
		if err := TruncateMetrics(mpath, st.CheckpointStep); err != nil {
			t.Fatal(err)
		}
		open = metrics.Append
	}
	mw, err := open(mpath)
	if err != nil {
		t.Fatal(err)
	}
	tr.SetMetrics(mw)
	res, err := tr.Run()
	mw.Close()
	recs, rerr := metrics.ReadAll(mpath)
	if rerr != nil {
		t.Fatal(rerr)
	}
	return res, err, recs
}

// tasks are both tasks, fresh: the language model on 200 bytes of text
// (32 tokens a step: epoch 1 ends at step 7, epoch 2 at 13) and the toy
// translator, with the epochs they end at.
func stopTasks(t *testing.T) []struct {
	name   string
	task   func() Resumable
	epochs func(n int) int // the step epoch n ends at
} {
	per := toyTranslate(t, model.PreLN, 1).TrainStats().Batches
	return []struct {
		name   string
		task   func() Resumable
		epochs func(n int) int
	}{
		{"lm", func() Resumable { return smallLM(t, 200) }, func(n int) int { return (n*200 + 31) / 32 }},
		{"translate", func() Resumable { return toyTranslate(t, model.PreLN, 1) }, func(n int) int { return n * per }},
	}
}

// checkStopped checks that a run stopped by a rule after step with why,
// as a normal end: its last metrics record says so and has a
// validation and every score, the checkpoint is that of step.
func checkStopped(t *testing.T, dir string, res *Result, err error, recs []map[string]any, step int, why string) {
	t.Helper()
	if err != nil {
		t.Fatalf("a run a rule stops ends normally, got %v", err)
	}
	if res.Final.Step != step || res.Stopped != why {
		t.Fatalf("stopped after step %d (%q), want %d (%q)", res.Final.Step, res.Stopped, step, why)
	}
	last := recs[len(recs)-1]
	rule, _, _ := strings.Cut(why, " ")
	if len(recs) != step || last["stopped"] != rule || last["stop_reason"] != why || last["val_loss"] == nil || last["val_bleu"] == nil {
		t.Errorf("%d records, the last %v", len(recs), last)
	}
	for _, r := range recs[:len(recs)-1] {
		if r["stopped"] != nil {
			t.Errorf("record %v says stopped", r)
		}
	}
	_, meta, err := model.LoadCheckpoint(filepath.Join(dir, "model.safetensors"))
	if err != nil || meta["step"] != strconv.Itoa(step) {
		t.Errorf("checkpoint of step %v (%v), want %d", meta["step"], err, step)
	}
	if st, err := ReadState(filepath.Join(dir, StateFile)); err != nil || st.Step != step {
		t.Errorf("trainer state: %v", err)
	}
}

// --max-epoch stops at the end of the epoch, for each task's epochs.
func TestStopMaxEpoch(t *testing.T) {
	setTestThreads(1)
	defer setTestThreads(0)
	for _, tc := range stopTasks(t) {
		for _, n := range []int{1, 2} {
			dir := t.TempDir()
			res, err, recs := stopRun(t, tc.task(), dir, 100, StopRules{MaxEpoch: n}, 0, false)
			step := tc.epochs(n)
			checkStopped(t, dir, res, err, recs, step, "max-epoch "+strconv.Itoa(n)+" (epoch "+strconv.Itoa(n)+" ended at step "+strconv.Itoa(step)+")")
		}
	}
}

// --stop-min-lr stops after the first step past warm-up whose learning
// rate is at or below it (not during warm-up, whose rates are lower).
func TestStopMinLR(t *testing.T) {
	setTestThreads(1)
	defer setTestThreads(0)
	o := adam()
	o.Warmup = 4
	x := optim.LR(o, 10)
	if optim.LR(o, 1) > x || optim.LR(o, 9) <= x {
		t.Fatal("the test wants warm-up rates below the threshold")
	}
	for _, tc := range stopTasks(t) {
		dir := t.TempDir()
		res, err, recs := stopRun(t, tc.task(), dir, 100, StopRules{MinLR: x}, 0, false)
		checkStopped(t, dir, res, err, recs, 10, fmt.Sprintf("stop-min-lr %g (learning rate 0.0006325 at step 10)", x))
		if recs[9]["lr"] != x {
			t.Errorf("step 10's learning rate %v, want %v", recs[9]["lr"], x)
		}
	}
}

// --patience stops after N validations in a row without a strictly
// better value: validation loss (the best, step 8's, equalled at 14) or
// BLEU (the best, step 9's, equalled at 15). --steps stays the bound.
func TestStopPatience(t *testing.T) {
	setTestThreads(1)
	defer setTestThreads(0)
	for _, tc := range stopTasks(t) {
		for _, c := range []struct {
			rules      StopRules
			steps, end int
			why        string
		}{
			{StopRules{Patience: 3}, 100, 14, "patience 3 (no better val_loss since step 8)"},
			{StopRules{Patience: 4, BestMetric: BestLoss}, 100, 16, "patience 4 (no better val_loss since step 8)"},
			{StopRules{Patience: 2, BestMetric: BestBLEU}, 100, 15, "patience 2 (no better val_bleu since step 9)"},
			{StopRules{Patience: 3, BestMetric: BestBLEU}, 100, 18, "patience 3 (no better val_bleu since step 9)"},
		} {
			dir := t.TempDir()
			res, err, recs := stopRun(t, tc.task(), dir, c.steps, c.rules, 0, false)
			checkStopped(t, dir, res, err, recs, c.end, c.why)
		}
		// --steps first: a normal end, which says nothing of stopping.
		dir := t.TempDir()
		res, err, recs := stopRun(t, tc.task(), dir, 12, StopRules{Patience: 2}, 0, false)
		if err != nil || res.Final.Step != 12 || res.Stopped != "" || len(recs) != 12 || recs[11]["stopped"] != nil {
			t.Errorf("%s: --steps 12 before the patience runs out: %v, %+v", tc.name, err, res)
		}
	}
}

// A run stopped (a signal) mid-patience or mid-epoch, then resumed,
// stops at the same step as the uninterrupted run, with the same
// checkpoint, state and metrics; resumed once more, it stops again at
// once.
func TestStopResume(t *testing.T) {
	setTestThreads(1)
	defer setTestThreads(0)
	for _, tc := range stopTasks(t) {
		end := tc.epochs(2)
		for _, c := range []struct {
			rules StopRules
			end   int
			why   string
		}{
			{StopRules{Patience: 4}, 16, "patience 4 (no better val_loss since step 8)"},
			{StopRules{MaxEpoch: 2}, end, fmt.Sprintf("max-epoch 2 (epoch 2 ended at step %d)", end)},
		} {
			ref := t.TempDir()
			_, _, want := stopRun(t, tc.task(), ref, 100, c.rules, 0, false)
			for _, k := range []int{c.end - 5, c.end - 2} {
				dir := t.TempDir()
				_, err, _ := stopRun(t, tc.task(), dir, 100, c.rules, k, false)
				var se *StoppedError
				if !errors.As(err, &se) || se.Step != k {
					t.Fatalf("%s: stop after %d: %v", tc.name, k, err)
				}
				res, err, got := stopRun(t, tc.task(), dir, 100, c.rules, 0, true)
				checkStopped(t, dir, res, err, got, c.end, c.why)
				for _, name := range []string{"model.safetensors", StateFile} {
					if a, b := comparable(t, filepath.Join(ref, name)), comparable(t, filepath.Join(dir, name)); !bytes.Equal(a, b) {
						t.Errorf("%s: stopped at %d and resumed: %s differs from the uninterrupted run's", tc.name, k, name)
					}
				}
				if a, b := sameRecords(want), sameRecords(got); a != b {
					t.Errorf("%s: stopped at %d and resumed: metrics\n%s\nwant\n%s", tc.name, k, b, a)
				}
				res, err, again := stopRun(t, tc.task(), dir, 200, c.rules, 0, true)
				if err != nil || res.Final.Step != c.end || res.Stopped != c.why || len(again) != c.end {
					t.Errorf("%s: resumed after the stop: %v, %+v, %d records", tc.name, err, res, len(again))
				}
			}
		}
	}
}

// sameRecords is the metrics without the measured throughput.
func sameRecords(recs []map[string]any) string {
	var b strings.Builder
	for _, r := range recs {
		delete(r, "tokens_per_s")
		delete(r, "time")
		js, _ := json.Marshal(r)
		b.Write(append(js, '\n'))
	}
	return b.String()
}

// Every record carries the schema version.
func TestMetricsSchemaField(t *testing.T) {
	setTestThreads(1)
	defer setTestThreads(0)
	_, err, recs := stopRun(t, smallLM(t, 200), t.TempDir(), 3, StopRules{}, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r["schema"] != float64(metrics.Schema) {
			t.Errorf("record %v: schema %v, want %d", r, r["schema"], metrics.Schema)
		}
	}
}

// Bad rules are usage errors naming their flag, in one line; the
// trainer refuses a metric it does not score and a task without epochs.
func TestStopRulesCheck(t *testing.T) {
	for _, c := range []struct {
		r         StopRules
		translate bool
		want      string
	}{
		{StopRules{MaxEpoch: -1}, true, "--max-epoch must be ≥ 0, got -1"},
		{StopRules{Patience: -2}, true, "--patience must be ≥ 0, got -2"},
		{StopRules{BestMetric: "auc"}, true, `--best-metric must be loss or bleu, got "auc"`},
		{StopRules{BestMetric: BestBLEU}, false, "--best-metric bleu needs --task translate (validation BLEU)"},
		{StopRules{MinLR: -1}, true, "--stop-min-lr must be finite and ≥ 0, got -1"},
		{StopRules{MinLR: math.NaN()}, true, "--stop-min-lr must be finite and ≥ 0, got NaN"},
		{StopRules{MinLR: math.Inf(1)}, true, "--stop-min-lr must be finite and ≥ 0, got +Inf"},
		{StopRules{MinLR: 1e-3}, true, "--stop-min-lr 0.001 must be below --lr 0.001 (the run would stop once warm-up ends)"},
		{StopRules{MaxEpoch: 1 << 40, Patience: 1 << 40, BestMetric: BestBLEU, MinLR: 1e-9}, true, ""},
	} {
		err := c.r.check(c.translate, 1e-3)
		var ue limits.UsageError
		if c.want == "" && err != nil || c.want != "" && (!errors.As(err, &ue) || err.Error() != c.want) {
			t.Errorf("%+v: %v, want %q", c.r, err, c.want)
		}
	}
	j := Job{Steps: 1, UpdateFreq: 1, Batch: 1, EvalEvery: 1, EvalBatches: 1, Optim: adam(), ValFrac: 0.1, Dir: "x", AdminInit: "profile",
		Rules: StopRules{BestMetric: BestBLEU}}
	j.Optim.Name, j.Optim.Schedule = "adam", "invsqrt"
	if err := j.Check(); err == nil || !strings.Contains(err.Error(), "--best-metric bleu needs --task translate") {
		t.Errorf("a language model's job with --best-metric bleu: %v", err)
	}
	if _, err := New(smallLM(t, 200), Options{Steps: 1, EvalEvery: 1, Optim: adam(), Rules: StopRules{Patience: 1, BestMetric: BestBLEU}}); err == nil {
		t.Error("New accepted --patience on val_bleu without a val_bleu score")
	}
	if _, err := New(noEpochs{smallLM(t, 200)}, Options{Steps: 1, EvalEvery: 1, Optim: adam(), Rules: StopRules{MaxEpoch: 1}}); err == nil {
		t.Error("New accepted --max-epoch for a task without epochs")
	}
}

// noEpochs hides the task's epochs.
type noEpochs struct{ Task }
