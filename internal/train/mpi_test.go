//go:build mpi

package train

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clinic-ml/clinic/internal/dist"
	"github.com/clinic-ml/clinic/model"
)

// The data-parallel tests run under mpirun:
//
//	go test -tags mpi -exec .ci/mpiexec -run MPI ./internal/train
//
// Outside mpirun (one rank) they skip.

var world dist.Comm

func TestMain(m *testing.M) {
	c, err := dist.Init()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	world = c
	code := m.Run()
	if code != 0 && c.Size() > 1 {
		c.Abort(code) // the other ranks may wait in a collective
	}
	c.Finalize()
	os.Exit(code)
}

// mpiUpdateFreq is the Options.UpdateFreq of the runs of runLM,
// runTranslate and checkOverlapMatchesSerial.
var mpiUpdateFreq int

// With --update-freq 2 each rank runs its share of two global batches
// before the one reduction of the step, which starts in the last
// batch's backward pass (the earlier passes report no buckets): the job
// trains what one process of update-freq 2 trains, dropout off or on,
// with shares of no rows or uneven ones (an empty share's batch still
// counts: the rank's arena keeps the scale of its last batch with
// rows), and the overlapped reductions match the serial ones bit for
// bit with two ranks.
func TestMPIUpdateFreq(t *testing.T) {
	needRanks(t)
	mpiUpdateFreq = 2
	defer func() { mpiUpdateFreq = 0 }()
	t.Run("lm", TestMPIEquivalentToOneProcess)
	t.Run("lm dropout", TestMPIRanksEqualWithDropout)
	t.Run("lm overlap", TestMPIOverlapMatchesSerial)
	t.Run("translate", TestMPITranslateEquivalentToOneProcess)
	t.Run("translate shares", TestMPITranslateEmptyAndUnevenShares)
	t.Run("translate overlap", TestMPITranslateOverlapMatchesSerial)
}

func needRanks(t *testing.T) {
	if world.Size() < 2 {
		t.Skip("not under mpirun (go test -tags mpi -exec .ci/mpiexec)")
	}
	setTestThreads(1)
	t.Cleanup(func() { setTestThreads(0) })
}

// shardLM is rank's share (ranks > 1) or the whole (ranks = 1) of an LM
// of global batch batch, dropout as given.
func shardLM(t *testing.T, rank, ranks, batch int, dropout float32, seed uint64) *LM {
	t.Helper()
	text := bytes.Repeat([]byte("four score and seven years ago our fathers brought forth on this continent "), 80)
	cfg := model.Config{Layers: 2, DModel: 16, Heads: 2, DFF: 32, SeqLen: 16, Vocab: 256, Norm: model.PreLN,
		Dropout: dropout, AttnDropout: dropout, ActDropout: dropout, Activation: "relu", LNEps: 1e-5}
	lm, err := NewLM(LMConfig{Pool: testPool(), Model: cfg, Batch: batch, EvalBatches: 2, Seed: seed, Train: text[:5000], Val: text[5000:],
		TrainName: "train", ValName: "val", Rank: rank, Ranks: ranks})
	if err != nil {
		t.Fatal(err)
	}
	return lm
}

func runLM(t *testing.T, lm *LM, comm dist.Comm, steps int, before func(int)) (*Result, error) {
	t.Helper()
	tr, err := New(lm, Options{Steps: steps, UpdateFreq: mpiUpdateFreq, EvalEvery: steps, Optim: adam(), Comm: comm, CheckEvery: 1, BeforeStep: before})
	if err != nil {
		t.Fatal(err)
	}
	return tr.Run()
}

// relDiff is ‖a−b‖/‖b‖.
func relDiff(a, b []float32) float64 {
	var d, n float64
	for i := range a {
		d += float64(a[i]-b[i]) * float64(a[i]-b[i])
		n += float64(b[i]) * float64(b[i])
	}
	return math.Sqrt(d / n)
}

