// Package optim updates flat float32 parameter slices with Adam, AdamW
// or RAdam, a learning-rate schedule and gradient-norm clipping, on top
// of the asm.Adam kernel.
//
// One Step, with step count t = 1, 2, ... (bias corrections
// c1 = 1-β1^t, c2 = 1-β2^t, scheduled rate η = LR(cfg, t), weight decay λ):
//
//	m = β1·m + (1-β1)·g,  v = β2·v + (1-β2)·g²
//	adam:  w -= η·λ·w + η·(m/c1) / (sqrt(v/c2) + ε)
//	radam: ρ∞ = 2/(1-β2) - 1,  ρt = ρ∞ - 2tβ2^t/c2
//	       if ρt > 5: r = sqrt((ρt-4)(ρt-2)ρ∞ / ((ρ∞-4)(ρ∞-2)ρt))
//	                  w -= η·λ·w + η·r·(m/c1)·sqrt(c2) / (sqrt(v) + ε)
//	       else:      w -= η·λ·w + η·(m/c1)
//
// Weight decay is decoupled (AdamW style) for both; "adam" with λ > 0
// is AdamW. RAdam follows Liu et al. 2019 and torch.optim.RAdam with
// decoupled_weight_decay=True, including where ε enters (added to
// sqrt(v) before the bias correction, unlike Adam).
package optim

import (
	"fmt"
	"math"
	"slices"

	"github.com/clinic-ml/clinic/asm"
)

// Config describes an optimizer and its schedule.
type Config struct {
	Name        string  // "adam" (AdamW when WeightDecay > 0) or "radam"
	LR          float64 // peak learning rate, > 0
	Beta1       float64 // first-moment decay, in [0, 1)
	Beta2       float64 // second-moment decay, in [0, 1)
	Eps         float64 // denominator term, > 0
	WeightDecay float64 // decoupled weight decay λ, >= 0 (the step subtracts lr·λ·w)
	Warmup      int     // linear warm-up steps, >= 0
	Schedule    string  // "invsqrt" (the default when empty) or "constant"
	Clip        float64 // maximum global gradient norm; 0 disables clipping
}

// Validate reports the first invalid field of c as a one-line error.
func (c Config) Validate() error {
	switch c.Name {
	case "adam", "radam":
	default:
		return fmt.Errorf("optim: unknown optimizer %q (want adam or radam)", c.Name)
	}
	switch c.Schedule {
	case "", "invsqrt", "constant":
	default:
		return fmt.Errorf("optim: unknown schedule %q (want invsqrt or constant)", c.Schedule)
	}
	switch {
	case !(c.LR > 0) || math.IsInf(c.LR, 0):
		return fmt.Errorf("optim: learning rate %v must be positive and finite", c.LR)
	case !(c.Beta1 >= 0 && c.Beta1 < 1):
		return fmt.Errorf("optim: beta1 %v must be in [0, 1)", c.Beta1)
	case !(c.Beta2 >= 0 && c.Beta2 < 1):
		return fmt.Errorf("optim: beta2 %v must be in [0, 1)", c.Beta2)
	case !(c.Eps > 0) || math.IsInf(c.Eps, 0):
		return fmt.Errorf("optim: eps %v must be positive and finite", c.Eps)
	case !(c.WeightDecay >= 0) || math.IsInf(c.WeightDecay, 0):
		return fmt.Errorf("optim: weight decay %v must be non-negative and finite", c.WeightDecay)
	case c.Warmup < 0:
		return fmt.Errorf("optim: warm-up %d must be non-negative", c.Warmup)
	case !(c.Clip >= 0):
		return fmt.Errorf("optim: clip norm %v must be non-negative (0 disables)", c.Clip)
	}
	return nil
}

