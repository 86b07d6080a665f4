package model

import (
	"math"

	"github.com/clinic-ml/clinic/asm"
	"github.com/clinic-ml/clinic/internal/phase"
)

// branch is a residual sublayer's function F: self-attention,
// cross-attention or FFN.
type branch interface {
	// forward computes out = F(in) over the stack's current rows,
	// keeping what backward needs. in stays valid until backward.
	forward(in, out []float32)
	// backward writes din = (∂F/∂in)ᵀ·dout and accumulates the branch's
	// parameter gradients. dout may be overwritten.
	backward(dout, din []float32)
	// outBias is the bias of the branch output (the generated layer
	// code writes its rows for the output GEMM and sums its gradient
	// in its regions).
	outBias() *Param
}

// sublayer is one residual update of the stream x, in its variant's
// form (variant.go holds the arithmetic of every form).
type sublayer struct {
	st    *stack
	k     int // index in the stack
	br    branch
	g, b  *Param // LayerNorm γ, β (nil for the forms without)
	omega *Param // the variant's ω (Admin), or nil
	alpha *Param // the variant's α (ReZero), or nil
	out   []float32
	// what the form's backward needs of the forward: the LN input, the
	// branch input LN(x), or Drop(F(x)) (variant.go)
	saved []float32
	mean  []float32
	rstd  []float32
}

func newSublayer(br branch, own sublayerParams, rows, d int) *sublayer {
	return &sublayer{br: br, g: own.g, b: own.b, omega: own.omega, alpha: own.alpha,
		saved: make([]float32, rows*d), mean: make([]float32, rows), rstd: make([]float32, rows)}
}

// site is the dropout site of the residual branch; site()+1 is the
// branch's own (attention probabilities, FFN activations).
func (s *sublayer) site() int { return s.st.siteBase + 3*s.k + 1 }

// shortcut is the weight of x in the sum before a LayerNorm: ω (admin),
// the stack's constant (deepnorm) or ones.
func (s *sublayer) shortcut() []float32 {
	if s.omega != nil {
		return s.omega.W
	}
	return s.st.shortcut
}

func (s *sublayer) forward() { s.st.c.form.forward(s) }

// backward turns dout = ∂L/∂out into dx = ∂L/∂x. dout may be clobbered.
func (s *sublayer) backward(dout, dx []float32) { s.st.c.form.backward(s, dout, dx) }

// buffers are the sublayer's views over the stack's current rows, and
// the dropout probability and key of its residual branch.
func (s *sublayer) buffers() (c *core, x, out, fo, saved, mean, rstd []float32, p float32, key uint64) {
	c = s.st.c
	n, d := s.st.n, c.d
	return c, s.st.xs[s.k][:n*d], s.out[:n*d], c.fo[:n*d], s.saved[:n*d], s.mean[:n], s.rstd[:n],
		c.drop(c.cfg.Dropout), c.siteKey(s.site())
}

// residual writes y = w⊙x + Drop(b), showing the hook, if any, the
// branch output after dropout (and ω) before the sum.
func (s *sublayer) residual(y, w, x, b, omega []float32, p float32, key uint64) {
	c := s.st.c
	hook := s.st.hooks.SublayerHook
	if hook == nil {
		c.op.DropScaleAdd(y, w, x, b, p, key, s.st.ctr(c.d))
		return
	}
	c.op.Dropout(b, b, p, key, s.st.ctr(c.d))
	hook(s.k, x, b, omega)
	c.op.ScaleAdd(y, w, x, b)
}

// attention is multi-head scaled dot-product attention. Self-attention
// (mem == st) projects q, k and v from its input with one fused [3d, d]
// matrix and is causal in a decoder; cross-attention projects q from its
// input and k, v from the encoder's output (mem) with a fused [2d, d]
// matrix. Keys past a sequence's valid length are never attended.
type attention struct {
	st, mem *stack
	causal  bool
	site    int
	// self: qkvW [3d, d]; cross: qW [d, d] and kvW [2d, d]
	qkvW, qkvB, qW, qB, kvW, kvB, outW, outB *Param

	in  []float32
	qkv []float32 // self: [n, 3d]; cross: q, [n, d]
	kv  []float32 // cross: [n_mem, 2d]
	P   []float32 // softmax probabilities, [bsz·H, t, t_mem]
	o   []float32 // concatenated heads, [n, d]
}

func (a *attention) cross() bool { return a.mem != a.st }