// A job of N ranks, dropout off, trains the weights one process
// trains on the same global batches, up to the order of the sums (the
// reduced gradients differ by ~2e-7 relative, float32 rounding; Adam's
// early steps, m/√v, amplify that for near-zero gradients, to ~1e-5
// after 8 steps, so 4 steps are compared); every
// rank ends with bit-identical weights; the losses (training and
// validation) are the global ones.
func TestMPIEquivalentToOneProcess(t *testing.T) {
	needRanks(t)
	const steps, batch = 4, 4
	n := world.Size()
	lm := shardLM(t, world.Rank(), n, batch*n, 0, 7)
	res, err := runLM(t, lm, world, steps, nil)
	if err != nil {
		t.Fatal(err)
	}
	one := shardLM(t, 0, 1, batch*n, 0, 7)
	ref, err := runLM(t, one, nil, steps, nil)
	if err != nil {
		t.Fatal(err)
	}
	dw, dg := relDiff(lm.P.W, one.P.W), relDiff(lm.P.G, one.P.G)
	if dw > 1e-5 || dg > 1e-6 {
		t.Fatalf("rank %d: weights differ from one process's by %.3g, the last gradients by %.3g (relative)", world.Rank(), dw, dg)
	}
	t.Logf("rank %d: ‖Δw‖/‖w‖ = %.3g, ‖Δg‖/‖g‖ = %.3g after %d steps", world.Rank(), dw, dg, steps)
	for _, c := range [][2]float64{{res.Final.Loss, ref.Final.Loss}, {res.Final.ValLoss, ref.Final.ValLoss}} {
		if math.Abs(c[0]-c[1]) > 1e-5*math.Abs(c[1]) {
			t.Fatalf("rank %d: loss %v, one process %v (final %+v vs %+v)", world.Rank(), c[0], c[1], res.Final, ref.Final)
		}
	}
	h := WeightsHash(lm.P.W)
	b := []float64{float64(h >> 32), float64(h & 0xffffffff)}
	r0 := append([]float64(nil), b...)
	if err := world.AllreduceSum64(b); err != nil {
		t.Fatal(err)
	}
	if b[0] != r0[0]*float64(n) || b[1] != r0[1]*float64(n) {
		t.Fatalf("rank %d: the weight hashes differ across ranks", world.Rank())
	}
}

// With dropout on, every rank still ends each step with bit-identical
// weights (checked by the trainer after every step), and the job trains
// what one process trains: each rank's shares draw the masks of their
// global positions.
func TestMPIRanksEqualWithDropout(t *testing.T) {
	needRanks(t)
	n := world.Size()
	lm := shardLM(t, world.Rank(), n, 4*n, 0.1, 3)
	const steps = 3
	res, err := runLM(t, lm, world, steps, nil)
	if err != nil {
		t.Fatal(err)
	}
	one := shardLM(t, 0, 1, 4*n, 0.1, 3)
	ref, err := runLM(t, one, nil, steps, nil)
	if err != nil {
		t.Fatal(err)
	}
	dw := relDiff(lm.P.W, one.P.W)
	if dw > 1e-5 || math.Abs(res.Final.Loss-ref.Final.Loss) > 1e-5*ref.Final.Loss {
		t.Fatalf("rank %d, dropout on: weights differ from one process's by %.3g, loss %v vs %v", world.Rank(), dw, res.Final.Loss, ref.Final.Loss)
	}
	t.Logf("rank %d, dropout on: ‖Δw‖/‖w‖ = %.3g after %d steps", world.Rank(), dw, steps)
}

// Run starts every rank from rank 0's weights, whatever the others
// held: the same job from untouched weights ends bit-identical.
func TestMPIBroadcastsInitialWeights(t *testing.T) {
	needRanks(t)
	n := world.Size()
	lm := shardLM(t, world.Rank(), n, 2*n, 0, 5)
	if world.Rank() != 0 {
		lm.P.Init(99) // not rank 0's
	}
	if _, err := runLM(t, lm, world, 2, nil); err != nil {
		t.Fatal(err)
	}
	ref := shardLM(t, world.Rank(), n, 2*n, 0, 5)
	if _, err := runLM(t, ref, world, 2, nil); err != nil {
		t.Fatal(err)
	}
	for i := range ref.P.W {
		if lm.P.W[i] != ref.P.W[i] {
			t.Fatalf("rank %d: weight %d is %v, %v from rank 0's initial weights", world.Rank(), i, lm.P.W[i], ref.P.W[i])
		}
	}
}

