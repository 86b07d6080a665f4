package train

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"github.com/clinic-ml/clinic/internal/data"
	"github.com/clinic-ml/clinic/model"
)

// lmOf is tinyLM's task with batch sequences a step and the given
// dropout (bf16: mixed precision).
func lmOf(t *testing.T, norm string, batch int, dropout float32, bf16 bool, seed uint64) *LM {
	t.Helper()
	text := bytes.Repeat([]byte("four score and seven years ago our fathers brought forth "), 60)
	cfg := model.Config{Layers: 2, DModel: 16, Heads: 2, DFF: 32, SeqLen: 16, Vocab: 256, Norm: norm,
		Dropout: dropout, AttnDropout: dropout, ActDropout: dropout, Activation: "relu", LNEps: 1e-5, BF16: bf16}
	lm, err := NewLM(LMConfig{Pool: testPool(), Model: cfg, Batch: batch, EvalBatches: 1, Seed: seed, Train: text[:3000], Val: text[3000:],
		TrainName: "train", ValName: "val"})
	if err != nil {
		t.Fatal(err)
	}
	return lm
}

// stepOnce takes one step of task with Options.UpdateFreq uf, without
// clipping (the gradient arena then holds the step's gradient).
func stepOnce(t *testing.T, task Task, uf int) StepStats {
	t.Helper()
	o := adam()
	o.Clip = 0
	tr, err := New(task, Options{Steps: 1, EvalEvery: 1, Optim: o, UpdateFreq: uf})
	if err != nil {
		t.Fatal(err)
	}
	st, err := tr.Step()
	if err != nil || st.Diverged {
		t.Fatalf("step: %+v %v", st, err)
	}
	return st
}

// sameGradients demands every gradient of a within 1e-6 of b's, and the
// steps' losses, norms and token counts the same (to 1e-6).
func sameGradients(t *testing.T, what string, a, b []float32, sa, sb StepStats) {
	t.Helper()
	worst, at := 0.0, -1
	for i := range a {
		if d := math.Abs(float64(a[i] - b[i])); !(d <= worst) {
			worst, at = d, i
		}
	}
	if !(worst <= 1e-6) {
		t.Errorf("%s: gradient %d is %v, want %v (off by %.3g)", what, at, a[at], b[at], worst)
	}
	if sa.Tokens != sb.Tokens || math.Abs(sa.Loss-sb.Loss) > 1e-6 || math.Abs(sa.GradNorm-sb.GradNorm) > 1e-6*sb.GradNorm {
		t.Errorf("%s: step %+v, want %+v", what, sa, sb)
	}
	t.Logf("%s: largest gradient difference %.3g, loss %v vs %v", what, worst, sa.Loss, sb.Loss)
}

// With dropout off, a step of --update-freq 2 on batches of 2 sequences
// is the step of one batch of the same 4 sequences (the sampler draws
// them in the same order), to 1e-6 in every gradient; in fp32 and in
// bf16 (whose GEMMs round the same inputs the same way).
func TestUpdateFreqLMEqualsDoubleBatch(t *testing.T) {
	setTestThreads(2)
	defer setTestThreads(0)
	for _, bf16 := range []bool{false, true} {
		acc, big := lmOf(t, model.PreLN, 2, 0, bf16, 5), lmOf(t, model.PreLN, 4, 0, bf16, 5)
		sa, sb := stepOnce(t, acc, 2), stepOnce(t, big, 1)
		if sa.Tokens != 4*16 {
			t.Fatalf("update of %d tokens, want 64", sa.Tokens)
		}
		what := "fp32"
		if bf16 {
			what = "bf16"
		}
		sameGradients(t, what, acc.P.G, big.P.G, sa, sb)
		if acc.sampler.State() != big.sampler.State() {
			t.Errorf("%s: the two batches drew other windows than the one batch", what)
		}
	}
}

// fixedPairs is a translation task whose training batches are the given
// ones, in turn.
type fixedPairs struct {
	*Translate
	batches []*data.PairBatch
	next    int
}

func (f *fixedPairs) TrainForward() (float64, int, error) {
	b := f.batches[f.next%len(f.batches)]
	f.next++
	return f.M.Forward(f.load(b, 0, b.N), true)
}

// pairBatch is the batch of pairs src[i]→tgt[i], all in one.
func pairBatch(t *testing.T, src, tgt [][]int32) *data.PairBatch {
	t.Helper()
	cfg := toyTranslate(t, model.PreLN, 1).cfg.Batching(0)
	e, err := data.NewPairEval(src, tgt, cfg)
	if err != nil || e.Batches() != 1 {
		t.Fatalf("%d batches, %v", e.Batches(), err)
	}
	return e.Batch(0)
}

