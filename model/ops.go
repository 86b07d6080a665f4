package model

import (
	"github.com/clinic-ml/clinic/asm"
	"github.com/clinic-ml/clinic/internal/phase"
)

// ops runs the row-, column- and element-wise kernels on the worker pool.
// Each operation has a struct of its own arguments and a body (a method
// value bound once in newOps) that reads them, so a training step
// allocates nothing. The model calls ops from one goroutine, one
// operation at a time.
//
// Every split is chosen so that each output element is computed by
// exactly one worker in a fixed order: rows for row-wise kernels, and
// fixed blocks of rows for reductions over rows (reduce.go), whose
// partials the caller adds in block order. Results therefore do not
// depend on the thread count.
type ops struct {
	pool   *asm.Pool
	ln     lnArgs
	lnBack lnBackArgs
	col    colArgs
	red    partials
	drop   dropArgs
	rows   rowArgs
	act    actArgs
	scale  scaleArgs

	clock *phase.Clock // nil unless the step is being timed

	lnFn, lnBackFn, colSumFn, colDotFn, dropFn,
	scaleAddFn, dropScaleAddFn, broadcastFn, scaleFn func(lo, hi int)
	// actRows, actBackRows: act's GEMM epilogues, over rows of act.w
	// (actRows: the bias, then the activation if act.act)
	actRows, actBackRows asm.Epilogue
}

// scaleArgs: y = a·y element-wise.
type scaleArgs struct {
	y []float32
	a float32
}

func (a *scaleArgs) run(lo, hi int) { asm.Scale(a.a, a.y[lo:hi]) }

// lnArgs: y = LN(x)·γ + β over rows of width w.
type lnArgs struct {
	y, mean, rstd, x, gamma, beta []float32
	w                             int
	eps                           float32
}

func (a *lnArgs) run(lo, hi int) {
	w := a.w
	asm.LayerNorm(a.y[lo*w:hi*w], a.mean[lo:hi], a.rstd[lo:hi], a.x[lo*w:hi*w], a.gamma, a.beta, w, a.eps)
}

// lnBackArgs: dx from dy through LN, and the partials of dγ, dβ (slots
// 0 and w of red), split by blocks of rows.
type lnBackArgs struct {
	dx, dy, x, mean, rstd, gamma []float32
	w, rows                      int
	red                          *partials
}

func (a *lnBackArgs) run(lo, hi int) {
	w := a.w
	asm.LayerNormBackward(a.dx[lo*w:hi*w], a.dy[lo*w:hi*w], a.x[lo*w:hi*w], a.mean[lo:hi], a.rstd[lo:hi], a.gamma, w)
	eachBlock(a.rows, lo, hi, func(b, r0, r1 int, _ bool) {
		dg, db := a.red.at(b, 0, w), a.red.at(b, w, w)
		clear(dg)
		clear(db)
		asm.LayerNormParamGrad(dg, db, a.dy[r0*w:r1*w], a.x[r0*w:r1*w], a.mean[r0:r1], a.rstd[r0:r1], r1-r0, w)
	})
}

// colArgs: the partials of Σ_rows a (ColSum) or Σ_rows a⊙b (ColDot), in
// slot 0 of red, split by blocks of rows.
type colArgs struct {
	a, b    []float32
	rows, w int
	red     *partials
}

func (c *colArgs) sum(lo, hi int) {
	w := c.w
	eachBlock(c.rows, lo, hi, func(b, r0, r1 int, _ bool) {
		c.red.colSum(b, 0, c.a, r0, r1, w)
	})
}

func (c *colArgs) dot(lo, hi int) {
	w := c.w
	eachBlock(c.rows, lo, hi, func(b, r0, r1 int, _ bool) {
		p := c.red.at(b, 0, w)
		clear(p)
		asm.ColDot(p, c.a[r0*w:r1*w], c.b[r0*w:r1*w], r1-r0, w)
	})
}

