package model

import (
	"math"

	"github.com/clinic-ml/clinic/asm"
	"github.com/clinic-ml/clinic/internal/phase"
)

// branch is a residual sublayer's function F: self-attention, FFN, and
// (for the encoder–decoder model) cross-attention.
type branch interface {
	// forward computes out = F(in) over the model's current rows, keeping
	// what backward needs. in stays valid until backward.
	forward(in, out []float32)
	// backward writes din = (∂F/∂in)ᵀ·dout and accumulates the branch's
	// parameter gradients. dout may be overwritten.
	backward(dout, din []float32)
}

// sublayer is one residual update of the stream x in one of the three
// variants (docs/model.md):
//
//	postln: x = LN(x + Drop(F(x)))
//	preln:  x = x + Drop(F(LN(x)))
//	admin:  x = LN(ω⊙x + Drop(F(x)))
type sublayer struct {
	m     *Model
	k     int
	br    branch
	g, b  *Param // LayerNorm γ, β
	omega *Param // admin only
	out   []float32
	saved []float32 // preln: LN(x), the branch input; else ω⊙x + b, the LN input
	mean  []float32
	rstd  []float32
}

func (s *sublayer) site() int { return 3*s.k + 1 }

func (s *sublayer) forward() {
	m := s.m
	n, d := m.n, m.Cfg.DModel
	x := m.xs[s.k][:n*d]
	out, saved := s.out[:n*d], s.saved[:n*d]
	fo := m.fo[:n*d]
	mean, rstd := s.mean[:n], s.rstd[:n]
	p, key := m.drop(m.Cfg.Dropout), m.siteKey(s.site())
	w, omega := m.ones, []float32(nil)
	if s.omega != nil {
		w, omega = s.omega.W, s.omega.W
	}
	if m.Cfg.Norm == PreLN {
		m.op.LN(saved, mean, rstd, x, s.g.W, s.b.W, d, m.Cfg.LNEps)
		s.br.forward(saved, fo)
		s.residual(out, w, x, fo, omega, p, key)
		return
	}
	s.br.forward(x, fo)
	s.residual(saved, w, x, fo, omega, p, key)
	m.op.LN(out, mean, rstd, saved, s.g.W, s.b.W, d, m.Cfg.LNEps)
}

// residual writes y = w⊙x + Drop(b), showing the hook, if any, the
// branch output after dropout (and ω) before the sum.
func (s *sublayer) residual(y, w, x, b, omega []float32, p float32, key uint64) {
	m := s.m
	if m.SublayerHook == nil {
		m.op.DropScaleAdd(y, w, x, b, p, key)
		return
	}
	m.op.Dropout(b, b, p, key)
	m.SublayerHook(s.k, x, b, omega)
	m.op.ScaleAdd(y, w, x, b)
}

// backward turns dout = ∂L/∂out into dx = ∂L/∂x. dout may be clobbered.
func (s *sublayer) backward(dout, dx []float32) {
	m := s.m
	n, d := m.n, m.Cfg.DModel
	x := m.xs[s.k][:n*d]
	saved := s.saved[:n*d]
	mean, rstd := s.mean[:n], s.rstd[:n]
	p := m.drop(m.Cfg.Dropout)
	dF, dH := m.dF[:n*d], m.dH[:n*d]
	if m.Cfg.Norm == PreLN {
		m.op.Dropout(dF, dout, p, m.siteKey(s.site()))
		s.br.backward(dF, dH)
		m.op.LNBack(dx, s.g.G, s.b.G, dH, x, mean, rstd, s.g.W, d)
		m.op.ScaleAdd(dx, m.ones, dout, dx)
		return
	}
	dS := m.dS[:n*d]
	m.op.LNBack(dS, s.g.G, s.b.G, dout, saved, mean, rstd, s.g.W, d)
	w := m.ones
	if s.omega != nil {
		w = s.omega.W
		m.op.ColDot(s.omega.G, dS, x)
	}
	m.op.Dropout(dF, dS, p, m.siteKey(s.site()))
	s.br.backward(dF, dH)
	m.op.ScaleAdd(dx, w, dS, dH)
}

// attention is causal multi-head self-attention.
type attention struct {
	m    *Model
	lp   *LayerParams
	site int
	in   []float32
	qkv  []float32 // [n, 3d]
	P    []float32 // softmax probabilities, [bsz·H, t, t]
	o    []float32 // concatenated heads, [n, d]
}