// attnBlock is the row-block size of the causal attention products:
// block [i0,i1) of queries needs keys [0,i1) only, so about half of QKᵀ,
// P·V and their gradients is never computed.
const attnBlock = 32

func (a *attention) forward(in, out []float32) {
	c := a.st.c
	n, d := a.st.n, c.d
	a.in = in
	if a.cross() {
		nk := a.mem.n
		q, kv := a.qkv[:n*d], a.kv[:nk*2*d]
		c.linearBias(n, d, d, in, d, a.qW, d, a.qB, q)
		c.linearBias(nk, 2*d, d, a.mem.out(), d, a.kvW, d, a.kvB, kv)
	} else {
		c.linearBias(n, 3*d, d, in, d, a.qkvW, d, a.qkvB, a.qkv[:n*3*d])
	}
	c.curAttn = a
	c.par(phase.Attention, a.st.bsz*c.cfg.Heads, c.attnFwd)
	c.curAttn = nil
	c.op.Broadcast(out, a.outB.W)
	c.linear(n, d, d, a.o[:n*d], d, a.outW, d, 1, out, d)
}

func (a *attention) outBias() *Param { return a.outB }

// heads are the views of one head of one sequence: q, k, v (or their
// gradients) with their row strides, and its output rows.
type heads struct {
	q, k, v    []float32
	qs, ks, vs int
}

// view returns head i's q, k, v in qkv (self) or q and kv (cross): the
// forward buffers, or the gradient buffers laid out the same way.
func (a *attention) view(i int, qkv, kv []float32) heads {
	c := a.st.c
	H, d := c.cfg.Heads, c.d
	b, h := i/H, i%H
	dh := d / H
	if !a.cross() {
		q := b*a.st.t*3*d + h*dh
		return heads{qkv[q:], qkv[q+d:], qkv[q+2*d:], 3 * d, 3 * d, 3 * d}
	}
	q := b*a.st.t*d + h*dh
	k := b*a.mem.t*2*d + h*dh
	return heads{qkv[q:], kv[k:], kv[k+d:], d, 2 * d, 2 * d}
}

// grads returns the gradient buffers (in core.dQKV) matching view.
func (a *attention) grads() (dqkv, dkv []float32) {
	c := a.st.c
	n, d := a.st.n, c.d
	if !a.cross() {
		return c.dQKV[:n*3*d], nil
	}
	return c.dQKV[:n*d], c.dQKV[n*d : n*d+a.mem.n*2*d]
}

// ctr0 is the dropout counter of the pass's first probability: the
// probabilities of (sequence, head) i start at i·t·tk, continuing those
// of the larger batch this one is a share of (core.seqOff).
func (a *attention) ctr0() uint32 {
	c := a.st.c
	return uint32(c.seqOff * c.cfg.Heads * a.st.t * a.mem.t)
}

func (a *attention) headForward(i int, scratch []float32, gb *asm.GemmBuf) {
	c := a.st.c
	d, t, tk := c.d, a.st.t, a.mem.t
	H := c.cfg.Heads
	dh := d / H
	v := a.view(i, a.qkv, a.kv)
	o := a.o[(i/H)*t*d+(i%H)*dh:]
	pb := i * t * tk
	P := a.P[pb : pb+t*tk]
	scale := float32(1 / math.Sqrt(float64(dh)))
	p := c.drop(c.cfg.AttnDropout)
	if a.causal {
		for i0 := 0; i0 < t; i0 += attnBlock {
			i1 := min(i0+attnBlock, t)
			// S[i0:i1, 0:i1] = q[i0:i1]·k[0:i1]ᵀ, then the causal softmax,
			// which writes zeros past each row's prefix.
			asm.SgemmSTIn(gb, false, true, i1-i0, i1, dh, 1, v.q[i0*v.qs:], v.qs, v.k, v.ks, 0, P[i0*t:], t)
			asm.SoftmaxCausal(P[i0*t:i1*t], P[i0*t:i1*t], t, scale, i0)
		}
		pd := P
		if p > 0 {
			pd = scratch[:t*t]
			asm.Dropout(pd, P, p, c.siteKey(a.site), a.ctr0()+uint32(pb))
		}
		for i0 := 0; i0 < t; i0 += attnBlock {
			i1 := min(i0+attnBlock, t)
			asm.SgemmSTIn(gb, false, false, i1-i0, dh, i1, 1, pd[i0*t:], t, v.v, v.vs, 0, o[i0*d:], d)
		}
		return
	}
	// Every query sees keys [0, L): the row softmax over that prefix
	// writes zeros past it, so padding never enters.
	L := a.mem.keyLen(i / H)
	asm.SgemmSTIn(gb, false, true, t, L, dh, 1, v.q, v.qs, v.k, v.ks, 0, P, tk)
	for r := 0; r < t; r++ {
		row := P[r*tk : r*tk+tk]
		asm.SoftmaxCausal(row, row, tk, scale, L-1)
	}
	pd := P
	if p > 0 {
		pd = scratch[:t*tk]
		asm.Dropout(pd, P, p, c.siteKey(a.site), a.ctr0()+uint32(pb))
	}
	asm.SgemmSTIn(gb, false, false, t, dh, L, 1, pd, tk, v.v, v.vs, 0, o, d)
}

