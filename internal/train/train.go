// Package train is clinic's training loop: one training step (forward,
// backward, gradient norm, clipping, optimizer update) and the run around
// it (evaluation cadence, metrics, checkpoints, rollback on divergence).
//
// What is trained is a Task: a model over its data. The command line,
// the depth sweep and the benchmarks all drive the same Trainer, so a
// benchmark of Step measures what users run. A new kind of model
// (translation) is a new Task; resuming restores the Trainer's and the
// Task's state; data-parallel training reduces the gradients between the
// backward pass and the update in Step.
package train

import (
	"encoding/binary"
	"fmt"
	"github.com/clinic-ml/clinic/asm"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/clinic-ml/clinic/internal/dist"
	"github.com/clinic-ml/clinic/internal/metrics"
	"github.com/clinic-ml/clinic/internal/optim"
	"github.com/clinic-ml/clinic/internal/phase"
	"github.com/clinic-ml/clinic/model"
)

// A Task is a model over its data.
type Task interface {
	// Params are the trainable tensors; their arenas (W, G) are what
	// the optimizer updates and what the divergence rollback copies.
	Params() *model.Params
	// TrainForward draws the next training batch and runs the forward
	// pass with dropout on. It returns the mean loss and the number of
	// target tokens in the batch (for a rank's share of a job, in its
	// share, which may hold none: the Trainer weights the shares by
	// their tokens).
	TrainForward() (loss float64, tokens int, err error)
	// Backward accumulates into Params' gradients the gradient of the
	// last TrainForward's loss.
	Backward() error
	// Evaluate returns the validation loss, dropout off.
	Evaluate() (float64, error)
	// SaveCheckpoint writes the current weights, atomically, recording
	// that they are the result of step optimizer steps.
	SaveCheckpoint(path string, step int) error
	// Pool is the worker pool the task's model runs on, which the
	// trainer's own work (zeroing, the gradient norm, the optimizer)
	// shares.
	Pool() *asm.Pool
}

// Options configure a Trainer.
type Options struct {
	Steps     int          // optimizer steps of the run
	EvalEvery int          // validate every EvalEvery steps and at the last
	SaveEvery int          // checkpoint every SaveEvery steps (0: only at the end)
	Optim     optim.Config // optimizer, schedule, clipping
	// UpdateFreq is the number of batches whose gradients each step
	// (optimizer update) accumulates, fairseq's --update-freq (0 or 1:
	// one). The step's loss and gradient are those of the mean over all
	// their tokens; every count above (steps, cadences, warm-up) is in
	// steps.
	UpdateFreq int

	Checkpoint string // checkpoint path ("" : none)
	// KeepLast, when positive, also keeps every saved checkpoint as
	// checkpoint<step>.safetensors beside Checkpoint, deleting all but
	// the last KeepLast of them (for checkpoint averaging).
	KeepLast int
	Metrics  *metrics.Writer // one JSON line per step (nil: none)

	// State, when set (with Checkpoint), is where each checkpoint's
	// trainer state is written, for resuming (see SaveState); the task
	// must then be Resumable. Run is saved in it verbatim (the caller's
	// settings, to check a resumed run against).
	State string
	Run   map[string]string
	// Stop, when it becomes ready (closed), makes Run finish the current
	// step, save the checkpoint and the state, and return a
	// *StoppedError.
	Stop <-chan struct{}

	// Scores are further evaluations run on their own cadence
	// (validation BLEU), logged in the metrics under their names.
	Scores []Score
	// Rules may end the run before Steps (--max-epoch, --patience,
	// --stop-min-lr).
	Rules StopRules

	// OnStep, when set, sees every finished step (progress display).
	OnStep func(Progress)
	// BeforeStep, when set, runs before each step's forward pass (tests
	// use it to make a run diverge).
	BeforeStep func(step int)
	// Clock, when set, is charged the optimizer's share of each step
	// (zeroing gradients, their norm, clipping, the update); the task's
	// model charges the rest.
	Clock *phase.Clock

	// Comm, when of more than one rank, makes this trainer one rank of
	// a data-parallel job (see distributed.md): the task is this rank's
	// share of every global batch, Run starts from rank 0's weights,
	// Step averages the gradients (and the loss) over the ranks before
	// the norm, and validation losses are averaged over the ranks. Only
	// rank 0 should be given Metrics, Checkpoint, State, OnStep and
	// scores that write. nil: one process.
	Comm dist.Comm
	// SerialReduce reduces the gradients after the backward pass even
	// when the task is a GradReporter (without it, the layers the
	// backward pass has finished are reduced while it goes on).
	SerialReduce bool
	// BucketBytes caps the gradient bytes of one allreduce (0:
	// BucketFloats·4, 25 MB). During the backward pass consecutive
	// finished layers are merged into one bucket up to this size, so a
	// model of small layers makes few collectives (each costs latency on
	// every hop of the ring); a layer larger than this is split.
	BucketBytes int
	// CheckEvery, with more than one rank, compares a hash of the
	// weights across ranks every CheckEvery steps and at the end of
	// Run; a difference ends Run with a *RankMismatchError (0: at the
	// end only).
	CheckEvery int
	// BF16 marks the metrics of a run whose task trains in bf16 mixed
	// precision (model.Config.BF16): each step's line says
	// "precision": "bf16" (a resumed run may change precision; fp32
	// lines stay as they were).
	BF16 bool
}