func (a *attention) forward(in, out []float32) {
	m := a.m
	n, d := m.n, m.Cfg.DModel
	a.in = in
	qkv := a.qkv[:n*3*d]
	m.op.Broadcast(qkv, a.lp.QKVB.W)
	m.sgemm(false, true, n, 3*d, d, 1, in, d, a.lp.QKVW.W, d, 1, qkv, 3*d)
	m.curAttn = a
	m.par(phase.Attention, m.bsz*m.Cfg.Heads, m.attnFwd)
	m.curAttn = nil
	m.op.Broadcast(out, a.lp.OutB.W)
	m.sgemm(false, true, n, d, d, 1, a.o[:n*d], d, a.lp.OutW.W, d, 1, out, d)
}

// head returns the offsets of head i's q (k = q+d, v = q+2d) in qkv and
// of its output in o, and of its t×t block in P.
func (a *attention) head(i int) (q, o, pb int) {
	m := a.m
	H, d, t := m.Cfg.Heads, m.Cfg.DModel, m.t
	b, h := i/H, i%H
	dh := d / H
	return b*t*3*d + h*dh, b*t*d + h*dh, i * t * t
}

// attnBlock is the row-block size of the causal attention products:
// block [i0,i1) of queries needs keys [0,i1) only, so about half of QKᵀ,
// P·V and their gradients is never computed.
const attnBlock = 32

func (a *attention) headForward(i int) {
	m := a.m
	d, t := m.Cfg.DModel, m.t
	dh := d / m.Cfg.Heads
	q, o, pb := a.head(i)
	P := a.P[pb : pb+t*t]
	qkv := a.qkv
	scale := float32(1 / math.Sqrt(float64(dh)))
	for i0 := 0; i0 < t; i0 += attnBlock {
		i1 := min(i0+attnBlock, t)
		// S[i0:i1, 0:i1] = q[i0:i1]·k[0:i1]ᵀ, then the causal softmax,
		// which writes zeros past each row's prefix.
		asm.SgemmST(false, true, i1-i0, i1, dh, 1, qkv[q+i0*3*d:], 3*d, qkv[q+d:], 3*d, 0, P[i0*t:], t)
		asm.SoftmaxCausal(P[i0*t:i1*t], P[i0*t:i1*t], t, scale, i0)
	}
	pd := P
	if p := m.drop(m.Cfg.AttnDropout); p > 0 {
		pd = m.pd[pb : pb+t*t]
		asm.Dropout(pd, P, p, m.siteKey(a.site), uint32(pb))
	}
	for i0 := 0; i0 < t; i0 += attnBlock {
		i1 := min(i0+attnBlock, t)
		asm.SgemmST(false, false, i1-i0, dh, i1, 1, pd[i0*t:], t, qkv[q+2*d:], 3*d, 0, a.o[o+i0*d:], d)
	}
}

func (a *attention) backward(dout, din []float32) {
	m := a.m
	n, d := m.n, m.Cfg.DModel
	lp := a.lp
	o, dO := a.o[:n*d], m.dO[:n*d]
	m.sgemm(true, false, d, d, n, 1, dout, d, o, d, 1, lp.OutW.G, d)
	m.op.ColSum(lp.OutB.G, dout)
	m.sgemm(false, false, n, d, d, 1, dout, d, lp.OutW.W, d, 0, dO, d)
	m.curAttn = a
	m.par(phase.Attention, m.bsz*m.Cfg.Heads, m.attnBack)
	m.curAttn = nil
	dqkv := m.dQKV[:n*3*d]
	m.sgemm(true, false, 3*d, d, n, 1, dqkv, 3*d, a.in, d, 1, lp.QKVW.G, d)
	m.op.ColSum(lp.QKVB.G, dqkv)
	m.sgemm(false, false, n, d, 3*d, 1, dqkv, 3*d, lp.QKVW.W, d, 0, din, d)
}