// LR returns the scheduled learning rate at step (counted from 1; a
// smaller step counts as 1). With W = cfg.Warmup > 0, both schedules
// rise linearly during warm-up, lr·step/W for step <= W, reaching lr at
// step W; after it "constant" stays at lr and "invsqrt" (fairseq's
// inverse_sqrt) decays as lr·sqrt(W/step). With W = 0 there is no
// warm-up: "constant" is lr throughout and "invsqrt" is lr/sqrt(step).
func LR(cfg Config, step int) float64 {
	if step < 1 {
		step = 1
	}
	w := cfg.Warmup
	if w > 0 && step <= w {
		return cfg.LR * float64(step) / float64(w)
	}
	if cfg.Schedule == "constant" {
		return cfg.LR
	}
	return cfg.LR * math.Sqrt(float64(max(w, 1))/float64(step))
}

// GradNorm returns the global L2 norm of grads: the square root of the
// sum of asm.SumSq over the slices, added in slice order in float64.
func GradNorm(grads [][]float32) float64 { return new(Normer).Norm(grads) }

// Normer computes GradNorm on the worker pool, reusing its buffers, so a
// training step allocates nothing. The slices are shared out whole, in
// contiguous runs of about equal length, and their sums added in slice
// order: the result does not depend on the threads.
type Normer struct {
	Pool  *asm.Pool // nil: inline
	parts int       // the shares of the current Norm
	sums  []float64
	grads [][]float32
	total int
	fn    func(lo, hi int)
}

// Norm is GradNorm(grads).
func (n *Normer) Norm(grads [][]float32) float64 {
	if cap(n.sums) < len(grads) {
		n.sums = make([]float64, len(grads))
	}
	n.sums = n.sums[:len(grads)]
	clear(n.sums) // empty slices at the end are in no share
	n.grads, n.total = grads, 0
	for _, g := range grads {
		n.total += len(g)
	}
	if n.fn == nil {
		n.fn = n.share
	}
	if T := n.Pool.Width(); T > 1 && n.total >= parallelMin {
		n.parts = T
		n.Pool.Parallel(T, n.fn)
	} else {
		n.sumRange(0, n.total)
	}
	n.grads = nil
	var s float64
	for _, v := range n.sums {
		s += v
	}
	return math.Sqrt(s)
}

// share is worker shares [lo, hi) of n.parts.
func (n *Normer) share(lo, hi int) {
	T := n.parts
	n.sumRange(lo*n.total/T, hi*n.total/T)
}

// sumRange sums the slices that start in elements [from, to).
func (n *Normer) sumRange(from, to int) {
	off := 0
	for i, g := range n.grads {
		if off >= from && off < to {
			n.sums[i] = asm.SumSq(g)
		}
		off += len(g)
	}
}

// ClipGrads scales grads in place so their global norm is at most
// maxNorm, and returns the norm before clipping. maxNorm <= 0 disables
// clipping. A non-finite norm leaves grads unchanged (the caller should
// check the returned norm).
func ClipGrads(grads [][]float32, maxNorm float64) (norm float64) {
	norm = GradNorm(grads)
	clipTo(grads, norm, maxNorm)
	return norm
}

// clipTo scales grads, whose global norm is norm, down to maxNorm.
func clipTo(grads [][]float32, norm, maxNorm float64) {
	if maxNorm > 0 && norm > maxNorm && !math.IsInf(norm, 0) {
		scale := float32(maxNorm / norm)
		for _, g := range grads {
			asm.Scale(scale, g)
		}
	}
}

// Optimizer holds the moments of a fixed set of parameter slices.
type Optimizer struct {
	normer Normer
	pool   *asm.Pool
	cfg    Config
	params [][]float32
	m, v   [][]float32
	t      int
	norm   float64
	decay  []bool // per parameter; nil: all decay

	// The update is one pass over all parameters, as if they were one
	// vector: offs[i] is where parameter i starts in it, total its
	// length. A pass chunk clips, saves the rollback copy and applies
	// Adam to its range, so the step's optimizer work is one parallel
	// region with every element touched once, not a few per tensor.
	offs  []int
	total int
	prev  []float32 // SetRollback's copy of the weights before an update

	// Arguments of the current pass, read by pass.
	cur struct {
		grads             [][]float32
		clip              float32 // gradient scale; 1: no clipping
		b1, b2, a, s, eps float32
		decay             float32
	}
	passFn func(lo, hi int)
}