// BucketFloats is the number of gradient elements reduced by one
// allreduce (25 MB, PyTorch DDP's bucket).
const BucketFloats = 25 << 20 / 4

// Score is an evaluation run every Every steps and at the last step,
// such as validation BLEU. Higher is better: with Best set, the
// checkpoint of the best value so far is kept there.
type Score struct {
	Name  string
	Every int
	Eval  func() (float64, error)
	Best  string // path of the best checkpoint ("": none)
}

// Progress is what a finished step reports to Options.OnStep.
type Progress struct {
	Step         int
	Loss         float64
	ValLoss      float64 // the latest validation loss, NaN before the first
	TokensPerSec float64 // over the latest evaluation interval, 0 before
}

// StepStats describe one training step.
type StepStats struct {
	Step     int
	Loss     float64
	GradNorm float64 // before clipping; 0 when the loss was not finite
	LR       float64 // the learning rate the update used
	Tokens   int     // target tokens of the step, all its batches and ranks
	// Diverged: the loss or the gradient norm was NaN or infinite; the
	// weights were not updated.
	Diverged bool
}

// Point is one evaluation of a run.
type Point struct {
	Step    int     `json:"step"`
	Loss    float64 `json:"loss"`
	ValLoss float64 `json:"val_loss"`
}

// ScorePoint is one value of a Score.
type ScorePoint struct {
	Step  int     `json:"step"`
	Value float64 `json:"value"`
}

// Result is a finished (or diverged) run.
type Result struct {
	Curve []Point // one point per evaluation
	Final Point   // the last step that finished
	// Scores holds each Score's values by step, and BestStep the step of
	// its best value.
	Scores   map[string][]ScorePoint
	BestStep map[string]int
	Diverged bool
	FailStep int // the step whose loss was not finite
	// Stopped is the stopping rule that ended the run and why
	// ("patience 5 (no better val_loss since step 1200)"; "": none).
	Stopped string
}

// DivergedError reports a run whose loss or gradient became NaN or
// infinite. The weights of the last step with a finite loss have been
// written to Path (unless the first step failed).
type DivergedError struct {
	Step           int
	Loss, GradNorm float64
	SavedStep      int // the step whose weights were saved, 0 if none
	Path           string
}

func (e *DivergedError) Error() string {
	msg := fmt.Sprintf("training diverged at step %d (loss %v, gradient norm %v)", e.Step, e.Loss, e.GradNorm)
	if e.SavedStep > 0 {
		msg += fmt.Sprintf("; the weights of step %d (the last finite loss) are in %s", e.SavedStep, e.Path)
	}
	return msg
}

