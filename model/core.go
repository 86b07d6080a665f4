package model

import (
	"math"
	"sync"

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
	// attention: scratch for one (sequence, head) unit's dropped-out
	// probabilities and their gradient, and packing room for its
	// products, one per chunk running (attnScratch)
	attnMu   sync.Mutex
	attnFree []*attnBuf
	attnTT   int       // floats of one unit's probabilities
	dHid     []float32 // FFN hidden gradient [rows, d_ff]

	attnFwd, attnBack func(lo, hi int)
	curAttn           *attention

	// spec is the config's generated layer code (nil: the generic
	// path), fz the operands of its regions.
	spec *layerCode
	fz   *fused

	// bf16 runs the linear layers' GEMMs with their inputs rounded to
	// bf16 and fp32 accumulation (Config.BF16); pass counts the forward
	// passes and packs holds each weight packed for the bf16 GEMM in the
	// layouts it is used in, valid for the pass it was packed in.
	bf16  bool
	pass  uint64
	packs map[packKey]*weightPack
}

// traceBF16, when set (by tests), sees every bf16 GEMM of every model.
var traceBF16 func(bf16Call)

// packKey is a weight in one layout: op(B) = Wᵀ (trans, the forward's
// x·Wᵀ) or W (the backward's dy·W).
type packKey struct {
	w     *Param
	trans bool
}

// weightPack is a weight rounded to bf16 and packed, in the pass and at
// the CPU level (the packed layout is its kernel's) it was packed in.
type weightPack struct {
	pass  uint64
	level string
	pb    *asm.PackedBF16
}

// scratch are the sizes of core's scratch buffers.
type scratch struct {
	rows, qkv int
}

func (s *scratch) grow(rows, qkv int) {
	s.rows, s.qkv = max(s.rows, rows), max(s.qkv, qkv)
}

func newCore(cfg Config, sz scratch) *core {
	d := cfg.DModel
	v := variantOf(cfg.Norm)
	c := &core{cfg: cfg, d: d, v: v, form: v.form, op: newOps(), spec: specializedFor(cfg), bf16: cfg.BF16}
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
	c.attnTT = T * T
	c.dHid = f32(N * cfg.DFF)
	// the partials of the widest reductions: the fused backward's four
	// of d (dγ, dβ, dω, the output bias) beside the QKV or FFN hidden
	// bias that the same dH epilogue sums (fused.downSum)
	c.op.red = newPartials(N, 4*d+max(3*d, cfg.DFF))
	c.attnFwd = func(lo, hi int) {
		b := c.attnScratch()
		for i := lo; i < hi; i++ {
			c.curAttn.headForward(i, b.f[:c.attnTT], &b.g)
		}
		c.attnDone(b)
	}
	c.attnBack = func(lo, hi int) {
		b := c.attnScratch()
		for i := lo; i < hi; i++ {
			c.curAttn.headBackward(i, b.f[:c.attnTT], b.f[c.attnTT:], &b.g)
		}
		c.attnDone(b)
	}
	return c
}

// attnScratch lends an attention chunk room for one unit's dropped-out
// probabilities and their gradient (2·SeqLen² floats), which the
// chunk's units use one after another; attnDone takes it back. Only the
// probabilities themselves are kept for the backward (attention.P),
// which recomputes the dropout. The two had been arrays over all units,
// 8 MB a layer at L6_d256 written and read back through memory, where
// one unit's 128 KB stays in the core's L2. There are as many as chunks
// ever ran at once: the pool's threads. Each also keeps the packing
// buffer of the chunk's per-head products (attnBuf).
func (c *core) attnScratch() *attnBuf {
	c.attnMu.Lock()
	defer c.attnMu.Unlock()
	if n := len(c.attnFree); n > 0 {
		b := c.attnFree[n-1]
		c.attnFree = c.attnFree[:n-1]
		return b
	}
	return &attnBuf{f: make([]float32, 2*c.attnTT)}
}

// attnBuf is one running attention chunk's scratch: f for the
// probabilities' copies, g for packing in the chunk's per-head products
// (asm.SgemmSTIn), so that the pool's workers do not take turns at the
// lock of asm's shared packing buffers for each of them.
type attnBuf struct {
	f []float32
	g asm.GemmBuf
}

