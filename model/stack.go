package model

import (
	"math"

	"github.com/clinic-ml/clinic/asm"
	"github.com/clinic-ml/clinic/internal/phase"
)

// Hooks let analyses see inside a stack's passes (package admin builds
// Admin's profiling, the dependency analysis and the gradient norms on
// them). Unset hooks cost nothing.
type Hooks struct {
	// SublayerHook, when set, sees each residual sublayer k during
	// Forward, after its branch ran and before the shortcut is added: x
	// is the stream input, branch the branch output after dropout (for
	// rezero times α: what is added to x), omega the sublayer's ω
	// (Admin; nil otherwise), which the hook may rewrite before it is
	// used. With no hook set, Forward fuses the dropout into the residual
	// add.
	SublayerHook func(k int, x, branch, omega []float32)
	// SublayerGrad, when set, sees each sublayer's output gradient during
	// Backward.
	SublayerGrad func(k int, grad []float32)
}

// stack is the embedding and the residual sublayers of an encoder or a
// decoder, with the buffers of one pass over up to B sequences of up to
// T tokens.
type stack struct {
	c        *core
	hooks    *Hooks
	siteBase int  // this stack's dropout sites start here
	causal   bool // self-attention sees only earlier positions
	final    [2]*Param
	embed    *Param
	// shortcut is the weight of the stream in a sublayer's sum before
	// its LayerNorm: the variant's constant (DeepNorm's α), or ones ([d];
	// Admin's ω replace it).
	shortcut []float32

	rows, maxLen int // capacity: tokens over all sequences, longest sequence
	bsz, t, n    int // current batch, sequence length, rows = bsz·t
	rowOff       int // core.seqOff·t: the global row of this pass's row 0
	// lens holds the valid length of each sequence of the current pass
	// (right padding beyond it), nil when every sequence is t long.
	// Attention never looks at a key past it.
	lens    []int32
	lensBuf []int32
	tokens  []int32

	xs      [][]float32 // stream x_0 .. x_K, each [n, d]
	subs    []*sublayer
	finalLN lnSaved   // preln
	xf      []float32 // the stack's output
	dA, dB  []float32 // gradient ping-pong [n, d]

	embFwd, embBack func(lo, hi int)
	embScale        []float32 // {√d}, the embedding's scale as AxpyRows takes it
	// fast is set when the last forward ran the generated layer code
	// (core.spec, and no SublayerHook), which backward then runs too.
	fast bool
}

type lnSaved struct {
	mean, rstd []float32
}

// newStack plans a stack for passes of up to rows tokens (sequences
// times their padded length) and sequences of up to maxLen tokens.
func newStack(c *core, hooks *Hooks, embed *Param, final [2]*Param, rows, maxLen, siteBase int, causal bool) *stack {
	N, d, B, T := rows, c.d, rows, maxLen
	s := &stack{c: c, hooks: hooks, siteBase: siteBase, causal: causal, final: final, embed: embed,
		rows: N, maxLen: T, lensBuf: make([]int32, B), tokens: make([]int32, N),
		dA: make([]float32, N*d), dB: make([]float32, N*d)}
	s.xs = [][]float32{make([]float32, N*d)}
	s.embFwd, s.embBack = s.embedRows, s.embedGradCols
	s.embScale = []float32{float32(math.Sqrt(float64(d)))}
	s.shortcut = shortcut(c, causal)
	return s
}

// shortcut is the residual's weight on the stream of a causal stack (a
// decoder) or a bidirectional one (clinic's only one is an encoder):
// ones, or the config's constant (DeepNorm's α).
func shortcut(c *core, causal bool) []float32 {
	w, ok := c.cfg.Shortcut(!causal)
	if !ok {
		return c.ones
	}
	a := make([]float32, c.d)
	for i := range a {
		a[i] = float32(w)
	}
	return a
}

// add appends sublayer sl, whose output becomes the next stream.
func (s *stack) add(sl *sublayer) {
	sl.st, sl.k = s, len(s.subs)
	sl.out = make([]float32, s.rows*s.c.d)
	s.subs = append(s.subs, sl)
	s.xs = append(s.xs, sl.out)
}

// done plans the stack's output after the last sublayer.
func (s *stack) done() {
	N := s.rows
	if s.c.form.finalLN {
		s.xf = make([]float32, N*s.c.d)
		s.finalLN = lnSaved{make([]float32, N), make([]float32, N)}
	} else {
		s.xf = s.xs[len(s.xs)-1]
	}
}

// keyLen is the number of valid positions of sequence b.
func (s *stack) keyLen(b int) int {
	if s.lens == nil {
		return s.t
	}
	return int(s.lens[b])
}

// ctr is the dropout counter of the pass's first row in a buffer of
// rows of width w: 0, unless the batch is a share of a larger one
// (core.seqOff), whose counters it continues.
func (s *stack) ctr(w int) uint32 { return uint32(s.rowOff * w) }

