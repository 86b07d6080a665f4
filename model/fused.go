package model

import (
	"github.com/clinic-ml/clinic/asm"
	"github.com/clinic-ml/clinic/internal/phase"
)

//go:generate go run -C ../gen ./layergen -out ../model/layers_gen.go

// The specialized path. For the configs listed in gen/layergen/configs.go
// the generator writes, per config, one sublayer forward and one
// backward (layers_gen.go) with the shapes as constants and the
// element-wise work between two GEMMs grouped into one parallel region
// that walks the rows in blocks small enough to stay in cache:
//
//	forward:  x' = LN(w⊙x + Drop(F(x))), then the next sublayer's bias
//	          rows (which its GEMMs accumulate onto), in one region;
//	backward: the upper sublayer's dx = w⊙dS + dH, this sublayer's
//	          LayerNorm backward, dF = Drop(dS), and the partials of the
//	          LayerNorm, ω and output-bias gradients in one row region,
//	          whose partials the caller then adds (reduce.go).
//
// The generic path runs each of these as a kernel of its own over all
// rows. Both call the same kernels on the same rows with the same
// dropout counters, and sum the column reductions in the same blocks of
// rows, so the specialized path is bit-identical to the generic one
// (specialized_test.go checks every listed config).

// layerKey is what the specialized code depends on.
type layerKey struct {
	norm       string
	d, h, f    int
	activation string
}

func keyOf(cfg Config) layerKey {
	return layerKey{cfg.Norm, cfg.DModel, cfg.Heads, cfg.DFF, cfg.Activation}
}

// layerCode is one config's generated sublayer code.
type layerCode struct {
	name  string
	block int // rows per block of the fused regions
	// fused are the regions the code was generated for (gen/layergen's
	// list of variants): the variant's form's.
	fused fusedKind
	// forward runs sublayer s, ending with the residual (the epilogue
	// of the branch's output GEMM) that also writes next's output bias
	// rows (next is nil after the stack's last sublayer).
	forward func(s, next *sublayer)
	// backward runs sublayer s's backward. At the top (up nil) it first
	// forms its own dout from the stack's gradient (Pre-LN: through the
	// stack's final LayerNorm, from other); below, the sublayer above
	// formed it in its dH GEMM's epilogue (fused.down). It ends with its
	// own dH GEMM, whose epilogue forms the dout of the sublayer below
	// (into other; Post-LN, Admin, DeepNorm: w⊙dS + dH, w s's shortcut;
	// Pre-LN: dout + LN'ᵀ·dH with s's LayerNorm), or under the first
	// sublayer the stack's dx, into other. other is the buffer that is
	// not dout (the stack's gradient ping-pong).
	backward func(s *sublayer, dout, other []float32, up *sublayer)
}

// Specialized returns the name of the generated layer code a model of
// cfg runs, or "" when it runs the generic path: its (norm, d_model,
// heads, d_ff, activation) is not on the list, or cfg.Generic.
func Specialized(cfg Config) string {
	if code := specializedFor(cfg); code != nil {
		return code.name
	}
	return ""
}

func specializedFor(cfg Config) *layerCode {
	if cfg.Generic {
		return nil
	}
	code, ok := layerCodes[keyOf(cfg)]
	if !ok || code.fused != variantOf(cfg.Norm).form.fused {
		return nil
	}
	return &code
}

// SpecializedConfig is an entry of the list the layer code is generated
// for; the step benchmarks train exactly these.
type SpecializedConfig struct {
	Name                                         string
	Norm, Activation                             string
	EncoderLayers, Layers, DModel, Heads, DFF, T int
	Batch                                        int  // sequences per step (benchmarks)
	Bench                                        bool // a step benchmark config
}

// Config returns the model config of the entry (vocabulary as given).
func (s SpecializedConfig) Config(vocab int) Config {
	return Config{EncoderLayers: s.EncoderLayers, Layers: s.Layers, DModel: s.DModel, Heads: s.Heads, DFF: s.DFF,
		SeqLen: s.T, Vocab: vocab, Dropout: 0.1, AttnDropout: 0.1, ActDropout: 0.1, Norm: s.Norm,
		Activation: s.Activation, LNEps: 1e-5}
}