// Weights that drift apart on one rank stop the run, on every rank,
// with an error naming the step.
func TestMPIMismatchNamesStep(t *testing.T) {
	needRanks(t)
	n := world.Size()
	lm := shardLM(t, world.Rank(), n, 2*n, 0, 5)
	_, err := runLM(t, lm, world, 6, func(step int) {
		if step == 4 && world.Rank() == n-1 {
			lm.P.W[0] += 0.5
		}
	})
	var me *RankMismatchError
	if !errors.As(err, &me) || me.Step != 4 || me.Ranks != 1 {
		t.Fatalf("rank %d: want a mismatch after step 4 on 1 rank, got %v", world.Rank(), err)
	}
}

// Reducing the finished layers' gradients while the backward pass goes
// on, in buckets of any size (the default 25 MB: all in one after the
// pass, for this model; 4000 bytes: each layer in pieces, during the
// pass), trains what reducing them all after the pass trains:
// bit-identical with two ranks (a+b is b+a whatever the buckets), to
// rounding (amplified by Adam's first steps, as above) with more.
func TestMPIOverlapMatchesSerial(t *testing.T) {
	needRanks(t)
	checkOverlapMatchesSerial(t, 4, []int{0, 4000, 3 << 10}, func() (Task, *model.Params) {
		lm := shardLM(t, world.Rank(), world.Size(), 2*world.Size(), 0.1, 11)
		return lm, lm.P
	})
}

// checkOverlapMatchesSerial trains task for steps with the reductions
// after the backward pass, then overlapped with it in buckets of each
// size, and demands the same weights: bit for bit with 2 ranks (the
// sums are taken in the same order), to 1e-5 with more.
func checkOverlapMatchesSerial(t *testing.T, steps int, buckets []int, task func() (Task, *model.Params)) {
	t.Helper()
	n := world.Size()
	run := func(serial bool, bucket int) *model.Params {
		tk, p := task()
		tr, err := New(tk, Options{Steps: steps, UpdateFreq: mpiUpdateFreq, EvalEvery: steps, Optim: adam(), Comm: world, CheckEvery: 1, SerialReduce: serial,
			BucketBytes: bucket})
		if err != nil {
			t.Fatal(err)
		}
		if tr.overlap == serial {
			t.Fatalf("overlap %v with SerialReduce %v", tr.overlap, serial)
		}
		if _, err := tr.Run(); err != nil {
			t.Fatal(err)
		}
		return p
	}
	b := run(true, 0)
	for _, bucket := range buckets {
		a := run(false, bucket)
		d := relDiff(a.W, b.W)
		if (n == 2 && d != 0) || d > 1e-5 {
			t.Fatalf("rank %d: overlapped (buckets of %d bytes) and serial reductions differ by %.3g", world.Rank(), bucket, d)
		}
	}
}

// The ranges the LM reports cover each layer once and are contiguous.
func TestMPILayerRanges(t *testing.T) {
	needRanks(t)
	lm := shardLM(t, 0, 1, 2, 0, 1)
	r := layerRanges(lm.P, "decoder.layers.%d.", lm.cfg.Model.Layers)
	if len(r) != 2 || r[0][0] != len(lm.P.Embed.W) || r[0][1] != r[1][0] || r[1][1] > len(lm.P.W) {
		t.Fatalf("layer ranges %v (embedding %d, arena %d)", r, len(lm.P.Embed.W), len(lm.P.W))
	}
}

// shardTranslate is the toy translation task as rank comm.Rank()'s
// share of a job (comm of more than one rank) or as one process (comm
// nil), with global batches of at most maxTokens tokens and maxSentences
// rows (0: no limit) and 13 validation pairs (an uneven BLEU split).
func shardTranslate(t *testing.T, comm dist.Comm, maxTokens, maxSentences int, dropout float32, seed uint64) *Translate {
	t.Helper()
	return shardTranslateNorm(t, comm, maxTokens, maxSentences, dropout, seed, model.PreLN)
}