// forward runs the stack on tokens [bsz, t] (lens as in stack.lens).
func (s *stack) forward(tokens []int32, bsz, t int, lens []int32) {
	c := s.c
	s.bsz, s.t, s.n = bsz, t, bsz*t
	s.rowOff = c.seqOff * t
	s.lens = nil
	if lens != nil {
		s.lens = s.lensBuf[:bsz]
		copy(s.lens, lens)
	}
	copy(s.tokens, tokens)
	n, d := s.n, c.d
	s.fast = c.spec != nil && s.hooks.SublayerHook == nil
	if s.fast {
		c.fz.embed(s, d, c.spec.block)
		for k, sl := range s.subs {
			var next *sublayer
			if k+1 < len(s.subs) {
				next = s.subs[k+1]
			}
			c.spec.forward(sl, next)
		}
		return
	}
	c.par(phase.Elementwise, n, s.embFwd)
	x0 := s.xs[0][:n*d]
	c.op.Dropout(x0, x0, c.drop(c.cfg.Dropout), c.siteKey(s.siteBase), s.ctr(d))
	for _, sl := range s.subs {
		sl.forward()
	}
	if c.form.finalLN {
		c.op.LN(s.xf[:n*d], s.finalLN.mean[:n], s.finalLN.rstd[:n], s.xs[len(s.xs)-1][:n*d], s.final[0].W, s.final[1].W, d, c.cfg.LNEps)
	}
}

// out is the stack's output of the last forward, [n, d].
func (s *stack) out() []float32 { return s.xf[:s.n*s.c.d] }

// outGrad is where ∂L/∂out goes before backward.
func (s *stack) outGrad() []float32 {
	if s.c.form.finalLN {
		return s.dB[:s.n*s.c.d]
	}
	return s.dA[:s.n*s.c.d]
}

// backward takes ∂L/∂out from outGrad back to the embedding, whose
// gradient it accumulates.
func (s *stack) backward() {
	c := s.c
	n, d := s.n, c.d
	cur, next := s.dA[:n*d], s.dB[:n*d]
	fast := s.fast && s.hooks.SublayerGrad == nil
	if c.form.finalLN && !fast {
		fp := s.final
		c.op.LNBack(cur, fp[0].G, fp[1].G, next, s.xs[len(s.xs)-1][:n*d], s.finalLN.mean[:n], s.finalLN.rstd[:n], fp[0].W, d)
	}
	if fast {
		// Each sublayer forms the dout of the one below in its dH
		// GEMM (the top one forms its own, from the final LayerNorm
		// under Pre-LN), and the first the stack's dx.
		var up *sublayer
		for k := len(s.subs) - 1; k >= 0; k-- {
			c.spec.backward(s.subs[k], cur, next, up)
			up = s.subs[k]
			cur, next = next, cur
		}
	} else {
		for k := len(s.subs) - 1; k >= 0; k-- {
			if s.hooks.SublayerGrad != nil {
				s.hooks.SublayerGrad(k, cur)
			}
			s.subs[k].backward(cur, next)
			cur, next = next, cur
		}
	}
	// cur holds dL/dx0; embedGradCols reads dA, so make sure it is there.
	if &cur[0] != &s.dA[0] {
		copy(s.dA[:n*d], cur)
	}
	x := s.dA[:n*d]
	c.op.Dropout(x, x, c.drop(c.cfg.Dropout), c.siteKey(s.siteBase), s.ctr(d))
	c.op.par(d, embGradGrain, s.embBack)
}

// embGradGrain is the fewest columns of the embedding's gradient a
// chunk of its scatter takes. Every chunk walks all the rows, so split
// into d chunks it read each row's cache lines once per chunk: at 64
// workers, 4 columns each, the work was 20 ms against 2 ms on two
// (L6_d256 at 128 × 128 tokens, simulated), and the span 0.75 ms; in 8
// chunks of 32 it is 2 ms and 0.33 ms. Each (token, column) sums its
// rows in row order however the columns are split.
const embGradGrain = 32

func (s *stack) embedRows(lo, hi int) {
	d := s.c.d
	sc := float32(math.Sqrt(float64(d)))
	E := s.embed.W
	x := s.xs[0]
	for r := lo; r < hi; r++ {
		tok := int(s.tokens[r])
		pos := r % s.t
		e, pe, xr := E[tok*d:tok*d+d], s.c.pe[pos*d:pos*d+d], x[r*d:r*d+d]
		for j := range xr {
			xr[j] = sc*e[j] + pe[j]
		}
	}
}

// embedGradCols adds columns [lo, hi) of the embedding's gradient:
// G[token] += √d·dx row by row, in row order, so each element's sum is
// the same whatever the column split (rows of a repeated token add into
// one row of G, which is why the region splits columns, not rows).
// AxpyRows multiplies then adds, as this loop had in Go, 16 lanes at a
// time: the scalar loop took 0.27 ms of an L6_d256 step on one core, and
// as long on each of two.
func (s *stack) embedGradCols(lo, hi int) {
	d := s.c.d
	G := s.embed.G
	dx := s.dA
	for r := 0; r < s.n; r++ {
		tok := int(s.tokens[r])
		asm.AxpyRows(G[tok*d+lo:tok*d+hi], s.embScale, dx[r*d+lo:], 0)
	}
}