// SpecializedConfigs returns the list the layer code was generated for.
func SpecializedConfigs() []SpecializedConfig {
	return append([]SpecializedConfig(nil), specializedConfigs...)
}

// fused holds the operands of the specialized path's regions: one
// region at a time, like ops, with bodies bound once so a step
// allocates nothing.
type fused struct {
	c           *core
	st          *stack
	s, next, up *sublayer
	dout, other []float32
	pre         bool // Pre-LN: prepare also runs the next LayerNorm
	d, block    int
	kind        downKind
	bias        *Param // down's input bias, summed over biasA's rows
	biasA       []float32

	embedFn, residualFn, downRowsFn func(lo, hi int)
	downSumFn                       func(b, a, z int)
}

func newFused(c *core) *fused {
	f := &fused{c: c}
	f.embedFn, f.residualFn, f.downRowsFn = f.embedRows, f.residualRows, f.downRows
	f.downSumFn = f.downSum
	return f
}

// run runs body over n rows or columns on the pool, timed as
// element-wise work.
func (f *fused) run(n int, body func(lo, hi int)) {
	prev := f.c.clock.Enter(phase.Elementwise)
	f.c.pool.Parallel(n, body)
	f.c.clock.Enter(prev)
}

// embed is the stack's embedding region: x0 = Drop(√d·E[tok] + PE),
// then what the first sublayer needs of its rows (prepare).
func (f *fused) embed(st *stack, d, block int) {
	f.st, f.next, f.d, f.block, f.pre = st, st.subs[0], d, block, f.c.form.fused == fusedLNThenBranch
	f.run(st.n, f.embedFn)
	f.st, f.next = nil, nil
}

func (f *fused) embedRows(lo, hi int) {
	st, c, d := f.st, f.c, f.d
	p, key, base := c.drop(c.cfg.Dropout), c.siteKey(st.siteBase), st.ctr(d)
	x := st.xs[0]
	for r0 := lo; r0 < hi; r0 += f.block {
		r1 := min(r0+f.block, hi)
		st.embedRows(r0, r1)
		if p > 0 {
			xr := x[r0*d : r1*d]
			asm.Dropout(xr, xr, p, key, base+uint32(r0*d))
		}
		f.prepare(x, r0, r1)
	}
}

// residualEp is the epilogue of sublayer s's branch output GEMM: on
// each block of rows it completes, x' = LN(w⊙x + Drop(F(x))) (Pre-LN:
// x' = x + Drop(F(x))), then what the next sublayer needs of those rows
// (prepare). A region of its own read F(x) back from memory, and at two
// threads half of it from the other core. done clears it after the GEMM.
func (f *fused) residualEp(s, next *sublayer, d, block int) asm.Epilogue {
	f.s, f.st, f.next, f.d, f.block, f.pre = s, s.st, next, d, block, f.c.form.fused == fusedLNThenBranch
	return f.residualFn
}

// done ends the region (or epilogue) whose operands f holds.
func (f *fused) done() { f.s, f.st, f.next = nil, nil, nil }

func (f *fused) residualRows(lo, hi int) {
	s, c, d := f.s, f.c, f.d
	x, fo := s.st.xs[s.k], c.fo
	p, key, base := c.drop(c.cfg.Dropout), c.siteKey(s.site()), s.st.ctr(d)
	w := s.shortcut()
	for r0 := lo; r0 < hi; r0 += f.block {
		r1 := min(r0+f.block, hi)
		a, z := r0*d, r1*d
		if f.pre {
			asm.DropoutScaleAddRows(s.out[a:z], c.ones, x[a:z], fo[a:z], d, p, key, base+uint32(a))
		} else {
			asm.DropoutScaleAddRows(s.saved[a:z], w, x[a:z], fo[a:z], d, p, key, base+uint32(a))
			asm.LayerNorm(s.out[a:z], s.mean[r0:r1], s.rstd[r0:r1], s.saved[a:z], s.g.W, s.b.W, d, c.cfg.LNEps)
		}
		f.prepare(s.out, r0, r1)
	}
}

