package model

import (
	"math"

	"github.com/clinic-ml/clinic/asm"
	"github.com/clinic-ml/clinic/internal/phase"
)

// core is what every stack of a model shares: the shape and variant, the
// kernels' argument structs, the dropout keys of the current pass and
// the scratch buffers that one sublayer at a time uses. A decoder-only
// Model has one stack over it; a Seq2Seq has two.
type core struct {
	cfg   Config
	d     int
	v     *variant // cfg.Norm's definition
	form  *form    // v.form
	train bool
	// keyBase picks the dropout masks of the current pass; each dropout
	// site derives its key from it (siteKey).
	keyBase uint64
	// seqOff is the index, in a larger batch, of this model's sequence
	// 0 (Model.SetSeqOffset): dropout counters continue that batch's, so
	// the shares of a batch draw the masks one pass over it draws.
	seqOff int

	op    *ops
	pool  *asm.Pool // nil: one thread
	clock *phase.Clock
	ones  []float32 // [d], the ω of Post-LN and Pre-LN
	// alphaRow is [d] scratch: ReZero's α spread over a row, or the
	// column sums of its gradient.
	alphaRow []float32
	pe       []float32 // sinusoidal positions, [SeqLen, d]

	// Scratch shared by all sublayers, sized for the largest stack.
	fo, dF, dH, dS []float32 // [rows, d]
	dO             []float32 // attention: gradient of the concatenated heads
	dQKV           []float32 // attention: gradient of q, k, v
	pd, dP         []float32 // attention: dropped-out probabilities, their gradient
	dHid           []float32 // FFN hidden gradient [rows, d_ff]

	attnFwd, attnBack func(lo, hi int)
	curAttn           *attention

	// spec is the config's generated layer code (nil: the generic
	// path), fz the operands of its regions.
	spec *layerCode
	fz   *fused
}

// scratch are the sizes of core's scratch buffers.
type scratch struct {
	rows, qkv, probs int
}

func (s *scratch) grow(rows, qkv, probs int) {
	s.rows, s.qkv, s.probs = max(s.rows, rows), max(s.qkv, qkv), max(s.probs, probs)
}

func newCore(cfg Config, sz scratch) *core {
	d := cfg.DModel
	v := variantOf(cfg.Norm)
	c := &core{cfg: cfg, d: d, v: v, form: v.form, op: newOps(), spec: specializedFor(cfg)}
	c.fz = newFused(c)
	f32 := func(n int) []float32 { return make([]float32, n) }
	T := cfg.SeqLen
	c.pe = f32(T * d)
	for t := 0; t < T; t++ {
		for i := 0; i < d/2; i++ {
			a := float64(t) * math.Pow(10000, -2*float64(i)/float64(d))
			c.pe[t*d+2*i] = float32(math.Sin(a))
			c.pe[t*d+2*i+1] = float32(math.Cos(a))
		}
	}
	c.ones = f32(d)
	c.alphaRow = f32(d)
	for i := range c.ones {
		c.ones[i] = 1
	}
	N := sz.rows
	c.fo, c.dF, c.dH, c.dS, c.dO = f32(N*d), f32(N*d), f32(N*d), f32(N*d), f32(N*d)
	c.dQKV = f32(sz.qkv)
	c.pd, c.dP = f32(sz.probs), f32(sz.probs)
	c.dHid = f32(N * cfg.DFF)
	c.attnFwd = func(lo, hi int) {
		for i := lo; i < hi; i++ {
			c.curAttn.headForward(i)
		}
	}
	c.attnBack = func(lo, hi int) {
		for i := lo; i < hi; i++ {
			c.curAttn.headBackward(i)
		}
	}
	return c
}

// startPass sets the dropout state of a forward pass: train switches
// dropout on with the masks of draw.
func (c *core) startPass(train bool, seed, draw uint64) {
	c.train = train
	if train {
		c.keyBase = asm.Mix64(seed ^ asm.Mix64(draw))
	}
}

// siteKey is the dropout key of one dropout site in the current pass.
func (c *core) siteKey(site int) uint64 {
	return asm.Mix64(c.keyBase ^ asm.Mix64(uint64(site)))
}

// drop returns p when training, else 0.
func (c *core) drop(p float32) float32 {
	if c.train {
		return p
	}
	return 0
}

// sgemm is a GEMM on the pool, timed as a large GEMM.
func (c *core) sgemm(transA, transB bool, M, N, K int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, cc []float32, ldc int) {
	prev := c.clock.Enter(phase.GEMM)
	c.pool.Sgemm(transA, transB, M, N, K, alpha, a, lda, b, ldb, beta, cc, ldc)
	c.clock.Enter(prev)
}

// par is Parallel on the pool, timed as phase ph.
func (c *core) par(ph phase.Phase, n int, fn func(lo, hi int)) {
	prev := c.clock.Enter(ph)
	c.pool.Parallel(n, fn)
	c.clock.Enter(prev)
}

// spread returns v spread over a row (in alphaRow), as the row-wise
// kernels take their weights: ReZero's α.
func (c *core) spread(v float32) []float32 {
	for i := range c.alphaRow {
		c.alphaRow[i] = v
	}
	return c.alphaRow
}

func (c *core) setClock(clk *phase.Clock) { c.clock, c.op.clock = clk, clk }

func (c *core) setPool(p *asm.Pool) { c.pool, c.op.pool = p, p }