// dropArgs: y = Drop(x), element-wise.
type dropArgs struct {
	y, x []float32
	p    float32
	key  uint64
	base uint32 // the counter of element 0 (see core.seqOff)
}

func (a *dropArgs) run(lo, hi int) {
	asm.Dropout(a.y[lo:hi], a.x[lo:hi], a.p, a.key, a.base+uint32(lo))
}

// rowArgs: row-wise y = w⊙x + b (ScaleAdd), y = w⊙x + Drop(b)
// (DropScaleAdd) or y = w (Broadcast) over rows of width len(w).
type rowArgs struct {
	y, w, x, b []float32
	p          float32
	key        uint64
	base       uint32
}

func (a *rowArgs) scaleAdd(lo, hi int) {
	d := len(a.w)
	asm.ScaleAddRows(a.y[lo*d:hi*d], a.w, a.x[lo*d:hi*d], a.b[lo*d:hi*d], d)
}

func (a *rowArgs) dropScaleAdd(lo, hi int) {
	d := len(a.w)
	asm.DropoutScaleAddRows(a.y[lo*d:hi*d], a.w, a.x[lo*d:hi*d], a.b[lo*d:hi*d], d, a.p, a.key, a.base+uint32(lo*d))
}

func (a *rowArgs) broadcast(lo, hi int) {
	d := len(a.w)
	asm.BroadcastRows(a.y[lo*d:hi*d], a.w, d)
}

// actArgs: x += bias, y = Drop(act(x)) and the backward dx = act'(x)·
// Drop(dy), run on rows of w elements as a GEMM completes them
// (core.linearBias, core.linearAct, core.linearBackAct).
type actArgs struct {
	act      bool // forward: y = Drop(act(x)) after the bias (else the bias only)
	gelu     bool
	y, x, dy []float32 // forward: y, x; backward: y = dx, dy, x
	bias     []float32 // forward: added to every row of x first
	p        float32
	key      uint64
	base     uint32
	w        int
}

// rows is the forward over rows [r0, r1).
func (a *actArgs) rows(r0, r1 int) {
	w := a.w
	for r := r0; r < r1; r++ {
		// 1·bias added: the bits of the GEMM summing onto bias rows
		asm.AxpyRows(a.x[r*w:r*w+w], one[:], a.bias, 0)
	}
	if a.act {
		a.forward(r0*w, r1*w)
	}
}

// one is AxpyRows' weight for adding a row as it is.
var one = [1]float32{1}

func (a *actArgs) forward(lo, hi int) {
	if a.gelu {
		asm.GELUDropout(a.y[lo:hi], a.x[lo:hi], a.p, a.key, a.base+uint32(lo))
	} else {
		asm.ReLUDropout(a.y[lo:hi], a.x[lo:hi], a.p, a.key, a.base+uint32(lo))
	}
}

func (a *actArgs) backward(lo, hi int) {
	if a.gelu {
		asm.GELUDropoutBackward(a.y[lo:hi], a.dy[lo:hi], a.x[lo:hi], a.p, a.key, a.base+uint32(lo))
	} else {
		asm.ReLUDropoutBackward(a.y[lo:hi], a.dy[lo:hi], a.x[lo:hi], a.p, a.key, a.base+uint32(lo))
	}
}

func newOps() *ops {
	o := &ops{}
	o.lnFn, o.lnBackFn = o.ln.run, o.lnBack.run
	o.colSumFn, o.colDotFn = o.col.sum, o.col.dot
	o.dropFn = o.drop.run
	o.scaleAddFn, o.dropScaleAddFn, o.broadcastFn = o.rows.scaleAdd, o.rows.dropScaleAdd, o.rows.broadcast
	o.actRows = o.act.rows
	o.actBackRows = func(r0, r1 int) { o.act.backward(r0*o.act.w, r1*o.act.w) }
	o.scaleFn = o.scale.run
	return o
}