// With dropout off, a translation step of --update-freq 2 is the step of
// one batch of both batches' pairs, to 1e-6 in every gradient: the
// batches hold 3 and 5 pairs of different lengths, so their gradients
// weigh by their target tokens (an average of the two batches' mean
// gradients would be off).
func TestUpdateFreqTranslateEqualsConcatenation(t *testing.T) {
	setTestThreads(2)
	defer setTestThreads(0)
	newTask := func() *Translate { return toyTranslateWith(t, model.PreLN, 3, 0) }
	src, tgt := EncodePairs(newTask().Codes, toyPairs(8, 9))
	for i := range src {
		src[i], tgt[i] = src[i][:len(src[i])-i%3], tgt[i][:len(tgt[i])-i%2] // lengths vary
	}
	b1, b2, both := pairBatch(t, src[:3], tgt[:3]), pairBatch(t, src[3:], tgt[3:]), pairBatch(t, src, tgt)
	if b1.TgtTokens*5 == b2.TgtTokens*3 {
		t.Fatal("the batches' tokens are proportional to their pairs: the test could not tell the weighting")
	}
	acc := &fixedPairs{Translate: newTask(), batches: []*data.PairBatch{b1, b2}}
	one := &fixedPairs{Translate: newTask(), batches: []*data.PairBatch{both}}
	sa, sb := stepOnce(t, acc, 2), stepOnce(t, one, 1)
	if sa.Tokens != b1.TgtTokens+b2.TgtTokens {
		t.Fatalf("update of %d tokens, want %d", sa.Tokens, b1.TgtTokens+b2.TgtTokens)
	}
	sameGradients(t, "translate", acc.P.G, one.P.G, sa, sb)
	// Three batches, the last the first again: the arena is rescaled
	// twice, up and down.
	b3 := pairBatch(t, src[:3], tgt[:3])
	acc3 := &fixedPairs{Translate: newTask(), batches: []*data.PairBatch{b1, b2, b3}}
	all := pairBatch(t, append(append([][]int32{}, src...), src[:3]...), append(append([][]int32{}, tgt...), tgt[:3]...))
	one3 := &fixedPairs{Translate: newTask(), batches: []*data.PairBatch{all}}
	sa, sb = stepOnce(t, acc3, 3), stepOnce(t, one3, 1)
	sameGradients(t, "translate, 3 batches", acc3.P.G, one3.P.G, sa, sb)
}

// A step of --update-freq N draws N batches and N dropout draws: after
// 3 steps of 2 batches the data and dropout streams are where 6 steps of
// one batch leave them. The same seed repeats the run bit for bit, at 1
// and at 2 threads, and a step allocates nothing.
func TestUpdateFreqStreamsAndDeterminism(t *testing.T) {
	defer setTestThreads(0)
	run := func(threads, uf, steps int) *LM {
		setTestThreads(threads)
		lm := lmOf(t, model.PreLN, 2, 0.1, false, 7)
		tr, err := New(lm, Options{Steps: steps, EvalEvery: steps, Optim: adam(), UpdateFreq: uf})
		if err != nil {
			t.Fatal(err)
		}
		for range steps {
			if st, err := tr.Step(); err != nil || st.Diverged || st.Tokens != uf*32 {
				t.Fatalf("step %+v: %v", st, err)
			}
		}
		if steps == 4 {
			if n := testing.AllocsPerRun(3, func() { tr.Step() }); n != 0 {
				t.Errorf("a step of update-freq %d allocates %v times", uf, n)
			}
		}
		return lm
	}
	run(2, 2, 4)
	a, b := run(2, 2, 3), run(1, 1, 6)
	if a.sampler.State() != b.sampler.State() || a.M.Draws() != b.M.Draws() || a.M.Draws() == 0 {
		t.Errorf("after 3 steps of 2 batches: sampler %d, draws %d; after 6 of one: %d, %d",
			a.sampler.State(), a.M.Draws(), b.sampler.State(), b.M.Draws())
	}
	c, d := run(2, 2, 3), run(1, 2, 3)
	if !bytes.Equal(f32bytes(c.P.W), f32bytes(d.P.W)) {
		t.Error("update-freq 2: 2 threads and 1 thread give different weights")
	}
	if !bytes.Equal(f32bytes(run(1, 2, 3).P.W), f32bytes(d.P.W)) {
		t.Error("update-freq 2: the same seed gives different weights")
	}
	if bytes.Equal(f32bytes(c.P.W), f32bytes(run(2, 1, 3).P.W)) {
		t.Error("update-freq 2 trains what update-freq 1 does")
	}
}

// Runs of --update-freq 2 stopped at a save point or between two, then
// resumed, end bit-identical to the uninterrupted run: a step's batches
// and dropout draws all lie between two saves (language model with
// dropout and Admin; translation, its resumed run crossing the end of
// an epoch).
func TestResumeUpdateFreqExact(t *testing.T) {
	resumeUpdateFreq = 2
	defer func() { resumeUpdateFreq = 0 }()
	checkResume(t, adminLM(t, 1), 9, []int{4, 5})
	newTask := func() Resumable {
		task := toyTranslate(t, model.Admin, 1)
		if err := task.SetAdminProfile(mustProfile(t, task)); err != nil {
			t.Fatal(err)
		}
		return task
	}
	if n := toyTranslate(t, model.PreLN, 1).TrainStats().Batches; n >= 16 || n <= 6 {
		t.Fatalf("%d batches per epoch: the test wants a stop mid-epoch and a resumed run crossing its end", n)
	}
	checkResume(t, newTask, 8, []int{3})
}

// A step of several batches whose loss turns NaN diverges like a step
// of one: the error names it and the weights it trained on are saved.
func TestUpdateFreqDivergence(t *testing.T) {
	dir := t.TempDir()
	lm := lmOf(t, model.PreLN, 2, 0.1, false, 1)
	ckpt := dir + "/model.safetensors"
	var good []float32
	tr, err := New(lm, Options{Steps: 10, EvalEvery: 5, Optim: adam(), Checkpoint: ckpt, UpdateFreq: 3,
		BeforeStep: func(step int) {
			if step == 4 {
				good = append([]float32(nil), lm.P.W...)
			}
			if step == 5 {
				lm.P.Layers[1].FC2W.W[3] = float32(math.NaN())
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := tr.Run()
	var de *DivergedError
	if !errors.As(err, &de) || de.Step != 5 || de.SavedStep != 4 || res.FailStep != 5 {
		t.Fatalf("want a DivergedError at step 5 saving step 4, got %v (%+v)", err, res)
	}
	p, _, err := model.LoadCheckpoint(ckpt)
	if err != nil || !bytes.Equal(f32bytes(p.W), f32bytes(good)) {
		t.Fatalf("the checkpoint is not the weights step 5 trained on (%v)", err)
	}
}