// shardTranslateNorm is shardTranslate with the model's variant.
func shardTranslateNorm(t *testing.T, comm dist.Comm, maxTokens, maxSentences int, dropout float32, seed uint64, norm string) *Translate {
	t.Helper()
	trainPairs, val := toyPairs(120, 1), toyPairs(13, 2)
	codes := toyCodes(t, trainPairs)
	cfg := model.Config{EncoderLayers: 1, Layers: 2, DModel: 16, Heads: 2, DFF: 32, SeqLen: 16, Vocab: codes.Size(),
		Dropout: dropout, AttnDropout: dropout, ActDropout: dropout, Norm: norm, Activation: "relu",
		LNEps: 1e-5, LabelSmoothing: 0.1}
	tr, err := NewTranslate(TranslateConfig{Pool: testPool(), Model: cfg, Codes: codes, Train: trainPairs, Val: val, MaxTokens: maxTokens,
		MaxSentences: maxSentences, Seed: seed, SrcLang: "words", TgtLang: "digits", Comm: comm})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// runTranslate trains task for steps, validation loss and BLEU (greedy)
// at the last step.
func runTranslate(t *testing.T, task *Translate, comm dist.Comm, steps int) *Result {
	t.Helper()
	tr, err := New(task, Options{Steps: steps, UpdateFreq: mpiUpdateFreq, EvalEvery: steps, Optim: adam(), Comm: comm, CheckEvery: 1,
		Scores: []Score{{Name: "val_bleu", Every: steps, Eval: func() (float64, error) { return task.ValidBLEU(1, 4) }}}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := tr.Run()
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// sameOnAllRanks fails unless v is bit-identical on every rank.
func sameOnAllRanks(t *testing.T, what string, v float64) {
	t.Helper()
	b := math.Float64bits(v)
	r0, err := world.BroadcastBytes([]byte(fmt.Sprint(b)))
	if err != nil {
		t.Fatal(err)
	}
	diff := []float64{0}
	if string(r0) != fmt.Sprint(b) {
		diff[0] = 1
	}
	if err := world.AllreduceSum64(diff); err != nil {
		t.Fatal(err)
	}
	if diff[0] != 0 {
		t.Fatalf("rank %d: %s %v differs on %v rank(s) from rank 0's", world.Rank(), what, v, diff[0])
	}
}

// relDiffKeyBias is relDiff(a, b) over the weights of p other than the
// attention keys' biases, and the largest difference of those. A key's
// bias adds the same score to every key of a query, which the softmax
// removes: its true gradient is 0 and the computed one rounding noise,
// of either sign, which Adam's first steps (m/√v) turn into updates of
// ±lr whatever its size. Two summation orders (ranks, or threads) then
// differ there by up to about 2·lr per step, and in the relative norm
// of the whole arena by 1e-5 after a few steps of the toy model, which
// hides what the comparison is for.
func relDiffKeyBias(p *model.Params, a, b []float32) (rel, keyBias float64) {
	skip := make([]bool, len(a))
	d := p.Cfg.DModel
	off := 0
	for _, q := range p.List {
		var lo, hi int
		switch {
		case strings.HasSuffix(q.Name, "self_attn.qkv_proj.bias"):
			lo, hi = d, 2*d
		case strings.HasSuffix(q.Name, "encoder_attn.kv_proj.bias"):
			lo, hi = 0, d
		}
		for i := lo; i < hi; i++ {
			skip[off+i] = true
			keyBias = max(keyBias, math.Abs(float64(a[off+i]-b[off+i])))
		}
		off += len(q.W)
	}
	var dn, n float64
	for i := range a {
		if !skip[i] {
			dn += float64(a[i]-b[i]) * float64(a[i]-b[i])
			n += float64(b[i]) * float64(b[i])
		}
	}
	return math.Sqrt(dn / n), keyBias
}

// checkTranslateJob trains the toy translation task as a job of every
// rank and as one process on the same global batches and compares: the
// last reduced gradients to 1e-6 relative and the weights to 1e-5
// after steps (float32 summation order; the keys' biases apart, see
// relDiffKeyBias), the training and
// validation losses to 1e-5 (the job's shares weighted by their target
// tokens), the validation BLEU bit-identical on every rank and equal to
// one process's BLEU of the job's weights.
func checkTranslateJob(t *testing.T, maxTokens, maxSentences int, dropout float32, steps int) {
	t.Helper()
	job := shardTranslate(t, world, maxTokens, maxSentences, dropout, 7)
	res := runTranslate(t, job, world, steps)
	one := shardTranslate(t, nil, maxTokens, maxSentences, dropout, 7)
	ref := runTranslate(t, one, nil, steps)
	dw, kb := relDiffKeyBias(job.P, job.P.W, one.P.W)
	dg := relDiff(job.P.G, one.P.G)
	// Adam moves a weight by at most about the learning rate per step.
	if !(dw < 1e-5) || !(dg < 1e-6) || !(kb <= float64(steps)*2*adam().LR) {
		t.Fatalf("rank %d: weights differ from one process's by %.3g (key biases by up to %.3g), the last gradients by %.3g, after %d steps",
			world.Rank(), dw, kb, dg, steps)
	}
	t.Logf("rank %d, max-tokens %d, max-sentences %d, dropout %g: ‖Δw‖/‖w‖ = %.3g (key biases ≤ %.3g), ‖Δg‖/‖g‖ = %.3g after %d steps",
		world.Rank(), maxTokens, maxSentences, dropout, dw, kb, dg, steps)
	for _, c := range [][2]float64{{res.Final.Loss, ref.Final.Loss}, {res.Final.ValLoss, ref.Final.ValLoss}} {
		if !(math.Abs(c[0]-c[1]) <= 1e-5*math.Abs(c[1])) {
			t.Fatalf("rank %d: loss %v, one process %v (final %+v vs %+v)", world.Rank(), c[0], c[1], res.Final, ref.Final)
		}
	}
	sb := res.Scores["val_bleu"]
	if len(sb) != 1 || sb[0].Step != steps {
		t.Fatalf("rank %d: BLEU points %v", world.Rank(), sb)
	}
	sameOnAllRanks(t, "validation BLEU", sb[0].Value)
	sameOnAllRanks(t, "validation loss", res.Final.ValLoss)
	copy(one.P.W, job.P.W)
	want, err := one.ValidBLEU(1, 4)
	if err != nil {
		t.Fatal(err)
	}
	if sb[0].Value != want {
		t.Fatalf("rank %d: the job's validation BLEU %v, one process's on the same weights %v", world.Rank(), sb[0].Value, want)
	}
}

// Translation as a job of N ranks trains what one process trains on the
// same global batches, dropout off: token batches split by rows, the
// shares' losses and gradients weighted by their target tokens.
func TestMPITranslateEquivalentToOneProcess(t *testing.T) {
	needRanks(t)
	checkTranslateJob(t, 96, 0, 0, 4)
}

// With dropout on, each rank's rows draw the masks of their global
// rows: the job still trains what one process trains (and the trainer
// checks bit-identical weights on every rank after every step).
func TestMPITranslateRanksEqualWithDropout(t *testing.T) {
	needRanks(t)
	checkTranslateJob(t, 96, 0, 0.1, 3)
}

// Batches of fewer sentences than ranks (one row: every rank but 0 has
// none, in training, validation and BLEU), batches that split unevenly
// (N+1 rows) and batches of 1 to 3 rows in turn (max-tokens 14: a rank
// without rows on some steps must keep its dropout stream in step with
// the others' for the next) neither crash nor hang, and train what one
// process trains.
func TestMPITranslateEmptyAndUnevenShares(t *testing.T) {
	needRanks(t)
	for _, rows := range []int{1, world.Size() + 1} {
		checkTranslateJob(t, 96, rows, 0.1, 3)
	}
	checkTranslateJob(t, 14, 0, 0.1, 6)
}

// Admin's profile taken by a share of a job, whose model is planned for
// its rows only (max-tokens 96 with sequences of up to 16: a share of 2
// ranks holds at most 64 tokens), is the one a single process takes over
// the whole first batch.
func TestMPITranslateAdminProfile(t *testing.T) {
	needRanks(t)
	one := shardTranslateNorm(t, nil, 96, 0, 0.1, 5, model.Admin)
	want, err := one.ProfileAdmin()
	if err != nil {
		t.Fatal(err)
	}
	share := shardTranslateNorm(t, world, 96, 0, 0.1, 5, model.Admin)
	if share.cfg.shareTokens() >= 96 {
		t.Fatalf("the share's model is planned for %d tokens: the test needs less than the batch's 96", share.cfg.shareTokens())
	}
	got, err := share.ProfileAdmin()
	if err != nil {
		t.Fatalf("rank %d: %v", world.Rank(), err)
	}
	a, _ := json.Marshal(want)
	b, _ := json.Marshal(got)
	if string(a) != string(b) {
		t.Errorf("rank %d: profile of a share %s, one process %s", world.Rank(), b, a)
	}
}

// A translation run saved by a job resumes as one process, and a run
// saved by one process resumes as a job: both continue the run (to the
// rounding of the sums) that one process trains uninterrupted. The
// shares are cut from each global batch, so any number of ranks goes.
func TestMPITranslateResumeAcrossRanks(t *testing.T) {
	needRanks(t)
	const mid, steps = 2, 4
	var dir []byte
	if world.Rank() == 0 {
		d := t.TempDir()
		dir = []byte(d)
	}
	dir, err := world.BroadcastBytes(dir)
	if err != nil {
		t.Fatal(err)
	}
	base := string(dir)
	run := func(comm dist.Comm, sub string, from, to int) *Translate {
		task := shardTranslate(t, comm, 96, 0, 0.1, 5)
		o := Options{Steps: to, EvalEvery: to, Optim: adam(), Comm: comm, CheckEvery: 1}
		d := filepath.Join(base, sub)
		if sub != "" && (comm == nil || comm.Rank() == 0) {
			o.Checkpoint, o.State = filepath.Join(d, "model.safetensors"), filepath.Join(d, "state.safetensors")
		}
		tr, err := New(task, o)
		if err != nil {
			t.Fatal(err)
		}
		if from > 0 {
			s, err := ReadState(filepath.Join(d, "state.safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			if err := tr.Restore(s, filepath.Join(d, "model.safetensors")); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := tr.Run(); err != nil {
			t.Fatal(err)
		}
		return task
	}
	if world.Rank() == 0 {
		for _, sub := range []string{"job", "one"} {
			if err := os.MkdirAll(filepath.Join(base, sub), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	world.Barrier()
	straight := run(nil, "", 0, steps)
	// job → one process
	run(world, "job", 0, mid)
	world.Barrier()
	if world.Rank() == 0 {
		resumed := run(nil, "job", mid, steps)
		if d, kb := relDiffKeyBias(resumed.P, resumed.P.W, straight.P.W); !(d < 1e-5) || !(kb <= 2*steps*adam().LR) {
			t.Fatalf("a job's run resumed as one process differs from one process's by %.3g (key biases by %.3g)", d, kb)
		}
	}
	world.Barrier()
	// one process → job
	if world.Rank() == 0 {
		run(nil, "one", 0, mid)
	}
	world.Barrier()
	resumed := run(world, "one", mid, steps)
	if d, kb := relDiffKeyBias(resumed.P, resumed.P.W, straight.P.W); !(d < 1e-5) || !(kb <= 2*steps*adam().LR) {
		t.Fatalf("rank %d: one process's run resumed as a job differs from one process's by %.3g (key biases by %.3g)", world.Rank(), d, kb)
	}
}

// Translation reduces its finished layers during the backward pass too
// (a rank without rows reports them all the same, or the collectives
// would not match): whatever the buckets, it trains what reducing after
// the pass trains, bit for bit with two ranks, with shares of 0 to 3
// rows (max-tokens 14).
func TestMPITranslateOverlapMatchesSerial(t *testing.T) {
	needRanks(t)
	checkOverlapMatchesSerial(t, 5, []int{0, 4000, 12 << 10}, func() (Task, *model.Params) {
		task := shardTranslate(t, world, 14, 0, 0.1, 9)
		return task, task.P
	})
}

// Every rank trains in the precision rank 0 chose, whatever its own
// probe says, and rank 0's error (a bad CLINIC_PEAKS) stops every rank.
func TestMPIPrecisionFromRank0(t *testing.T) {
	needRanks(t)
	peaks := "fma:233,bf16:100" // bf16 does not pay here...
	if world.Rank() == 0 {
		peaks = "fma:233,bf16:476" // ...but does on rank 0
	}
	t.Setenv(PeaksEnv, peaks)
	j := Job{Comm: world, Precision: Auto}
	var out bytes.Buffer
	if err := j.ChoosePrecision(false, "", &out); err != nil {
		t.Fatal(err)
	}
	if j.Precision != BF16 || !j.Model.BF16 {
		t.Errorf("rank %d: precision %q (BF16 %v), want rank 0's bf16", world.Rank(), j.Precision, j.Model.BF16)
	}
	if (out.Len() > 0) != (world.Rank() == 0) {
		t.Errorf("rank %d printed %q", world.Rank(), out.String())
	}
	if world.Rank() == 0 {
		t.Setenv(PeaksEnv, "fma:x")
	}
	j = Job{Comm: world, Precision: Auto}
	if err := j.ChoosePrecision(false, "", &out); err == nil || !strings.Contains(err.Error(), PeaksEnv) {
		t.Errorf("rank %d: rank 0's bad %s gave %v", world.Rank(), PeaksEnv, err)
	}
}