func (a *attention) backward(dout, din []float32) {
	c := a.st.c
	n, d := a.st.n, c.d
	o, dO := a.o[:n*d], c.dO[:n*d]
	c.weightGrad(d, d, n, dout, d, o, d, a.outW.G, d)
	c.op.ColSum(a.outB.G, dout)
	c.linearBack(n, d, d, dout, d, a.outW, d, 0, dO, d)
	c.curAttn = a
	c.par(phase.Attention, a.st.bsz*c.cfg.Heads, c.attnBack)
	c.curAttn = nil
	dq, dkv := a.grads()
	if !a.cross() {
		c.weightGrad(3*d, d, n, dq, 3*d, a.in, d, a.qkvW.G, d)
		c.op.ColSum(a.qkvB.G, dq)
		c.linearBack(n, d, 3*d, dq, 3*d, a.qkvW, d, 0, din, d)
		return
	}
	c.weightGrad(d, d, n, dq, d, a.in, d, a.qW.G, d)
	c.op.ColSum(a.qB.G, dq)
	c.linearBack(n, d, d, dq, d, a.qW, d, 0, din, d)
	nk := a.mem.n
	mem := a.mem.out()
	c.weightGrad(2*d, d, nk, dkv, 2*d, mem, d, a.kvW.G, d)
	c.op.ColSum(a.kvB.G, dkv)
	// Every decoder layer's cross-attention adds to the encoder output's
	// gradient.
	c.linearBack(nk, d, 2*d, dkv, 2*d, a.kvW, d, 1, a.mem.outGrad(), d)
}