func (a *attention) headBackward(i int) {
	m := a.m
	d, t := m.Cfg.DModel, m.t
	dh := d / m.Cfg.Heads
	q, o, pb := a.head(i)
	P := a.P[pb : pb+t*t]
	dP := m.dP[pb : pb+t*t]
	scale := float32(1 / math.Sqrt(float64(dh)))
	p := m.drop(m.Cfg.AttnDropout)
	key := m.siteKey(a.site)
	pd := P
	if p > 0 {
		pd = m.pd[pb : pb+t*t]
		asm.Dropout(pd, P, p, key, uint32(pb))
	}
	qkv, dqkv, dO := a.qkv, m.dQKV, m.dO
	// Key block [j0,j1) is attended by queries j0..t-1 only:
	// dv[j0:j1] = Pd[j0:t, j0:j1]ᵀ·do[j0:t].
	for j0 := 0; j0 < t; j0 += attnBlock {
		j1 := min(j0+attnBlock, t)
		asm.SgemmST(true, false, j1-j0, dh, t-j0, 1, pd[j0*t+j0:], t, dO[o+j0*d:], d, 0, dqkv[q+2*d+j0*3*d:], 3*d)
	}
	// dPd[i0:i1, 0:i1] = do[i0:i1]·v[0:i1]ᵀ; then through dropout and
	// softmax row by row over the causal prefix, zeroing the rest of
	// the row so the products below read zeros there.
	for i0 := 0; i0 < t; i0 += attnBlock {
		i1 := min(i0+attnBlock, t)
		asm.SgemmST(false, true, i1-i0, i1, dh, 1, dO[o+i0*d:], d, qkv[q+2*d:], 3*d, 0, dP[i0*t:], t)
		for r := i0; r < i1; r++ {
			row := dP[r*t : r*t+r+1]
			if p > 0 {
				asm.Dropout(row, row, p, key, uint32(pb+r*t))
			}
			asm.SoftmaxBackward(row, row, P[r*t:r*t+r+1], r+1, scale)
			clear(dP[r*t+r+1 : r*t+t])
		}
	}
	// dq[i0:i1] = dS[i0:i1, 0:i1]·k[0:i1]; dk[j0:j1] = dS[j0:t, j0:j1]ᵀ·q[j0:t].
	for i0 := 0; i0 < t; i0 += attnBlock {
		i1 := min(i0+attnBlock, t)
		asm.SgemmST(false, false, i1-i0, dh, i1, 1, dP[i0*t:], t, qkv[q+d:], 3*d, 0, dqkv[q+i0*3*d:], 3*d)
		asm.SgemmST(true, false, i1-i0, dh, t-i0, 1, dP[i0*t+i0:], t, qkv[q+i0*3*d:], 3*d, 0, dqkv[q+d+i0*3*d:], 3*d)
	}
}

// feedForward is act(x·W1ᵀ + b1)·W2ᵀ + b2 with dropout on the hidden
// activations.
type feedForward struct {
	m    *Model
	lp   *LayerParams
	site int
	in   []float32
	pre  []float32 // x·W1ᵀ + b1, [n, d_ff]
	hid  []float32 // Drop(act(pre))
}

func (f *feedForward) forward(in, out []float32) {
	m := f.m
	n, d, F := m.n, m.Cfg.DModel, m.Cfg.DFF
	lp := f.lp
	f.in = in
	pre, hid := f.pre[:n*F], f.hid[:n*F]
	m.op.Broadcast(pre, lp.FC1B.W)
	m.sgemm(false, true, n, F, d, 1, in, d, lp.FC1W.W, d, 1, pre, F)
	m.op.ActDrop(m.Cfg.Activation, hid, pre, m.drop(m.Cfg.ActDropout), m.siteKey(f.site))
	m.op.Broadcast(out, lp.FC2B.W)
	m.sgemm(false, true, n, d, F, 1, hid, F, lp.FC2W.W, F, 1, out, d)
}

func (f *feedForward) backward(dout, din []float32) {
	m := f.m
	n, d, F := m.n, m.Cfg.DModel, m.Cfg.DFF
	lp := f.lp
	pre, hid, dh := f.pre[:n*F], f.hid[:n*F], m.dHid[:n*F]
	m.sgemm(true, false, d, F, n, 1, dout, d, hid, F, 1, lp.FC2W.G, F)
	m.op.ColSum(lp.FC2B.G, dout)
	m.sgemm(false, false, n, F, d, 1, dout, d, lp.FC2W.W, F, 0, dh, F)
	m.op.ActDropBack(m.Cfg.Activation, dh, dh, pre, m.drop(m.Cfg.ActDropout), m.siteKey(f.site))
	m.sgemm(true, false, F, d, n, 1, dh, F, f.in, d, 1, lp.FC1W.G, d)
	m.op.ColSum(lp.FC1B.G, dh)
	m.sgemm(false, false, n, d, F, 1, dh, F, lp.FC1W.W, d, 0, din, d)
}