// Trainer runs training steps on a Task.
type Trainer struct {
	task  Task
	o     Options
	opt   *optim.Optimizer
	grads [][]float32
	norm  optim.Normer
	// prev holds the weights the current step trained on, to roll back
	// to when the step's loss is not finite.
	prev []float32
	// digested caches digestAt's last digest of the weights
	digested struct {
		step int
		d    string
	}
	step int
	// best is each Score's best value so far, carried over a resume.
	best map[string]ScorePoint
	// ckptDigest is the digest of the checkpoint last written (or
	// restored); restored: Run must first rewrite the checkpoints of
	// the restored step (see Restore).
	ckptDigest string
	restored   bool
	// bestCkpt is each Score's best checkpoint as last written (or as
	// Restore found it), for the trainer state.
	bestCkpt map[string]bestCheckpoint
	// What the stopping rules count, carried over a resume: the
	// training target tokens so far, the best validation loss (Step 0:
	// none yet), and the validations since the best of val_loss and of
	// each Score.
	tokens   int64
	bestLoss ScorePoint
	since    map[string]int

	comm dist.Comm
	red  []float64 // the reduction of the loss and the token count
	// overlap: the task reports finished gradients during Backward;
	// buckets holds the ranges reduced so far in this step, waits their
	// reductions, gscale the scale of this rank's gradients.
	overlap bool
	buckets [][2]int
	waits   []func() error
	gscale  float32
	// pending is the bucket being filled with finished layers (lo = hi:
	// none), bucket its capacity in floats.
	pending [2]int
	bucket  int
	// accumulating: the backward pass running is not a step's last
	// (Options.UpdateFreq), so its gradients are not final: ready
	// ignores what it reports.
	accumulating bool
	// scratch of finishBuckets, kept so that a step allocates nothing
	taken, gaps [][2]int
}

// A GradReporter is a Task whose Backward can say, while it runs, which
// gradients are final, so that a data-parallel Trainer starts reducing
// them while the backward pass goes on through the lower layers.
type GradReporter interface {
	// ReportGrads makes every later Backward call ready(lo, hi) for
	// ranges [lo, hi) of the gradient arena that the rest of the pass
	// leaves as they are, disjoint, in the same order on every call
	// (ready nil: stop). It reports false when it cannot.
	ReportGrads(ready func(lo, hi int)) bool
}

// A WeightedEvaluator is a Task whose ranks' validation shares weigh
// unequally (translation: by their target tokens), so that averaging the
// ranks' losses would not give the loss of the whole validation set.
type WeightedEvaluator interface {
	// EvaluateShare returns this rank's validation loss and its weight
	// (0 and 0 for an empty share); the Trainer reduces loss·weight and
	// weight over the ranks.
	EvaluateShare() (loss, weight float64, err error)
}

// RankMismatchError reports ranks whose weights differ after a step.
type RankMismatchError struct {
	Step  int
	Ranks int // how many ranks differ from rank 0
}

func (e *RankMismatchError) Error() string {
	return fmt.Sprintf("the weights of %d rank(s) differ from rank 0's after step %d", e.Ranks, e.Step)
}

// New plans a trainer for task: the optimizer state and the rollback
// copy of the weights.
func New(task Task, o Options) (*Trainer, error) {
	if o.Steps < 1 || o.EvalEvery < 1 || o.SaveEvery < 0 {
		return nil, fmt.Errorf("train: steps %d and eval-every %d must be ≥ 1, save-every %d ≥ 0", o.Steps, o.EvalEvery, o.SaveEvery)
	}
	for _, sc := range o.Scores {
		if sc.Every < 1 || sc.Eval == nil || sc.Name == "" {
			return nil, fmt.Errorf("train: score %q needs a name, an evaluation and a cadence ≥ 1", sc.Name)
		}
	}
	if err := o.Rules.check(true, math.Inf(1)); err != nil {
		return nil, err
	}
	if _, ok := task.(Epocher); o.Rules.MaxEpoch > 0 && !ok {
		return nil, fmt.Errorf("train: --max-epoch needs a task that counts its epochs")
	}
	if m := o.Rules.metric(); o.Rules.Patience > 0 && m != valLossName && !slices.ContainsFunc(o.Scores, func(sc Score) bool { return sc.Name == m }) {
		return nil, fmt.Errorf("--best-metric %s needs %s, which this run does not score", o.Rules.BestMetric, m)
	}
	p := task.Params()
	var ws, gs [][]float32
	var decay []bool
	for _, q := range p.List {
		ws, gs, decay = append(ws, q.W), append(gs, q.G), append(decay, q.Decay)
	}
	opt, err := optim.New(o.Optim, ws)
	if err != nil {
		return nil, err
	}
	if err := opt.SetDecayMask(decay); err != nil {
		return nil, err
	}
	opt.SetPool(task.Pool())
	if o.State != "" {
		if _, ok := task.(Resumable); !ok {
			return nil, fmt.Errorf("train: a trainer state needs a resumable task")
		}
	}
	comm := o.Comm
	if comm == nil {
		comm = dist.Single{}
	}
	if o.CheckEvery < 0 {
		return nil, fmt.Errorf("train: check-every %d must be ≥ 0", o.CheckEvery)
	}
	if o.BucketBytes < 0 {
		return nil, fmt.Errorf("train: bucket size %d bytes must be ≥ 0", o.BucketBytes)
	}
	if o.UpdateFreq < 0 {
		return nil, fmt.Errorf("train: update-freq %d must be ≥ 1", o.UpdateFreq)
	}
	t := &Trainer{task: task, o: o, opt: opt, grads: gs, prev: make([]float32, len(p.W)), best: map[string]ScorePoint{},
		bestCkpt: map[string]bestCheckpoint{}, comm: comm, red: make([]float64, 2), bucket: BucketFloats,
		bestLoss: ScorePoint{0, math.Inf(1)}, since: map[string]int{}}
	t.norm.Pool = task.Pool()
	if err := opt.SetRollback(t.prev); err != nil {
		return nil, err
	}
	if o.BucketBytes > 0 {
		t.bucket = max(1, o.BucketBytes/4)
	}
	if gr, ok := task.(GradReporter); ok && comm.Size() > 1 && !o.SerialReduce {
		t.overlap = gr.ReportGrads(t.ready)
	}
	return t, nil
}