// parallelMin is the slice length from which a step is split over the
// asm worker pool; the update is element-wise, so the result does not
// depend on the split.
const parallelMin = 1 << 15

// New returns an optimizer for params (updated in place by Step), with
// zeroed moment buffers allocated once.
func New(cfg Config, params [][]float32) (*Optimizer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o := &Optimizer{cfg: cfg, params: params}
	o.m = make([][]float32, len(params))
	o.v = make([][]float32, len(params))
	for i, p := range params {
		o.m[i] = make([]float32, len(p))
		o.v[i] = make([]float32, len(p))
	}
	for _, p := range params {
		o.offs = append(o.offs, o.total)
		o.total += len(p)
	}
	o.passFn = o.pass
	return o, nil
}

// SetPool makes Step run on pool (nil, the default: inline). The update
// is element-wise, so the result does not depend on the pool.
func (o *Optimizer) SetPool(pool *asm.Pool) { o.pool, o.normer.Pool = pool, pool }

// SetDecayMask chooses which parameters weight decay applies to (biases,
// LayerNorm parameters and Admin's ω usually do not decay).
func (o *Optimizer) SetDecayMask(mask []bool) error {
	if len(mask) != len(o.params) {
		return fmt.Errorf("optim: decay mask has %d entries for %d parameters", len(mask), len(o.params))
	}
	o.decay = append([]bool(nil), mask...)
	return nil
}

// Config returns the optimizer's configuration.
func (o *Optimizer) Config() Config { return o.cfg }

// Step applies one update to the parameters from grads (one slice per
// parameter, same lengths; it panics otherwise) and returns the learning
// rate used. It first computes the global gradient norm (see LastNorm)
// and clips grads in place if cfg.Clip > 0.
func (o *Optimizer) Step(grads [][]float32) (lr float64) {
	return o.StepNorm(grads, o.normer.Norm(grads))
}

// StepNorm is Step for a caller that already has GradNorm(grads), so
// the gradients are not read an extra time.
func (o *Optimizer) StepNorm(grads [][]float32, norm float64) (lr float64) {
	if len(grads) != len(o.params) {
		panic(fmt.Sprintf("optim: Step got %d gradients for %d parameters", len(grads), len(o.params)))
	}
	for i, g := range grads {
		if len(g) != len(o.params[i]) {
			panic(fmt.Sprintf("optim: gradient %d has %d elements, parameter has %d", i, len(g), len(o.params[i])))
		}
	}
	o.norm = norm
	o.cur.clip = 1
	if c := o.cfg.Clip; c > 0 && norm > c && !math.IsInf(norm, 0) {
		o.cur.clip = float32(c / norm)
	}
	o.t++
	t := float64(o.t)
	lr = LR(o.cfg, o.t)
	b1, b2 := o.cfg.Beta1, o.cfg.Beta2
	c1 := 1 - math.Pow(b1, t)
	c2 := 1 - math.Pow(b2, t)
	a := lr / c1
	s := 1 / math.Sqrt(c2)
	eps := o.cfg.Eps
	if o.cfg.Name == "radam" {
		if r, ok := Rectifier(b2, o.t); ok {
			a *= r
			eps /= math.Sqrt(c2) // ε is added to sqrt(v), not sqrt(v/c2)
		} else {
			s, eps = 0, 1 // momentum-only step
		}
	}
	c := &o.cur
	c.b1, c.b2 = float32(b1), float32(b2)
	c.a, c.s, c.eps = float32(a), float32(s), float32(eps)
	c.decay = float32(lr * o.cfg.WeightDecay)
	c.grads = grads
	o.pool.ParallelGrain(o.total, passGrain, o.passFn)
	c.grads = nil
	return lr
}

