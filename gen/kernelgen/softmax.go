package main

// Softmax (causal, and its backward) and softmax cross-entropy: one
// call for all rows, passes over each row.

import (
	"github.com/clinic-ml/clinic/gen/internal/avoutil"
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

func (s *isa) softmaxCausal() {
	s.text("softmaxCausal", "func(p, s *float32, rows, n int, scale float32, row0 int)",
		"is SoftmaxCausal's twin on rows×n: the softmax of scale·s over the",
		"first min(row0+r+1, n) columns of row r, zeros after.")
	pp, ps := Load(Param("p"), GP64()), Load(Param("s"), GP64())
	rows, n := Load(Param("rows"), GP64()), Load(Param("n"), GP64())
	row0 := Load(Param("row0"), GP64())
	sc := s.bcast(avoutil.ParamAddr("scale"))
	zv := s.zero()
	r := GP64()
	XORQ(r, r)
	Label("smrow")
	CMPQ(r, rows)
	JGE(LabelRef("smdone"))
	valid := GP64()
	LEAQ(Mem{Base: row0, Index: r, Scale: 1, Disp: 1}, valid)
	CMPQ(valid, n)
	CMOVQGT(n, valid)
	mx := XMM()
	for _, mode := range []string{"max", "min"} {
		if mode == "max" {
			// scale < 0 (or NaN): the row's reference is its minimum.
			zx := XMM()
			VXORPS(zx, zx, zx)
			VUCOMISS(zx, sc.AsX()) // flags from scale vs 0
			JB(LabelRef("smmin"))
		} else {
			Label("smmin")
		}
		fill, op := "ninf", func(a, b, dst Op) { VMAXPS(a, b, dst) }
		if mode == "min" {
			fill, op = "pinf", func(a, b, dst Op) { VMINPS(a, b, dst) }
		}
		f := s.konst(fill)
		var ms []reg.VecVirtual
		for range 4 {
			m := s.vec()
			VMOVAPS(f, m)
			ms = append(ms, m)
		}
		c := cursors(ps)
		s.loop("sm"+mode, counter(valid), c, 4, func(a acc, u int) {
			v := a.ld(c[0], u)
			a.fillOut(v, f)
			op(ms[u], v, ms[u]) // NaN scores are skipped, as in the twin
		})
		op(ms[1], ms[0], ms[0])
		op(ms[3], ms[2], ms[2])
		op(ms[2], ms[0], ms[0])
		VMOVAPS(s.hred(ms[0], op), mx)
		if mode == "max" {
			JMP(LabelRef("smref"))
		}
	}
	Label("smref")
	m := s.vec()
	VBROADCASTSS(mx, m)
	c := cursors(pp, ps)
	sum := s.reduceN("smexp", counter(valid), c, 1, 2, func(a acc, u int, sums [][]reg.VecVirtual) {
		v := a.ld(c[1], u)
		VSUBPS(m, v, v)
		VMULPS(sc, v, v)
		s.exp(v)
		a.zeroOut(v)
		a.store(v, c[0], u)
		VADDPS(v, sums[0][u], sums[0][u])
	})[0]
	VDIVSS(sum, scalarOne(), sum)
	inv := s.vec()
	VBROADCASTSS(sum, inv)
	c = cursors(pp)
	s.loop("smscale", counter(valid), c, 4, func(a acc, u int) {
		v := a.ld(c[0], u)
		VMULPS(inv, v, v)
		a.store(v, c[0], u)
	})
	// c[0] is now at p+valid (the loop stepped it by whole vectors, then
	// the tail): recompute and clear the rest of the row.
	rest := GP64()
	MOVQ(n, rest)
	SUBQ(valid, rest)
	z := GP64()
	LEAQ(Mem{Base: pp, Index: valid, Scale: 4}, z)
	s.loop("smzero", rest, []reg.Register{z}, 4, func(a acc, u int) {
		a.store(zv, z, u)
	})
	LEAQ(Mem{Base: pp, Index: n, Scale: 4}, pp)
	LEAQ(Mem{Base: ps, Index: n, Scale: 4}, ps)
	INCQ(r)
	JMP(LabelRef("smrow"))
	Label("smdone")
	avoutil.Ret()
}

func (s *isa) softmaxBackward() {
	s.text("softmaxBackward", "func(ds, dp, p *float32, rows, n int, scale float32)",
		"sets ds = scale·p⊙(dp − ⟨dp,p⟩) for each n-wide row.")
	pds, pdp, pp := Load(Param("ds"), GP64()), Load(Param("dp"), GP64()), Load(Param("p"), GP64())
	rows, n := Load(Param("rows"), GP64()), Load(Param("n"), GP64())
	sc := s.bcast(avoutil.ParamAddr("scale"))
	n4 := GP64()
	MOVQ(n, n4)
	SHLQ(U8(2), n4)
	dot := s.vec()
	Label("sbrow")
	TESTQ(rows, rows)
	JZ(LabelRef("sbdone"))
	c := cursors(pdp, pp)
	tot := s.reduceN("sb1", counter(n), c, 1, 4, func(a acc, u int, sums [][]reg.VecVirtual) {
		v := a.ld(c[1], u)
		g := a.ld(c[0], u)
		VFMADD231PS(g, v, sums[0][u])
	})[0]
	VBROADCASTSS(tot, dot)
	c = cursors(pds, pdp, pp)
	s.loop("sb2", counter(n), c, 2, func(a acc, u int) {
		v := a.ld(c[2], u)
		VMULPS(sc, v, v)
		g := a.ld(c[1], u)
		VSUBPS(dot, g, g)
		VMULPS(g, v, v)
		a.store(v, c[0], u)
	})
	ADDQ(n4, pds)
	ADDQ(n4, pdp)
	ADDQ(n4, pp)
	DECQ(rows)
	JMP(LabelRef("sbrow"))
	Label("sbdone")
	avoutil.Ret()
}

func (s *isa) ceStats() {
	s.text("ceStats", "func(l *float32, n int) (mx float32, sumExp, sum float64)",
		"returns a logit row's maximum (NaNs skipped), Σ e^(l−mx) (float32",
		"exps summed in float64) and Σ l in float64; n ≥ 1.")
	l := par("l")
	f := s.konst("ninf")
	var ms []reg.VecVirtual
	for range 2 {
		m := s.vec()
		VMOVAPS(f, m)
		ms = append(ms, m)
	}
	sl, sh := s.zero(), s.zero()
	c := cursors(l)
	s.loop("cm", par("n"), c, 2, func(a acc, u int) {
		v := a.ld(c[0], u)
		s.addPD(v, sl, sh)
		a.fillOut(v, f)
		VMAXPS(ms[u], v, ms[u])
	})
	VMAXPS(ms[1], ms[0], ms[0])
	mx := s.hred(ms[0], func(a, b, dst Op) { VMAXPS(a, b, dst) })
	Store(mx, ReturnIndex(0))
	VADDPD(sh, sl, sl)
	Store(s.hsumPD(sl), ReturnIndex(2))
	m := s.vec()
	VBROADCASTSS(mx, m)
	el, eh := s.zero(), s.zero()
	c = cursors(l)
	s.loop("ce", par("n"), c, 2, func(a acc, u int) {
		v := a.ld(c[0], u)
		VSUBPS(m, v, v)
		s.exp(v)
		a.zeroOut(v)
		s.addPD(v, el, eh)
	})
	VADDPD(eh, el, el)
	Store(s.hsumPD(el), ReturnIndex(1))
	avoutil.Ret()
}

func (s *isa) ceGrad() {
	s.text("ceGrad", "func(dl, l *float32, n int, mx, ls, u, gs float32)",
		"sets dl[j] = gs·(e^((l[j]−mx)−ls) − u) for j < n.")
	p := loadPtrs("dl", "l")
	n := Load(Param("n"), GP64())
	mx, ls, u, gs := s.bcast(avoutil.ParamAddr("mx")), s.bcast(avoutil.ParamAddr("ls")), s.bcast(avoutil.ParamAddr("u")), s.bcast(avoutil.ParamAddr("gs"))
	s.loop("cg", n, p, 2, func(a acc, k int) {
		v := a.ld(p[1], k)
		VSUBPS(mx, v, v)
		VSUBPS(ls, v, v)
		s.exp(v)
		VSUBPS(u, v, v)
		VMULPS(gs, v, v)
		a.store(v, p[0], k)
	})
	avoutil.Ret()
}