// ready takes the finished gradients [lo, hi) into the pending bucket,
// merging them with it when they are its neighbours and the sum fits,
// and starts reducing the bucket once it is full, or as full as it can
// get if the next range is the size of this one (consecutive layers
// are): waiting for a range that will not fit would delay the bucket by
// a layer of the backward pass. Every rank sees the same calls in the
// same order (GradReporter), so every rank starts the same buckets in
// the same order, as the collectives require.
func (t *Trainer) ready(lo, hi int) {
	if t.accumulating {
		return
	}
	p := &t.pending
	switch {
	case p[0] == p[1]:
		*p = [2]int{lo, hi}
	case (hi == p[0] || lo == p[1]) && p[1]-p[0]+hi-lo <= t.bucket:
		*p = [2]int{min(lo, p[0]), max(hi, p[1])}
	default:
		t.flush()
		*p = [2]int{lo, hi}
	}
	if n := p[1] - p[0]; n >= t.bucket || n+hi-lo > t.bucket {
		t.flush()
	}
}

// flush starts reducing the pending bucket, in pieces of at most the
// bucket size (a range larger than a bucket came in one piece).
func (t *Trainer) flush() {
	lo, hi := t.pending[0], t.pending[1]
	t.pending = [2]int{}
	for off := lo; off < hi; off += t.bucket {
		t.startBucket(off, min(off+t.bucket, hi))
	}
}

// startBucket starts reducing the gradients [lo, hi), final.
func (t *Trainer) startBucket(lo, hi int) {
	g := t.task.Params().G[lo:hi]
	if t.gscale != 1 {
		scaleBy(g, t.gscale)
	}
	t.buckets = append(t.buckets, [2]int{lo, hi})
	t.waits = append(t.waits, t.comm.StartAllreduceSum(g))
}

// finishBuckets reduces the gradients no bucket started during the
// backward pass, waits for every reduction and turns the sums into the
// mean.
func (t *Trainer) finishBuckets() error {
	g := t.task.Params().G
	// The ranges not reported are final now: they go into buckets like
	// the reported ones, from the bottom of the arena up, so that the
	// pending bucket (the last layers reported, the lowest) can take in
	// its neighbour below first.
	taken := append(append(t.taken[:0], t.buckets...), t.pending)
	slices.SortFunc(taken, func(a, b [2]int) int { return a[0] - b[0] })
	gaps := t.gaps[:0]
	at := 0
	for _, b := range taken {
		if b[0] > at {
			gaps = append(gaps, [2]int{at, b[0]})
		}
		at = max(at, b[1])
	}
	if at < len(g) {
		gaps = append(gaps, [2]int{at, len(g)})
	}
	for _, r := range gaps {
		t.ready(r[0], r[1])
	}
	t.flush()
	t.taken, t.gaps = taken, gaps
	var err error
	for _, w := range t.waits {
		if e := w(); e != nil && err == nil {
			err = e
		}
	}
	t.buckets, t.waits = t.buckets[:0], t.waits[:0]
	if err != nil {
		return err
	}
	scaleBy(g, 1/float32(t.comm.Size()))
	return nil
}

// SetMetrics sets Options.Metrics after New: a resumed run opens its
// metrics once Restore has accepted the state, so that a refused resume
// leaves them as they were.
func (t *Trainer) SetMetrics(w *metrics.Writer) { t.o.Metrics = w }