// passGrain is the fewest elements a pass chunk takes.
const passGrain = 1 << 13

// pass clips, saves and updates elements [lo, hi) of the parameters
// seen as one vector. Every operation is element-wise, so the result
// does not depend on how the pass is split.
func (o *Optimizer) pass(lo, hi int) {
	c := &o.cur
	i, _ := slices.BinarySearch(o.offs, lo)
	if i == len(o.offs) || o.offs[i] > lo {
		i--
	}
	for ; i < len(o.params) && o.offs[i] < hi; i++ {
		off := o.offs[i]
		a, b := max(lo, off)-off, min(hi, off+len(o.params[i]))-off
		if a >= b {
			continue
		}
		w, g := o.params[i][a:b], c.grads[i][a:b]
		if c.clip != 1 {
			asm.Scale(c.clip, g)
		}
		if o.prev != nil {
			copy(o.prev[off+a:off+b], w)
		}
		decay := c.decay
		if o.decay != nil && !o.decay[i] {
			decay = 0
		}
		asm.Adam(w, g, o.m[i][a:b], o.v[i][a:b], c.b1, c.b2, c.a, c.s, c.eps, decay)
	}
}

// SetRollback makes every update first copy the weights it changes
// into prev (the parameters' total length), in the same pass: a trainer
// keeps them to undo a step.
func (o *Optimizer) SetRollback(prev []float32) error {
	if prev != nil && len(prev) != o.total {
		return fmt.Errorf("optim: rollback buffer of %d elements for %d", len(prev), o.total)
	}
	o.prev = prev
	return nil
}

// Rectifier returns RAdam's variance rectification term r at step t for
// second-moment decay beta2, and whether it applies (ρt > 5); when it
// does not, RAdam takes a momentum-only step.
func Rectifier(beta2 float64, t int) (r float64, ok bool) {
	rhoInf := 2/(1-beta2) - 1
	bt := math.Pow(beta2, float64(t))
	rho := rhoInf - 2*float64(t)*bt/(1-bt)
	if !(rho > 5) {
		return 0, false
	}
	return math.Sqrt((rho - 4) * (rho - 2) * rhoInf / ((rhoInf - 4) * (rhoInf - 2) * rho)), true
}

// LastNorm returns the global gradient norm computed by the last Step,
// before clipping (0 before the first Step).
func (o *Optimizer) LastNorm() float64 { return o.norm }

// Steps returns the number of steps taken (or restored by SetState).
func (o *Optimizer) Steps() int { return o.t }

// State returns the first and second moments, one slice per parameter,
// and the step count, for saving in a checkpoint. The slices are the
// optimizer's own buffers: copy them if they must outlive later Steps.
func (o *Optimizer) State() (m, v [][]float32, step int) {
	return o.m, o.v, o.t
}

// SetState restores moments and a step count saved from State, copying
// them into the optimizer's buffers. The shapes must match the
// parameters.
func (o *Optimizer) SetState(m, v [][]float32, step int) error {
	if step < 0 {
		return fmt.Errorf("optim: negative step count %d in saved state", step)
	}
	if len(m) != len(o.m) || len(v) != len(o.v) {
		return fmt.Errorf("optim: saved state has %d/%d moment tensors, optimizer has %d", len(m), len(v), len(o.m))
	}
	for i := range o.m {
		if len(m[i]) != len(o.m[i]) || len(v[i]) != len(o.v[i]) {
			return fmt.Errorf("optim: saved moments of parameter %d have %d/%d elements, want %d", i, len(m[i]), len(v[i]), len(o.m[i]))
		}
	}
	for i := range o.m {
		copy(o.m[i], m[i])
		copy(o.v[i], v[i])
	}
	o.t = step
	return nil
}