func (c *core) attnDone(b *attnBuf) {
	c.attnMu.Lock()
	c.attnFree = append(c.attnFree, b)
	c.attnMu.Unlock()
}

// startPass sets the dropout state of a forward pass: train switches
// dropout on with the masks of draw.
func (c *core) startPass(train bool, seed, draw uint64) {
	c.train = train
	// The weights may have changed since the last pass (an optimizer
	// step, a rollback, a load): the bf16 packs are repacked once each
	// in this pass, at their first use, and the backward reuses them.
	c.pass++
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

// linear is out = a·Wᵀ + beta·out for a weight w ([N, K], row stride
// ldw): a linear layer's forward, and the output head's logits.
func (c *core) linear(M, N, K int, a []float32, lda int, w *Param, ldw int, beta float32, out []float32, ldo int) {
	if !c.bf16 {
		c.sgemm(false, true, M, N, K, 1, a, lda, w.W, ldw, beta, out, ldo)
		return
	}
	c.sgemmBF16(false, true, M, N, K, a, lda, w.W, ldw, c.packed(w, true, K, N, ldw), beta, out, ldo)
}

// linearBack is out = a·W + beta·out for a weight w ([K, N], row stride
// ldw): the gradient of a linear layer's input.
func (c *core) linearBack(M, N, K int, a []float32, lda int, w *Param, ldw int, beta float32, out []float32, ldo int) {
	if !c.bf16 {
		c.sgemm(false, false, M, N, K, 1, a, lda, w.W, ldw, beta, out, ldo)
		return
	}
	c.sgemmBF16(false, false, M, N, K, a, lda, w.W, ldw, c.packed(w, false, K, N, ldw), beta, out, ldo)
}

// linearBias is a linear layer with its bias, out = a·Wᵀ + b ([M, N]):
// the bias is added to each block of rows as the GEMM completes it.
// (Rows of b written before the GEMM, for it to sum onto, were a pass
// of their own and read back from memory: 2·48 MB a layer's q, k, v of
// an L6_d256 step at 128 × 128 tokens. The bits are the same while K
// is one k block of the kernel: fl(Σ + b) either way.)
func (c *core) linearBias(M, N, K int, a []float32, lda int, w *Param, ldw int, b *Param, out []float32) {
	c.op.act = actArgs{x: out, bias: b.W, w: N}
	c.linearEp(M, N, K, a, lda, w, ldw, 0, out, c.op.actRows)
	c.op.act = actArgs{}
}

// linearAct is the feed-forward's first layer: pre = a·Wᵀ + b ([M, N]),
// then hid = Drop(act(pre)), on each block of rows as the GEMM completes
// it, while the block is in cache (a pass of its own read pre back from
// memory: 64 MB a layer of an L6_d256 step at 128 × 128 tokens).
// Dropout element i of pre draws counter base+i.
func (c *core) linearAct(act string, M, N, K int, a []float32, lda int, w *Param, ldw int, b *Param, pre, hid []float32, p float32, key uint64, base uint32) {
	c.op.act = actArgs{act: true, gelu: act == "gelu", y: hid, x: pre, bias: b.W, p: p, key: key, base: base, w: N}
	c.linearEp(M, N, K, a, lda, w, ldw, 0, pre, c.op.actRows)
	c.op.act = actArgs{}
}

// linearEp is linear into out ([M, N], row stride N) with ep run on
// each block of its rows as the GEMM completes them (gemmEp).
func (c *core) linearEp(M, N, K int, a []float32, lda int, w *Param, ldw int, beta float32, out []float32, ep asm.Epilogue) {
	c.gemmEp(true, M, N, K, a, lda, w, ldw, beta, out, ep)
}

// linearBackAct is the gradient through the feed-forward's second
// layer and its activation: dh = dy·W ([M, N]), then dh = act'(pre)·
// Drop(dh) on each block of rows as the GEMM completes it.
func (c *core) linearBackAct(act string, M, N, K int, dy []float32, lddy int, w *Param, ldw int, dh, pre []float32, p float32, key uint64, base uint32) {
	c.op.act = actArgs{gelu: act == "gelu", y: dh, dy: dh, x: pre, p: p, key: key, base: base, w: N}
	c.gemmEp(false, M, N, K, dy, lddy, w, ldw, 0, dh, c.op.actBackRows)
	c.op.act = actArgs{}
}

// linearBackEp is linearBack into out ([M, N], row stride N) with ep
// run on each block of its rows as the GEMM completes them (gemmEp).
func (c *core) linearBackEp(M, N, K int, a []float32, lda int, w *Param, ldw int, out []float32, ep asm.Epilogue) {
	c.gemmEp(false, M, N, K, a, lda, w, ldw, 0, out, ep)
}

// gemmEp is out = a·op(W) + beta·out ([M, N], row stride N; op(W) = Wᵀ
// for transW, a linear layer's forward) followed by ep on its rows,
// inside the GEMM for fp32; the bf16 GEMM runs it in a region after.
func (c *core) gemmEp(transW bool, M, N, K int, a []float32, lda int, w *Param, ldw int, beta float32, out []float32, ep asm.Epilogue) {
	if c.bf16 {
		c.sgemmBF16(false, transW, M, N, K, a, lda, w.W, ldw, c.packed(w, transW, K, N, ldw), beta, out, N)
		c.op.par(M, 1, ep)
		return
	}
	prev := c.clock.Enter(phase.GEMM)
	c.pool.SgemmEp(false, transW, M, N, K, 1, a, lda, w.W, ldw, beta, out, N, ep)
	c.clock.Enter(prev)
}

// weightGrad is g += dyᵀ·x, a weight's gradient [M, N] from the output
// gradients dy [K, M] and inputs x [K, N].
func (c *core) weightGrad(M, N, K int, dy []float32, lddy int, x []float32, ldx int, g []float32, ldg int) {
	if !c.bf16 {
		c.sgemm(true, false, M, N, K, 1, dy, lddy, x, ldx, 1, g, ldg)
		return
	}
	c.sgemmBF16(true, false, M, N, K, dy, lddy, x, ldx, nil, 1, g, ldg)
}

// sgemmBF16 is out = op(a)·op(b) + beta·out with bf16 inputs and fp32
// accumulation, timed as a GEMM: on pb, op(b) packed, when not nil.
func (c *core) sgemmBF16(transA, transB bool, M, N, K int, a []float32, lda int, b []float32, ldb int, pb *asm.PackedBF16, beta float32, out []float32, ldo int) {
	var before []float32
	if traceBF16 != nil {
		before = append(before, out...)
	}
	prev := c.clock.Enter(phase.GEMM)
	if pb != nil {
		c.pool.SgemmBF16Packed(transA, M, 1, a, lda, pb, beta, out, ldo)
	} else {
		c.pool.SgemmBF16(transA, transB, M, N, K, 1, a, lda, b, ldb, beta, out, ldo)
	}
	c.clock.Enter(prev)
	if traceBF16 != nil {
		traceBF16(bf16Call{transA, transB, M, N, K, append([]float32(nil), a...), lda, append([]float32(nil), b...), ldb, beta, before, append([]float32(nil), out...), ldo})
	}
}

// bf16Call is one bf16 GEMM of a pass, its operands and its output
// before and after (tests replay it on the pure-Go twin).
type bf16Call struct {
	transA, transB bool
	m, n, k        int
	a              []float32
	lda            int
	b              []float32
	ldb            int
	beta           float32
	before, after  []float32
	ldc            int
}

// packed is w as op(B) (Wᵀ with trans, k×n), rounded to bf16 and packed:
// once per pass and layout, in the storage of the last packing. The
// backward of a pass runs on the weights its forward read, so a pack of
// the current pass is never stale.
func (c *core) packed(w *Param, trans bool, k, n, ldw int) *asm.PackedBF16 {
	key := packKey{w, trans}
	p := c.packs[key]
	if p == nil {
		if c.packs == nil {
			c.packs = map[packKey]*weightPack{}
		}
		p = &weightPack{}
		c.packs[key] = p
	}
	if p.pb == nil || p.pass != c.pass || p.level != asm.CPULevel() {
		p.pb = c.pool.PackBF16(p.pb, trans, k, n, w.W, ldw)
		p.pass, p.level = c.pass, asm.CPULevel()
	}
	return p.pb
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