// Comm is the trainer's communicator (dist.Single for one process).
func (t *Trainer) Comm() dist.Comm { return t.comm }

// Steps is the number of steps taken so far.
func (t *Trainer) Steps() int { return t.step }

// Step runs one training step: forward and backward on the next
// batch (Options.UpdateFreq batches, their gradients summed), the
// global gradient norm, clipping and the optimizer update. A step whose
// loss or gradient norm is not finite updates nothing and reports
// Diverged. Step allocates nothing.
func (t *Trainer) Step() (StepStats, error) {
	t.step++
	t.digested.d = "" // the weights change
	st := StepStats{Step: t.step}
	p := t.task.Params()
	clk := t.o.Clock
	prev := clk.Enter(phase.Optimizer)
	p.ZeroGrad(t.task.Pool())
	clk.Enter(prev)
	loss, sum, n, cur, err := t.accumulate()
	if err != nil {
		return st, err
	}
	// With several ranks, the loss of the global batch is the
	// token-weighted mean of the ranks' losses; every rank sees it, so
	// all take the same branch below.
	scale := 1.0
	if t.comm.Size() > 1 {
		t.red[0], t.red[1] = sum, float64(n)
		if err := t.comm.AllreduceSum64(t.red); err != nil {
			return st, err
		}
		// The task's gradient is that of its share's mean loss: weighted
		// by its share of the tokens, the mean over the ranks is the
		// gradient of the global mean (equal shares: 1). Accumulated
		// (accumulate), it is that of the sum over its share's tokens
		// divided by cur.
		scale = float64(cur*t.comm.Size()) / t.red[1]
		loss, n = t.red[0]/t.red[1], int(t.red[1])
	} else if cur != n {
		scale = float64(cur) / float64(n)
	}
	st.Loss, st.Tokens = loss, n
	if !finite(loss) {
		st.Diverged = true
		return st, nil
	}
	t.gscale = float32(scale)
	err = t.task.Backward()
	prev = clk.Enter(phase.Optimizer)
	defer clk.Enter(prev)
	switch {
	case t.overlap:
		// Buckets were started during the backward pass; a failed pass
		// still waits for them (every rank reduces the same buffers).
		if e := t.finishBuckets(); err == nil {
			err = e
		}
	case err == nil && t.comm.Size() > 1:
		err = t.reduceGrads(p.G, scale)
	case err == nil && scale != 1:
		scaleBy(p.G, t.gscale)
	}
	if err != nil {
		return st, err
	}
	st.GradNorm = t.norm.Norm(t.grads)
	if !finite(st.GradNorm) {
		st.Diverged = true
		return st, nil
	}
	// the optimizer saves the rollback copy (t.prev) in its pass
	st.LR = t.opt.StepNorm(t.grads, st.GradNorm) // clips first
	return st, nil
}

// accumulate runs the forward passes of the step's batches and the
// backward passes of all but the last, which Step runs once the ranks
// agree on the loss. It returns the mean loss over this rank's tokens
// in them, the loss summed over those tokens, and their number n (one
// batch: TrainForward's values). The task's Backward adds the gradient
// of each batch's mean loss; scaling the arena by cur/c before the pass
// of a batch of c tokens (cur: those of the last batch passed) keeps it
// the gradient of the loss summed over the tokens so far divided by
// cur, which Step ends with one scaling by cur/n (cur·ranks/global
// tokens): fairseq's sum of the batches' gradients normalized by all
// their tokens. The batches draw their data and dropout masks one after
// the other, as that many steps of one batch each would. A non-finite
// loss ends the step's passes (the step diverges; the ranks learn it in
// Step).
func (t *Trainer) accumulate() (loss, sum float64, n, cur int, err error) {
	k := max(1, t.o.UpdateFreq)
	for i := range k {
		l, c, err := t.task.TrainForward()
		if err != nil {
			return 0, 0, 0, 0, err
		}
		if k == 1 {
			return l, l * float64(c), c, c, nil
		}
		sum, n = sum+l*float64(c), n+c
		if c > 0 {
			if cur > 0 && cur != c {
				prev := t.o.Clock.Enter(phase.Optimizer)
				scaleBy(t.task.Params().G, float32(float64(cur)/float64(c)))
				t.o.Clock.Enter(prev)
			}
			cur = c
		}
		if i == k-1 || !finite(l) {
			break
		}
		t.accumulating = true
		err = t.task.Backward()
		t.accumulating = false
		if err != nil {
			return 0, 0, 0, 0, err
		}
	}
	if n > 0 {
		loss = sum / float64(n)
	}
	return loss, sum, n, cur, nil
}

