package train

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/clinic-ml/clinic/asm"
	"github.com/clinic-ml/clinic/internal/metrics"
	"github.com/clinic-ml/clinic/internal/optim"
	"github.com/clinic-ml/clinic/model"
)

func tinyLM(t *testing.T, norm string, seed uint64) *LM {
	t.Helper()
	return lmOf(t, norm, 2, 0.1, false, seed)
}

// The tasks the tests build run on a pool of testThreads workers
// (setTestThreads; 0: one per CPU), so a test can change the width
// between tasks, as a resumed run may.
var (
	testThreads int
	testPools   = map[int]*asm.Pool{}
)

func setTestThreads(n int) { testThreads = n }

func testPool() *asm.Pool {
	p := testPools[testThreads]
	if p == nil {
		p = asm.NewPool(testThreads)
		testPools[testThreads] = p
	}
	return p
}

func adam() optim.Config {
	return optim.Config{Name: "adam", LR: 1e-3, Beta1: 0.9, Beta2: 0.98, Eps: 1e-8, Warmup: 2, Clip: 1}
}

// A run whose loss turns NaN stops with an error naming the step,
// writes the weights the last finite step trained on, and marks the
// metrics line.
func TestDivergenceRollsBack(t *testing.T) {
	setTestThreads(1)
	defer setTestThreads(0)
	dir := t.TempDir()
	lm := tinyLM(t, model.PostLN, 1)
	mw, err := metrics.Create(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	ckpt := filepath.Join(dir, "model.safetensors")
	var good []float32
	tr, err := New(lm, Options{Steps: 20, EvalEvery: 5, Optim: adam(), Checkpoint: ckpt, Metrics: mw,
		BeforeStep: func(step int) {
			if step == 7 {
				good = append([]float32(nil), lm.P.W...)
			}
			if step == 8 {
				lm.P.Layers[1].FC2W.W[3] = float32(math.NaN())
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := tr.Run()
	mw.Close()
	var de *DivergedError
	if !errors.As(err, &de) || de.Step != 8 || de.SavedStep != 7 {
		t.Fatalf("want a DivergedError at step 8 saving step 7, got %v", err)
	}
	if !res.Diverged || res.FailStep != 8 || res.Final.Step != 7 || len(res.Curve) != 1 {
		t.Fatalf("result %+v", res)
	}
	p, meta, err := model.LoadCheckpoint(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	if meta["step"] != "6" {
		t.Errorf("checkpoint step %q, want 6 (updates applied)", meta["step"])
	}
	for i := range good {
		if p.W[i] != good[i] {
			t.Fatalf("checkpoint weight %d = %v, want %v", i, p.W[i], good[i])
		}
	}
	recs, err := metrics.ReadAll(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 8 || recs[7]["diverged"] != true || recs[4]["val_loss"] == nil {
		t.Errorf("metrics %v", recs)
	}
}

// Two trainers with the same seed take bit-identical steps; a different
// seed gives different weights; a step allocates nothing.
func TestStepDeterministicNoAllocs(t *testing.T) {
	setTestThreads(2)
	defer setTestThreads(0)
	run := func(seed uint64, steps int) (*LM, *Trainer) {
		lm := tinyLM(t, model.Admin, seed)
		pr, err := lm.ProfileAdmin()
		if err != nil {
			t.Fatal(err)
		}
		if err := lm.SetAdminProfile(pr); err != nil {
			t.Fatal(err)
		}
		tr, err := New(lm, Options{Steps: steps, EvalEvery: 100, Optim: adam()})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < steps; i++ {
			st, err := tr.Step()
			if err != nil || st.Diverged || st.Step != i+1 || st.Tokens != 32 || !(st.LR > 0) {
				t.Fatalf("step %d: %+v %v", i+1, st, err)
			}
		}
		return lm, tr
	}
	a, _ := run(1, 5)
	b, tr := run(1, 5)
	c, _ := run(2, 5)
	if !bytes.Equal(f32bytes(a.P.W), f32bytes(b.P.W)) {
		t.Fatal("same seed, different weights")
	}
	if bytes.Equal(f32bytes(a.P.W), f32bytes(c.P.W)) {
		t.Fatal("different seeds, same weights")
	}
	if n := testing.AllocsPerRun(5, func() { tr.Step() }); n != 0 {
		t.Errorf("a training step allocates %v times", n)
	}
}

func f32bytes(x []float32) []byte {
	b := make([]byte, 0, 4*len(x))
	for _, v := range x {
		u := math.Float32bits(v)
		b = append(b, byte(u), byte(u>>8), byte(u>>16), byte(u>>24))
	}
	return b
}

// The loss falls when training a tiny model on repetitive text, and
// Run's curve ends where the run ended.
func TestRunLearns(t *testing.T) {
	lm := tinyLM(t, model.PreLN, 3)
	first, err := lm.Evaluate()
	if err != nil {
		t.Fatal(err)
	}
	o := adam()
	o.LR = 3e-3
	tr, err := New(lm, Options{Steps: 60, EvalEvery: 20, Optim: o})
	if err != nil {
		t.Fatal(err)
	}
	res, err := tr.Run()
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Curve) != 3 || res.Final.Step != 60 || res.Curve[2].ValLoss != res.Final.ValLoss {
		t.Fatalf("result %+v", res)
	}
	if !(res.Final.ValLoss < first-1) {
		t.Errorf("validation loss %.3f → %.3f: not learning", first, res.Final.ValLoss)
	}
}

// KeepLast keeps the last n saved checkpoints, numbered by step, and the
// newest equals the main checkpoint.
func TestKeepLast(t *testing.T) {
	dir := t.TempDir()
	lm := tinyLM(t, model.PreLN, 1)
	ckpt := filepath.Join(dir, "model.safetensors")
	tr, err := New(lm, Options{Steps: 10, EvalEvery: 10, SaveEvery: 2, KeepLast: 3, Optim: adam(), Checkpoint: ckpt})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Run(); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	want := []string{"checkpoint10.safetensors", "checkpoint6.safetensors", "checkpoint8.safetensors", "model.safetensors"}
	if fmt.Sprint(names) != fmt.Sprint(want) {
		t.Fatalf("run directory holds %v, want %v", names, want)
	}
	a, _ := os.ReadFile(ckpt)
	b, _ := os.ReadFile(filepath.Join(dir, "checkpoint10.safetensors"))
	if !bytes.Equal(a, b) {
		t.Error("checkpoint10 differs from the final checkpoint")
	}
}

// Scores run on their cadence and at the last step, go into the
// metrics, and keep the checkpoint of the best value.
func TestScores(t *testing.T) {
	dir := t.TempDir()
	lm := tinyLM(t, model.PreLN, 1)
	mw, _ := metrics.Create(filepath.Join(dir, "metrics.jsonl"))
	vals := []float64{3, 7, 5, 6}
	calls := 0
	best := filepath.Join(dir, "best.safetensors")
	tr, err := New(lm, Options{Steps: 10, EvalEvery: 5, Optim: adam(), Metrics: mw,
		Scores: []Score{{Name: "bleu", Every: 3, Best: best, Eval: func() (float64, error) {
			calls++
			return vals[calls-1], nil
		}}}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := tr.Run()
	mw.Close()
	if err != nil {
		t.Fatal(err)
	}
	if calls != 4 || res.BestStep["bleu"] != 6 || len(res.Scores["bleu"]) != 4 || res.Scores["bleu"][3].Step != 10 {
		t.Fatalf("calls %d, scores %v, best %v", calls, res.Scores, res.BestStep)
	}
	_, meta, err := model.LoadCheckpoint(best)
	if err != nil || meta["step"] != "6" {
		t.Fatalf("best checkpoint: %v, step %q", err, meta["step"])
	}
	recs, _ := metrics.ReadAll(filepath.Join(dir, "metrics.jsonl"))
	if recs[5]["bleu"] != 7.0 || recs[4]["bleu"] != nil {
		t.Errorf("metrics: step 6 %v, step 5 %v", recs[5]["bleu"], recs[4]["bleu"])
	}
}
