package model

import "github.com/clinic-ml/clinic/asm"

// ops runs the row-, column- and element-wise kernels on the worker pool.
// Each operation's body is a closure built once in newOps, reading its
// arguments from the struct, so a training step allocates nothing. The
// model calls ops from one goroutine, one operation at a time.
//
// Every split is chosen so that each output element is computed by
// exactly one worker in a fixed order: rows for row-wise kernels, columns
// for reductions over rows. Results therefore do not depend on the
// thread count.
type ops struct {
	a, b, c, d, e, f []float32
	w                int // row width
	rows             int
	p, scale         float32
	key              uint64
	act              string

	layerNorm, layerNormBack, lnParamGrad, colSum, colDot,
	dropout, scaleAdd, broadcast, actDrop, actDropBack, dropScaleAdd func(lo, hi int)
}

func newOps() *ops {
	o := &ops{}
	o.layerNorm = func(lo, hi int) {
		w := o.w
		asm.LayerNorm(o.a[lo*w:hi*w], o.b[lo:hi], o.c[lo:hi], o.d[lo*w:hi*w], o.e, o.f, w, o.scale)
	}
	o.layerNormBack = func(lo, hi int) {
		w := o.w
		asm.LayerNormBackward(o.a[lo*w:hi*w], o.b[lo*w:hi*w], o.c[lo*w:hi*w], o.d[lo:hi], o.e[lo:hi], o.f, w)
	}
	o.lnParamGrad = func(lo, hi int) {
		asm.LayerNormParamGrad(o.a[lo:hi], o.b[lo:hi], o.c[lo:], o.d[lo:], o.e, o.f, o.rows, o.w)
	}
	o.colSum = func(lo, hi int) { asm.ColSum(o.a[lo:hi], o.b[lo:], o.rows, o.w) }
	o.colDot = func(lo, hi int) { asm.ColDot(o.a[lo:hi], o.b[lo:], o.c[lo:], o.rows, o.w) }
	o.dropout = func(lo, hi int) { asm.Dropout(o.a[lo:hi], o.b[lo:hi], o.p, o.key, uint32(lo)) }
	o.scaleAdd = func(lo, hi int) {
		w := o.w
		asm.ScaleAddRows(o.a[lo*w:hi*w], o.b, o.c[lo*w:hi*w], o.d[lo*w:hi*w], w)
	}
	o.broadcast = func(lo, hi int) { asm.BroadcastRows(o.a[lo*o.w:hi*o.w], o.b, o.w) }
	o.actDrop = func(lo, hi int) {
		if o.act == "gelu" {
			asm.GELUDropout(o.a[lo:hi], o.b[lo:hi], o.p, o.key, uint32(lo))
		} else {
			asm.ReLUDropout(o.a[lo:hi], o.b[lo:hi], o.p, o.key, uint32(lo))
		}
	}
	o.actDropBack = func(lo, hi int) {
		if o.act == "gelu" {
			asm.GELUDropoutBackward(o.a[lo:hi], o.b[lo:hi], o.c[lo:hi], o.p, o.key, uint32(lo))
		} else {
			asm.ReLUDropoutBackward(o.a[lo:hi], o.b[lo:hi], o.c[lo:hi], o.p, o.key, uint32(lo))
		}
	}
	o.dropScaleAdd = func(lo, hi int) {
		w := o.w
		asm.DropoutScaleAddRows(o.a[lo*w:hi*w], o.b, o.c[lo*w:hi*w], o.d[lo*w:hi*w], w, o.p, o.key, uint32(lo*w))
	}
	return o
}

func (o *ops) done() { o.a, o.b, o.c, o.d, o.e, o.f = nil, nil, nil, nil, nil, nil }

// LN: y = LN(x) over rows of width w.
func (o *ops) LN(y, mean, rstd, x, g, b []float32, w int, eps float32) {
	o.a, o.b, o.c, o.d, o.e, o.f, o.w, o.scale = y, mean, rstd, x, g, b, w, eps
	asm.Parallel(len(x)/w, o.layerNorm)
	o.done()
}

// LNBack writes dx and accumulates dγ, dβ.
func (o *ops) LNBack(dx, dg, db, dy, x, mean, rstd, g []float32, w int) {
	rows := len(x) / w
	o.a, o.b, o.c, o.d, o.e, o.f, o.w = dx, dy, x, mean, rstd, g, w
	asm.Parallel(rows, o.layerNormBack)
	o.a, o.b, o.c, o.d, o.e, o.f, o.rows = dg, db, dy, x, mean, rstd, rows
	asm.Parallel(w, o.lnParamGrad)
	o.done()
}

// ColSum: dst += Σ_rows src.
func (o *ops) ColSum(dst, src []float32) {
	w := len(dst)
	o.a, o.b, o.w, o.rows = dst, src, w, len(src)/w
	asm.Parallel(w, o.colSum)
	o.done()
}

// ColDot: dst += Σ_rows a⊙b.
func (o *ops) ColDot(dst, a, b []float32) {
	w := len(dst)
	o.a, o.b, o.c, o.w, o.rows = dst, a, b, w, len(a)/w
	asm.Parallel(w, o.colDot)
	o.done()
}

// Dropout: y = drop(x) with the mask of key (y may alias x).
func (o *ops) Dropout(y, x []float32, p float32, key uint64) {
	if p == 0 {
		if &y[0] != &x[0] {
			copy(y, x)
		}
		return
	}
	o.a, o.b, o.p, o.key = y, x, p, key
	asm.ParallelGrain(len(x), 64, o.dropout)
	o.done()
}

// ScaleAdd: y = w⊙x + b row-wise (y may alias b).
func (o *ops) ScaleAdd(y, w, x, b []float32) {
	o.a, o.b, o.c, o.d, o.w = y, w, x, b, len(w)
	asm.Parallel(len(x)/len(w), o.scaleAdd)
	o.done()
}

// Broadcast sets every row of y to v.
func (o *ops) Broadcast(y, v []float32) {
	o.a, o.b, o.w = y, v, len(v)
	asm.Parallel(len(y)/len(v), o.broadcast)
	o.done()
}

// ActDrop: y = Drop(act(x)).
func (o *ops) ActDrop(act string, y, x []float32, p float32, key uint64) {
	o.a, o.b, o.act, o.p, o.key = y, x, act, p, key
	asm.ParallelGrain(len(x), 64, o.actDrop)
	o.done()
}

// ActDropBack: dx = act'(x)·Drop(dy) (dx may alias dy).
func (o *ops) ActDropBack(act string, dx, dy, x []float32, p float32, key uint64) {
	o.a, o.b, o.c, o.act, o.p, o.key = dx, dy, x, act, p, key
	asm.ParallelGrain(len(x), 64, o.actDropBack)
	o.done()
}

// DropScaleAdd: y = w⊙x + Drop(b) row-wise (y may alias x or b).
func (o *ops) DropScaleAdd(y, w, x, b []float32, p float32, key uint64) {
	o.a, o.b, o.c, o.d, o.w, o.p, o.key = y, w, x, b, len(w), p, key
	asm.Parallel(len(x)/len(w), o.dropScaleAdd)
	o.done()
}