// scaleBy multiplies g by s.
func scaleBy(g []float32, s float32) {
	for i := range g {
		g[i] *= s
	}
}

// reduceGrads averages the gradient arena over the ranks, in buckets of
// the bucket size, after scaling this rank's by scale. The buckets are
// reduced after the backward pass, not during it (see distributed.md).
func (t *Trainer) reduceGrads(g []float32, scale float64) error {
	if scale != 1 {
		scaleBy(g, float32(scale))
	}
	for off := 0; off < len(g); off += t.bucket {
		if err := t.comm.AllreduceMean(g[off:min(off+t.bucket, len(g))]); err != nil {
			return err
		}
	}
	return nil
}

// WeightsHash is a hash of the weights' bits (FNV-1a over each 32-bit
// word), the same on every rank whose weights are bit-identical.
func WeightsHash(w []float32) uint64 {
	h := uint64(14695981039346656037)
	for _, x := range w {
		h = (h ^ uint64(math.Float32bits(x))) * 1099511628211
	}
	return h
}

// checkRanks compares the weights' hash of every rank with rank 0's
// after step.
func (t *Trainer) checkRanks(step int) error {
	if t.comm.Size() == 1 {
		return nil
	}
	h := WeightsHash(t.task.Params().W)
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], h)
	r0, err := t.comm.BroadcastBytes(b[:])
	if err != nil {
		return err
	}
	diff := []float64{0}
	if binary.LittleEndian.Uint64(r0) != h {
		diff[0] = 1
	}
	if err := t.comm.AllreduceSum64(diff); err != nil {
		return err
	}
	if diff[0] > 0 {
		return &RankMismatchError{Step: step, Ranks: int(diff[0])}
	}
	return nil
}

// evaluate is the task's validation loss, averaged over the ranks
// (weighted by their shares' weights for a WeightedEvaluator).
func (t *Trainer) evaluate() (float64, error) {
	if t.comm.Size() == 1 {
		return t.task.Evaluate()
	}
	var v, w float64
	var err error
	if we, ok := t.task.(WeightedEvaluator); ok {
		v, w, err = we.EvaluateShare()
	} else {
		w = 1 // equal shares: the mean over the ranks
		v, err = t.task.Evaluate()
	}
	if err != nil {
		return 0, err
	}
	b := []float64{v * w, w}
	if err := t.comm.AllreduceSum64(b); err != nil {
		return 0, err
	}
	if b[1] == 0 {
		return 0, fmt.Errorf("no validation data on any rank")
	}
	return b[0] / b[1], nil
}