func (a *attention) headBackward(i int, pdBuf, dPBuf []float32, gb *asm.GemmBuf) {
	c := a.st.c
	d, t, tk := c.d, a.st.t, a.mem.t
	H := c.cfg.Heads
	dh := d / H
	dqkv, dkv := a.grads()
	v, g := a.view(i, a.qkv, a.kv), a.view(i, dqkv, dkv)
	dO := c.dO[(i/H)*t*d+(i%H)*dh:]
	pb := i * t * tk
	P := a.P[pb : pb+t*tk]
	dP := dPBuf[:t*tk]
	scale := float32(1 / math.Sqrt(float64(dh)))
	p := c.drop(c.cfg.AttnDropout)
	key := c.siteKey(a.site)
	pd := P
	if p > 0 {
		pd = pdBuf[:t*tk]
		asm.Dropout(pd, P, p, key, a.ctr0()+uint32(pb))
	}
	if a.causal {
		// Key block [j0,j1) is attended by queries j0..t-1 only:
		// dv[j0:j1] = Pd[j0:t, j0:j1]ᵀ·do[j0:t].
		for j0 := 0; j0 < t; j0 += attnBlock {
			j1 := min(j0+attnBlock, t)
			asm.SgemmSTIn(gb, true, false, j1-j0, dh, t-j0, 1, pd[j0*t+j0:], t, dO[j0*d:], d, 0, g.v[j0*g.vs:], g.vs)
		}
		// dPd[i0:i1, 0:i1] = do[i0:i1]·v[0:i1]ᵀ; then through dropout and
		// softmax row by row over the causal prefix, zeroing the rest of
		// the row so the products below read zeros there.
		for i0 := 0; i0 < t; i0 += attnBlock {
			i1 := min(i0+attnBlock, t)
			asm.SgemmSTIn(gb, false, true, i1-i0, i1, dh, 1, dO[i0*d:], d, v.v, v.vs, 0, dP[i0*t:], t)
			for r := i0; r < i1; r++ {
				row := dP[r*t : r*t+r+1]
				if p > 0 {
					asm.Dropout(row, row, p, key, a.ctr0()+uint32(pb+r*t))
				}
				asm.SoftmaxBackward(row, row, P[r*t:r*t+r+1], r+1, scale)
				clear(dP[r*t+r+1 : r*t+t])
			}
		}
		// dq[i0:i1] = dS[i0:i1, 0:i1]·k[0:i1]; dk[j0:j1] = dS[j0:t, j0:j1]ᵀ·q[j0:t].
		for i0 := 0; i0 < t; i0 += attnBlock {
			i1 := min(i0+attnBlock, t)
			asm.SgemmSTIn(gb, false, false, i1-i0, dh, i1, 1, dP[i0*t:], t, v.k, v.ks, 0, g.q[i0*g.qs:], g.qs)
			asm.SgemmSTIn(gb, true, false, i1-i0, dh, t-i0, 1, dP[i0*t+i0:], t, v.q[i0*v.qs:], v.qs, 0, g.k[i0*g.ks:], g.ks)
		}
		return
	}
	L := a.mem.keyLen(i / H)
	// dv[0:L] = Pd[:, 0:L]ᵀ·do; dPd[:, 0:L] = do·v[0:L]ᵀ.
	asm.SgemmSTIn(gb, true, false, L, dh, t, 1, pd, tk, dO, d, 0, g.v, g.vs)
	asm.SgemmSTIn(gb, false, true, t, L, dh, 1, dO, d, v.v, v.vs, 0, dP, tk)
	for r := 0; r < t; r++ {
		row := dP[r*tk : r*tk+L]
		if p > 0 {
			asm.Dropout(row, row, p, key, a.ctr0()+uint32(pb+r*tk))
		}
		asm.SoftmaxBackward(row, row, P[r*tk:r*tk+L], L, scale)
	}
	// dq = dS[:, 0:L]·k[0:L]; dk[0:L] = dS[:, 0:L]ᵀ·q. Padded keys get
	// no gradient.
	asm.SgemmSTIn(gb, false, false, t, dh, L, 1, dP, tk, v.k, v.ks, 0, g.q, g.qs)
	asm.SgemmSTIn(gb, true, false, L, dh, t, 1, dP, tk, v.q, v.qs, 0, g.k, g.ks)
	for j := L; j < tk; j++ {
		clear(g.k[j*g.ks : j*g.ks+dh])
		clear(g.v[j*g.vs : j*g.vs+dh])
	}
}

// feedForward is act(x·W1ᵀ + b1)·W2ᵀ + b2 with dropout on the hidden
// activations.
type feedForward struct {
	st   *stack
	lp   *LayerParams
	site int
	in   []float32
	pre  []float32 // x·W1ᵀ + b1, [n, d_ff]
	hid  []float32 // Drop(act(pre))
}

func (f *feedForward) forward(in, out []float32) {
	c := f.st.c
	n, d, F := f.st.n, c.d, c.cfg.DFF
	lp := f.lp
	f.in = in
	pre, hid := f.pre[:n*F], f.hid[:n*F]
	c.linearAct(c.cfg.Activation, n, F, d, in, d, lp.FC1W, d, lp.FC1B, pre, hid, c.drop(c.cfg.ActDropout), c.siteKey(f.site), f.st.ctr(F))
	c.op.Broadcast(out, lp.FC2B.W)
	c.linear(n, d, F, hid, F, lp.FC2W, F, 1, out, d)
}

func (f *feedForward) outBias() *Param { return f.lp.FC2B }

func (f *feedForward) backward(dout, din []float32) {
	c := f.st.c
	n, d, F := f.st.n, c.d, c.cfg.DFF
	lp := f.lp
	pre, hid, dh := f.pre[:n*F], f.hid[:n*F], c.dHid[:n*F]
	c.weightGrad(d, F, n, dout, d, hid, F, lp.FC2W.G, F)
	c.op.ColSum(lp.FC2B.G, dout)
	c.linearBackAct(c.cfg.Activation, n, F, d, dout, d, lp.FC2W, F, dh, pre, c.drop(c.cfg.ActDropout), c.siteKey(f.site), f.st.ctr(F))
	c.weightGrad(F, d, n, dh, F, f.in, d, lp.FC1W.G, d)
	c.op.ColSum(lp.FC1B.G, dh)
	c.linearBack(n, d, F, dh, F, lp.FC1W, d, 0, din, d)
}