// par runs fn over [0,n) on the pool, timed as element-wise work.
func (o *ops) par(n, grain int, fn func(lo, hi int)) {
	prev := o.clock.Enter(phase.Elementwise)
	o.pool.ParallelGrain(n, grain, fn)
	o.clock.Enter(prev)
}

// LN: y = LN(x) over rows of width w.
func (o *ops) LN(y, mean, rstd, x, g, b []float32, w int, eps float32) {
	o.ln = lnArgs{y, mean, rstd, x, g, b, w, eps}
	o.par(len(x)/w, 1, o.lnFn)
	o.ln = lnArgs{}
}

// reduce runs body over rows in chunks of whole reduction blocks
// (reduce.go), timed as element-wise work until the caller, having
// added the partials, enters the phase it returns.
func (o *ops) reduce(rows int, body func(lo, hi int)) (prev phase.Phase) {
	prev = o.clock.Enter(phase.Elementwise)
	o.pool.ParallelGrain(rows, redRows(rows), body)
	return prev
}

// LNBack writes dx and accumulates dγ, dβ, in one row region.
func (o *ops) LNBack(dx, dg, db, dy, x, mean, rstd, g []float32, w int) {
	rows := len(x) / w
	o.lnBack = lnBackArgs{dx, dy, x, mean, rstd, g, w, rows, &o.red}
	prev := o.reduce(rows, o.lnBackFn)
	o.red.fold(dg, 0, rows)
	o.red.fold(db, w, rows)
	o.clock.Enter(prev)
	o.lnBack = lnBackArgs{}
}

// ColSum: dst += Σ_rows src.
func (o *ops) ColSum(dst, src []float32) {
	w := len(dst)
	rows := len(src) / w
	o.col = colArgs{a: src, rows: rows, w: w, red: &o.red}
	prev := o.reduce(rows, o.colSumFn)
	o.red.fold(dst, 0, rows)
	o.clock.Enter(prev)
	o.col = colArgs{}
}

// ColDot: dst += Σ_rows a⊙b.
func (o *ops) ColDot(dst, a, b []float32) {
	w := len(dst)
	rows := len(a) / w
	o.col = colArgs{a: a, b: b, rows: rows, w: w, red: &o.red}
	prev := o.reduce(rows, o.colDotFn)
	o.red.fold(dst, 0, rows)
	o.clock.Enter(prev)
	o.col = colArgs{}
}

// Dropout: y = drop(x) with the mask of key (y may alias x), element i
// drawing counter base+i.
func (o *ops) Dropout(y, x []float32, p float32, key uint64, base uint32) {
	if p == 0 {
		if &y[0] != &x[0] {
			copy(y, x)
		}
		return
	}
	o.drop = dropArgs{y, x, p, key, base}
	o.par(len(x), 64, o.dropFn)
	o.drop = dropArgs{}
}

// ScaleAdd: y = w⊙x + b row-wise (y may alias b).
func (o *ops) ScaleAdd(y, w, x, b []float32) {
	o.rows = rowArgs{y: y, w: w, x: x, b: b}
	o.par(len(x)/len(w), 1, o.scaleAddFn)
	o.rows = rowArgs{}
}

// DropScaleAdd: y = w⊙x + Drop(b) row-wise (y may alias x or b).
func (o *ops) DropScaleAdd(y, w, x, b []float32, p float32, key uint64, base uint32) {
	o.rows = rowArgs{y, w, x, b, p, key, base}
	o.par(len(x)/len(w), 1, o.dropScaleAddFn)
	o.rows = rowArgs{}
}

// Scale: y = a·y.
func (o *ops) Scale(y []float32, a float32) {
	o.scale = scaleArgs{y, a}
	o.par(len(y), 64, o.scaleFn)
	o.scale = scaleArgs{}
}

// Broadcast sets every row of y to v.
func (o *ops) Broadcast(y, v []float32) {
	o.rows = rowArgs{y: y, w: v}
	o.par(len(y)/len(v), 1, o.broadcastFn)
	o.rows = rowArgs{}
}