// agreeStop is whether any rank saw stop ready: every rank then stops
// after the same step.
func (t *Trainer) agreeStop(stop bool) (bool, error) {
	if t.comm.Size() == 1 {
		return stop, nil
	}
	b := []float64{0}
	if stop {
		b[0] = 1
	}
	err := t.comm.AllreduceSum64(b)
	return b[0] > 0, err
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// Run trains until Options.Steps, or until a stopping rule (Rules) ends
// the run (Result.Stopped): it validates every EvalEvery steps
// and at the end, writes a metrics line per step and a checkpoint every
// SaveEvery steps and at the end. If a step diverges it writes the
// weights of the last step with a finite loss and returns the result so
// far with a *DivergedError. When Options.Stop becomes ready it saves
// after the current step and returns a *StoppedError. A restored
// trainer (Restore) continues from its step.
func (t *Trainer) Run() (*Result, error) {
	o := t.o
	res := &Result{Final: Point{Step: t.step, Loss: math.NaN(), ValLoss: math.NaN()},
		Scores: map[string][]ScorePoint{}, BestStep: map[string]int{}}
	for name, b := range t.best {
		res.BestStep[name] = b.Step
	}
	valLoss, tokPerSec := math.NaN(), 0.0
	lastTime, tokens := time.Now(), 0
	stopped, saved := false, -1
	if t.comm.Size() > 1 {
		// Every rank starts from rank 0's weights (the initialization
		// is the same everywhere; this makes sure).
		if err := t.comm.Broadcast(t.task.Params().W); err != nil {
			return nil, err
		}
	}
	if t.restored {
		// A kill after the state was written may have left its
		// checkpoints (the main one, the kept one) unwritten or
		// stale; they are copies of the state's weights.
		t.restored = false
		if err := t.save(t.step, false); err != nil {
			return nil, err
		}
		saved = t.step
	}
	// A resumed run that a rule had stopped stops again at once.
	res.Stopped = t.stopRestored()
	validate := func(st StepStats, rec map[string]any) (err error) {
		if valLoss, err = t.evaluate(); err != nil {
			return err
		}
		rec["val_loss"] = valLoss
		res.Curve = append(res.Curve, Point{st.Step, st.Loss, valLoss})
		now := time.Now()
		tokPerSec = float64(tokens) / now.Sub(lastTime).Seconds()
		lastTime, tokens = now, 0
		rec["tokens_per_s"] = math.Round(tokPerSec)
		t.sawValLoss(st.Step, valLoss)
		return nil
	}
	for t.step < o.Steps && !stopped && res.Stopped == "" {
		if o.BeforeStep != nil {
			o.BeforeStep(t.step + 1)
		}
		st, err := t.Step()
		if err != nil {
			return nil, err
		}
		if st.Diverged {
			return res, t.diverged(res, st)
		}
		tokens += st.Tokens
		t.tokens += int64(st.Tokens)
		rec := map[string]any{"schema": metrics.Schema, "step": st.Step, "loss": st.Loss, "lr": st.LR, "grad_norm": st.GradNorm, "time": wallTime()}
		if o.BF16 {
			rec["precision"] = BF16
		}
		if o.UpdateFreq > 1 {
			rec["tokens"] = st.Tokens // the batches' sum (one batch: a constant of the run, not logged)
		}
		// A step a rule ends is the run's last: it validates and scores
		// as the last step does. --patience decides at a validation; the
		// evaluations not due at that step then run in a second pass.
		// A run that reaches Steps ends as it always did.
		last := st.Step == o.Steps
		if !last {
			res.Stopped = t.stopAfterStep(st.LR)
			last = res.Stopped != ""
		}
		for {
			if _, done := rec["val_loss"]; !done && (st.Step%o.EvalEvery == 0 || last) {
				if err := validate(st, rec); err != nil {
					return nil, err
				}
			}
			for _, sc := range o.Scores {
				if _, done := rec[sc.Name]; done || st.Step%sc.Every != 0 && !last {
					continue
				}
				if err := t.score(sc, st.Step, rec, res); err != nil {
					return nil, err
				}
			}
			if !last {
				res.Stopped = t.patience()
			}
			if res.Stopped == "" || last {
				break
			}
			last = true
		}
		if res.Stopped != "" {
			rec["stopped"], _, _ = strings.Cut(res.Stopped, " ")
			rec["stop_reason"] = res.Stopped
		}
		res.Final = Point{st.Step, st.Loss, valLoss}
		if o.Metrics != nil {
			if err := o.Metrics.Write(rec); err != nil {
				return nil, err
			}
		}
		if o.OnStep != nil {
			o.OnStep(Progress{st.Step, st.Loss, valLoss, tokPerSec})
		}
		if o.SaveEvery > 0 && st.Step%o.SaveEvery == 0 && st.Step != o.Steps {
			if err := t.save(st.Step, true); err != nil {
				return nil, err
			}
			saved = st.Step
		}
		if st.Step == o.Steps || (o.CheckEvery > 0 && st.Step%o.CheckEvery == 0) {
			if err := t.checkRanks(st.Step); err != nil {
				return nil, err
			}
		}
		select {
		case <-o.Stop: // a nil channel is never ready
			stopped = true
		default:
		}
		if stopped, err = t.agreeStop(stopped); err != nil {
			return nil, err
		}
	}
	if saved != t.step {
		if err := t.save(t.step, true); err != nil {
			return nil, err
		}
	}
	if stopped && res.Stopped == "" {
		return res, &StoppedError{Step: t.step, Path: o.Checkpoint}
	}
	return res, nil
}

// score runs the Score sc after step, logging it in rec and res, and
// keeps its best value (and checkpoint).
func (t *Trainer) score(sc Score, step int, rec map[string]any, res *Result) error {
	v, err := sc.Eval()
	if err != nil {
		return fmt.Errorf("%s: %v", sc.Name, err)
	}
	rec[sc.Name] = v
	res.Scores[sc.Name] = append(res.Scores[sc.Name], ScorePoint{step, v})
	if b, ok := t.best[sc.Name]; ok && !(v > b.Value) {
		t.since[sc.Name]++
		return nil
	}
	t.best[sc.Name] = ScorePoint{step, v}
	t.since[sc.Name] = 0
	res.BestStep[sc.Name] = step
	if sc.Best != "" {
		if err := t.task.SaveCheckpoint(sc.Best, step); err != nil {
			return err
		}
		if t.o.State != "" {
			t.bestCkpt[sc.Name] = bestCheckpoint{step, t.digestAt(step)}
		}
	}
	return nil
}

// save writes the checkpoint of step and, with withState, first the
// trainer state that goes with it: the state holds the weights and is
// the commit point, so a kill between the writes leaves a run that
// resumes (see Restore).
func (t *Trainer) save(step int, withState bool) error {
	if t.o.Checkpoint == "" {
		return nil
	}
	own := ""
	if withState && t.o.State != "" {
		own = t.digestAt(step)
		if err := t.saveState(t.o.State, own); err != nil {
			return err
		}
	}
	if err := t.task.SaveCheckpoint(t.o.Checkpoint, step); err != nil {
		return err
	}
	if own != "" {
		t.ckptDigest = own
	}
	if t.o.KeepLast > 0 {
		return t.keepLast(t.o.Checkpoint, step, t.o.KeepLast)
	}
	return nil
}

// numbered matches the kept checkpoints.
var numbered = regexp.MustCompile(`^checkpoint([0-9]+)\.safetensors$`)

// KeptCheckpoints lists the numbered checkpoints (Options.KeepLast) in
// dir, oldest first.
func KeptCheckpoints(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var steps []int
	for _, e := range ents {
		if m := numbered.FindStringSubmatch(e.Name()); m != nil {
			if s, err := strconv.Atoi(m[1]); err == nil {
				steps = append(steps, s)
			}
		}
	}
	slices.Sort(steps)
	paths := make([]string, len(steps))
	for i, s := range steps {
		paths[i] = keptPath(dir, s)
	}
	return paths, nil
}

func keptPath(dir string, step int) string {
	return filepath.Join(dir, fmt.Sprintf("checkpoint%d.safetensors", step))
}

// keepLast keeps the checkpoint at path, just saved, as
// checkpoint<step>.safetensors beside it and deletes the older numbered
// checkpoints beyond the last n. Saves replace path by renaming a new
// file over it, so a hard link keeps this one's bytes without copying
// them; where links are not supported, the task saves it again.
func (t *Trainer) keepLast(path string, step, n int) error {
	dir := filepath.Dir(path)
	kept := keptPath(dir, step)
	os.Remove(kept) // a link does not replace
	if err := os.Link(path, kept); err != nil {
		if err := t.task.SaveCheckpoint(kept, step); err != nil {
			return err
		}
	}
	paths, err := KeptCheckpoints(dir)
	if err != nil {
		return err
	}
	for _, p := range paths[:max(0, len(paths)-n)] {
		if err := os.Remove(p); err != nil {
			return err
		}
	}
	return nil
}

// diverged records a diverged step and rolls the weights back to those
// the step trained on, the last whose loss was finite.
func (t *Trainer) diverged(res *Result, st StepStats) error {
	res.Diverged, res.FailStep = true, st.Step
	if t.o.Metrics != nil {
		// metrics spells non-finite values as strings
		t.o.Metrics.Write(map[string]any{"schema": metrics.Schema, "step": st.Step, "loss": st.Loss, "grad_norm": st.GradNorm, "diverged": true, "time": wallTime()})
	}
	e := &DivergedError{Step: st.Step, Loss: st.Loss, GradNorm: st.GradNorm, Path: t.o.Checkpoint}
	if st.Step > 1 && t.o.Checkpoint != "" {
		// prev holds the weights step-1 trained on, the result of step-2
		// updates, whose loss was finite.
		copy(t.task.Params().W, t.prev)
		// No trainer state: the moments are not those of these weights.
		if err := t.save(st.Step-2, false); err != nil {
			return fmt.Errorf("%v; saving the last good weights failed: %v", e, err)
		}
		e.SavedStep = st.Step - 1
	}
	return e
}

// wallTime is a metrics record's "time": when its step ended, in Unix
// seconds to the millisecond (for plotting a run against wall time; it
// differs between identical runs, like tokens_per_s).
func wallTime() float64 { return float64(time.Now().UnixMilli()) / 1000 }
