package model

import (
	"fmt"
	"sync/atomic"

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
//	          LayerNorm backward and dF = Drop(dS) in one row region;
//	          the LayerNorm, ω and output-bias gradients in one column
//	          region.
//
// The generic path runs each of these as a kernel of its own over all
// rows. Both call the same kernels on the same rows with the same
// dropout counters, and split the column reductions the same way, so
// the specialized path is bit-identical to the generic one
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
	// forward runs sublayer s, ending with the region that also writes
	// next's bias rows (next is nil after the stack's last sublayer).
	forward func(s, next *sublayer)
	// backward takes dout to the branch input gradient in core.dH and
	// the LayerNorm output gradient in core.dS; dx = w⊙dS + dH is left
	// to the sublayer below (or stack.backward): pending is the
	// shortcut w of the sublayer above, whose dx is still to be formed
	// into dout, nil at the top.
	backward func(s *sublayer, dout, pending []float32)
}

var specializedOff atomic.Bool

// SetSpecialized switches the generated per-config layer code on (the
// default) or off for models planned afterwards; off, every config runs
// the generic path ('clinic train --specialized=false').
func SetSpecialized(on bool) { specializedOff.Store(!on) }

// Specialized returns the name of the generated layer code cfg runs, or
// "" when it runs the generic path: its (norm, d_model, heads, d_ff,
// activation) is not on the list, or SetSpecialized(false).
func Specialized(cfg Config) string {
	if code := specializedFor(cfg); code != nil {
		return code.name
	}
	return ""
}

func specializedFor(cfg Config) *layerCode {
	if specializedOff.Load() {
		return nil
	}
	code, ok := layerCodes[keyOf(cfg)]
	if !ok {
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
	c        *core
	st       *stack
	s, next  *sublayer
	dout     []float32
	pending  []float32
	omega    bool
	d, block int

	embedFn, residualFn, backRowsFn, backColsFn func(lo, hi int)
}

func newFused(c *core) *fused {
	f := &fused{c: c}
	f.embedFn, f.residualFn, f.backRowsFn, f.backColsFn = f.embedRows, f.residualRows, f.backRows, f.backCols
	return f
}

// run runs body over n rows or columns on the pool, timed as
// element-wise work.
func (f *fused) run(n int, body func(lo, hi int)) {
	prev := f.c.clock.Enter(phase.Elementwise)
	asm.Parallel(n, body)
	f.c.clock.Enter(prev)
}

// embed is the stack's embedding region: x0 = Drop(√d·E[tok] + PE),
// then the first sublayer's bias rows.
func (f *fused) embed(st *stack, d, block int) {
	f.st, f.next, f.d, f.block = st, st.subs[0], d, block
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
		f.prepare(r0, r1)
	}
}

// residual is the region after sublayer s's branch: its output
// x' = LN(w⊙x + Drop(F(x))), then next's bias rows.
func (f *fused) residual(s, next *sublayer, d, block int) {
	f.s, f.st, f.next, f.d, f.block = s, s.st, next, d, block
	f.run(s.st.n, f.residualFn)
	f.s, f.st, f.next = nil, nil, nil
}

func (f *fused) residualRows(lo, hi int) {
	s, c, d := f.s, f.c, f.d
	x, fo := s.st.xs[s.k], c.fo
	p, key, base := c.drop(c.cfg.Dropout), c.siteKey(s.site()), s.st.ctr(d)
	w := s.shortcut()
	for r0 := lo; r0 < hi; r0 += f.block {
		r1 := min(r0+f.block, hi)
		a, z := r0*d, r1*d
		asm.DropoutScaleAddRows(s.saved[a:z], w, x[a:z], fo[a:z], d, p, key, base+uint32(a))
		asm.LayerNorm(s.out[a:z], s.mean[r0:r1], s.rstd[r0:r1], s.saved[a:z], s.g.W, s.b.W, d, c.cfg.LNEps)
		f.prepare(r0, r1)
	}
}

// prepare writes rows [r0, r1) of the next sublayer's bias broadcasts:
// its first projection's output and, into core.fo, its branch output,
// both of which its GEMMs then accumulate onto.
func (f *fused) prepare(r0, r1 int) {
	if f.next == nil {
		return
	}
	d, fo := f.d, f.c.fo
	var first, firstB, outB []float32
	switch br := f.next.br.(type) {
	case *attention:
		if br.cross() {
			first, firstB = br.qkv, br.qB.W
		} else {
			first, firstB = br.qkv, br.qkvB.W
		}
		outB = br.outB.W
	case *feedForward:
		first, firstB, outB = br.pre, br.lp.FC1B.W, br.lp.FC2B.W
	default:
		panic(fmt.Sprintf("model: no specialized path for branch %T", br))
	}
	w := len(firstB)
	asm.BroadcastRows(first[r0*w:r1*w], firstB, w)
	asm.BroadcastRows(fo[r0*d:r1*d], outB, d)
}

// back is the element-wise work of sublayer s's backward before its
// branch: the row region (the pending dx of the sublayer above into
// dout, dS = LN'ᵀ·dout, dF = Drop(dS)), then the column region (dγ,
// dβ; dω = Σ dS⊙x when omega; the branch's output-bias gradient Σ dF).
func (f *fused) back(s *sublayer, dout, pending []float32, d, block int, omega bool) {
	f.s, f.dout, f.pending, f.d, f.block, f.omega = s, dout, pending, d, block, omega
	f.run(s.st.n, f.backRowsFn)
	f.run(d, f.backColsFn)
	f.s, f.dout, f.pending = nil, nil, nil
}

func (f *fused) backRows(lo, hi int) {
	s, c, d := f.s, f.c, f.d
	dout, dS, dH, dF := f.dout, c.dS, c.dH, c.dF
	p, key, base := c.drop(c.cfg.Dropout), c.siteKey(s.site()), s.st.ctr(d)
	for r0 := lo; r0 < hi; r0 += f.block {
		r1 := min(r0+f.block, hi)
		a, z := r0*d, r1*d
		if f.pending != nil {
			asm.ScaleAddRows(dout[a:z], f.pending, dS[a:z], dH[a:z], d)
		}
		asm.LayerNormBackward(dS[a:z], dout[a:z], s.saved[a:z], s.mean[r0:r1], s.rstd[r0:r1], s.g.W, d)
		if p > 0 {
			asm.Dropout(dF[a:z], dS[a:z], p, key, base+uint32(a))
		} else {
			copy(dF[a:z], dS[a:z])
		}
	}
}

func (f *fused) backCols(lo, hi int) {
	s, c, d, n := f.s, f.c, f.d, f.s.st.n
	asm.LayerNormParamGrad(s.g.G[lo:hi], s.b.G[lo:hi], f.dout[lo:n*d], s.saved[lo:n*d], s.mean[:n], s.rstd[:n], n, d)
	if f.omega {
		asm.ColDot(s.omega.G[lo:hi], c.dS[lo:n*d], s.st.xs[s.k][lo:n*d], n, d)
	}
	var outB []float32
	switch br := s.br.(type) {
	case *attention:
		outB = br.outB.G
	case *feedForward:
		outB = br.lp.FC2B.G
	}
	asm.ColSum(outB[lo:hi], c.dF[lo:n*d], n, d)
}