// prepare writes what the next sublayer needs of rows [r0, r1) of the
// stream x it reads: under Pre-LN its LayerNorm of x (after the last
// sublayer, the stack's final LayerNorm); then its branch output's bias
// rows, in core.fo, which its output GEMM then sums onto. (Its first
// projection adds its bias in the GEMM's epilogue, core.linearBias.)
func (f *fused) prepare(x []float32, r0, r1 int) {
	d, fo, c := f.d, f.c.fo, f.c
	a, z := r0*d, r1*d
	if f.pre {
		if f.next == nil {
			st := f.st
			asm.LayerNorm(st.xf[a:z], st.finalLN.mean[r0:r1], st.finalLN.rstd[r0:r1], x[a:z], st.final[0].W, st.final[1].W, d, c.cfg.LNEps)
		} else {
			nx := f.next
			asm.LayerNorm(nx.saved[a:z], nx.mean[r0:r1], nx.rstd[r0:r1], x[a:z], nx.g.W, nx.b.W, d, c.cfg.LNEps)
		}
	}
	if f.next == nil {
		return
	}
	asm.BroadcastRows(fo[r0*d:r1*d], f.next.br.outBias().W, d)
}

// downKind is what fused.down runs on the rows of a dH GEMM.
type downKind uint8

const (
	// downBack: the backward's row work of a Post-LN, Admin or DeepNorm
	// sublayer (back).
	downBack downKind = iota
	// downTail: the stack's dx = w⊙dS + dH under its first sublayer
	// (Post-LN, Admin, DeepNorm).
	downTail
	// downPre: Pre-LN's, through the LayerNorm at the start of the
	// sublayer above (backPre), the first sublayer's included.
	downPre
)

// back is the element-wise work of sublayer s's backward before its
// branch (Post-LN, Admin, DeepNorm) as a region of its own, for the top
// sublayer, whose dout no GEMM of this stack writes: up's pending dx
// into dout, dS = LN'ᵀ·dout, dF = Drop(dS), and the partials of dγ, dβ,
// of dω = Σ dS⊙x under Admin and of the branch's output-bias gradient
// Σ dF; then the caller adds the partials. Below the top it runs as the
// epilogue of the GEMM that writes up's dH (down).
func (f *fused) back(s *sublayer, dout []float32, up *sublayer, d, block int) {
	f.set(downBack, s.st, s, dout, nil, up, d, block)
	f.region()
}

// backPre is back for Pre-LN: dout = other + LN'ᵀ·dH through up's
// LayerNorm (at the top, dout = LN'ᵀ·other through the stack's final
// LayerNorm), then dF = Drop(dout), and the partials of that
// LayerNorm's dγ, dβ and of the branch's output-bias gradient. With s
// nil it is the stack's tail: dx of the first sublayer, up, into dout,
// with no dF. A region of its own for the top sublayer; below it, the
// epilogue of up's dH GEMM (down).
func (f *fused) backPre(st *stack, s *sublayer, dout, other []float32, up *sublayer, d, block int) {
	f.set(downPre, st, s, dout, other, up, d, block)
	f.region()
}

// set holds the operands of down's (or back's) rows and clears the
// partials' counts.
func (f *fused) set(kind downKind, st *stack, s *sublayer, dout, other []float32, up *sublayer, d, block int) {
	f.kind, f.st, f.s, f.dout, f.other, f.up, f.d, f.block = kind, st, s, dout, other, up, d, block
	f.c.op.red.reset(st.n)
}

// region runs the rows set holds as a region of their own.
func (f *fused) region() {
	prev := f.c.op.reduce(f.st.n, f.downRowsFn)
	f.downDone()
	f.c.clock.Enter(prev)
}

// down is the epilogue of the GEMM that writes sublayer s's dH = a·W
// (dout and other: s's backward's): on each block of rows the GEMM
// completes, the row work of the sublayer below's back or backPre (its
// dout is other here, its other dout, as the stack passes them down),
// or under the first sublayer the stack's dx (into other, the stack's
// result); and the partials of the branch's input bias gradient Σ a
// (len(bias.G) columns of a). Regions of their own read dH and a back
// from memory, at two threads half of them from the other core.
// downDone ends it.
func (f *fused) down(s *sublayer, dout, other []float32, d, block int, bias *Param, a []float32) asm.Epilogue {
	var below *sublayer
	if s.k > 0 {
		below = s.st.subs[s.k-1]
	}
	switch {
	case f.c.form.fused == fusedLNThenBranch:
		f.set(downPre, s.st, below, other, dout, s, d, block)
	case below == nil:
		f.set(downTail, s.st, s, other, nil, nil, d, block)
	default:
		f.set(downBack, s.st, below, other, nil, s, d, block)
	}
	f.bias, f.biasA = bias, a
	return f.downRowsFn
}

// downDone adds the partials down's rows left and clears f.
func (f *fused) downDone() {
	s, d, n, red := f.s, f.d, f.st.n, &f.c.op.red
	switch f.kind {
	case downBack:
		red.fold(s.g.G, 0, n)
		red.fold(s.b.G, d, n)
		if s.omega != nil {
			red.fold(s.omega.G, 2*d, n)
		}
		red.fold(s.br.outBias().G, 3*d, n)
	case downPre:
		g, b, _, _, _, _ := f.preLN()
		red.fold(g.G, 0, n)
		red.fold(b.G, d, n)
		if s != nil {
			red.fold(s.br.outBias().G, 3*d, n)
		}
	}
	if f.bias != nil {
		red.fold(f.bias.G, 4*d, n)
	}
	f.st, f.s, f.dout, f.other, f.up, f.bias, f.biasA = nil, nil, nil, nil, nil, nil, nil
}

// downRows is down (or back, backPre) on rows [lo, hi), which need not
// follow the reduction's blocks: each block's partials are summed
// (downSum) by the worker that finishes its rows.
func (f *fused) downRows(lo, hi int) {
	n := f.st.n
	eachBlock(n, lo, hi, func(_, a, z int, _ bool) {
		switch f.kind {
		case downBack:
			f.backRowWork(a, z)
		case downTail:
			f.tailRowWork(a, z)
		case downPre:
			f.preRowWork(a, z)
		}
		f.c.op.red.complete(n, a, z, f.downSumFn)
	})
}

// downSum is block b's partials (rows [a, z)): back's or backPre's,
// and the input bias's Σ a in slot 4d, as ColSum sums a block.
func (f *fused) downSum(b, a, z int) {
	switch f.kind {
	case downBack:
		// dγ, dβ, dω = Σ dS⊙x (Admin), the output bias's Σ dF
		s := f.s
		var xs []float32
		if s.omega != nil {
			xs = s.st.xs[s.k]
		}
		f.lnSum(b, a, z, f.dout, s.saved, s.mean, s.rstd, f.c.dS, xs, f.c.dF)
	case downPre:
		// the LayerNorm's dγ, dβ, the output bias's Σ dF (but for the tail)
		_, _, x, mean, rstd, dy := f.preLN()
		var dF []float32
		if f.s != nil {
			dF = f.c.dF
		}
		f.lnSum(b, a, z, dy, x, mean, rstd, nil, nil, dF)
	}
	if f.bias != nil {
		f.c.op.red.colSum(b, 4*f.d, f.biasA, a, z, len(f.bias.G))
	}
}

// backRowWork is back's work per row: dout += w⊙dS + dH (up's pending
// dx), dS = LN'ᵀ·dout, dF = Drop(dS).
func (f *fused) backRowWork(lo, hi int) {
	s, c, d := f.s, f.c, f.d
	dout, dS, dH, dF := f.dout, c.dS, c.dH, c.dF
	p, key, base := c.drop(c.cfg.Dropout), c.siteKey(s.site()), s.st.ctr(d)
	var w []float32
	if f.up != nil {
		w = f.up.shortcut()
	}
	for r0 := lo; r0 < hi; r0 += f.block {
		r1 := min(r0+f.block, hi)
		a, z := r0*d, r1*d
		if w != nil {
			asm.ScaleAddRows(dout[a:z], w, dS[a:z], dH[a:z], d)
		}
		asm.LayerNormBackward(dS[a:z], dout[a:z], s.saved[a:z], s.mean[r0:r1], s.rstd[r0:r1], s.g.W, d)
		dropRows(dF[a:z], dS[a:z], p, key, base+uint32(a))
	}
}

// lnSum is block b's partials (rows [a, z)), block rows at a time, of
// a LayerNorm's dγ and dβ (its output gradient dy, its input x, the
// saved mean and rstd) in slots 0 and d, of Admin's dω = Σ dS⊙xs in slot
// 2d where xs is not nil, and of the output bias's Σ dF in slot 3d where
// dF is not nil: the one block sum of back's and backPre's rows.
func (f *fused) lnSum(b, a, z int, dy, x, mean, rstd, dS, xs, dF []float32) {
	d := f.d
	part := f.c.op.red.at(b, 0, 4*d)
	clear(part)
	for r0 := a; r0 < z; r0 += f.block {
		r1 := min(r0+f.block, z)
		p, q := r0*d, r1*d
		asm.LayerNormParamGrad(part[:d], part[d:2*d], dy[p:q], x[p:q], mean[r0:r1], rstd[r0:r1], r1-r0, d)
		if xs != nil {
			asm.ColDot(part[2*d:3*d], dS[p:q], xs[p:q], r1-r0, d)
		}
		if dF != nil {
			asm.ColSum(part[3*d:], dF[p:q], r1-r0, d)
		}
	}
}

// tailRowWork is the stack's dx = w⊙dS + dH on rows [lo, hi) (Post-LN,
// Admin, DeepNorm), with s the first sublayer.
func (f *fused) tailRowWork(lo, hi int) {
	c, d := f.c, f.d
	w := f.s.shortcut()
	for r0 := lo; r0 < hi; r0 += f.block {
		r1 := min(r0+f.block, hi)
		a, z := r0*d, r1*d
		asm.ScaleAddRows(f.dout[a:z], w, c.dS[a:z], c.dH[a:z], d)
	}
}

// dropRows is y = Drop(x) with element i drawing counter base+i, a copy
// when p = 0 (evaluation).
func dropRows(y, x []float32, p float32, key uint64, base uint32) {
	if p > 0 {
		asm.Dropout(y, x, p, key, base)
		return
	}
	copy(y, x)
}

// preLN returns the LayerNorm whose backward backPre runs: up's, or the
// stack's final one, with its input and output gradient.
func (f *fused) preLN() (g, b *Param, x, mean, rstd, dy []float32) {
	if f.up == nil {
		st := f.st
		return st.final[0], st.final[1], st.xs[len(st.xs)-1], st.finalLN.mean, st.finalLN.rstd, f.other
	}
	u := f.up
	return u.g, u.b, u.st.xs[u.k], u.mean, u.rstd, f.c.dH
}

// preRowWork is backPre's work per row: dout = LN'ᵀ·dy (+ other below
// the top), dF = Drop(dout) (but for the tail).
func (f *fused) preRowWork(lo, hi int) {
	c, d := f.c, f.d
	g, _, x, mean, rstd, dy := f.preLN()
	dout, dF := f.dout, c.dF
	var p float32
	var key uint64
	var base uint32
	if f.s != nil {
		p, key, base = c.drop(c.cfg.Dropout), c.siteKey(f.s.site()), f.st.ctr(d)
	}
	for r0 := lo; r0 < hi; r0 += f.block {
		r1 := min(r0+f.block, hi)
		a, z := r0*d, r1*d
		asm.LayerNormBackward(dout[a:z], dy[a:z], x[a:z], mean[r0:r1], rstd[r0:r1], g.W, d)
		if f.up != nil {
			asm.ScaleAddRows(dout[a:z], c.ones, f.other[a:z], dout[a:z], d)
		}
		if f.s != nil {
			dropRows(dF[a:z], dout[a:z], p, key, base+uint32(a))
		}
	}
}
