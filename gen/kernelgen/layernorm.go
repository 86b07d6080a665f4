package main

// LayerNorm forward and backward (passes over each row) and its
// parameter gradients (a column reduction).

import (
	"math"

	"github.com/clinic-ml/clinic/gen/internal/avoutil"
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

func (s *isa) layerNorm() {
	s.text("layerNorm", "func(y, mean, rstd, x, gamma, beta *float32, rows, d int, eps float32)",
		"normalizes rows×d x as LayerNorm's twin does: μ, then Σ(x−μ)²,",
		"ρ = 1/sqrt(var+eps) in float64, y = (x−μ)·ρ·γ + β.")
	y, x := par("y"), par("x")
	df := XMM()
	VCVTSI2SSQ(par("d"), df, df)
	eps := XMM()
	VMOVSS(avoutil.ParamAddr("eps"), eps)
	one64 := XMM()
	t := GP64()
	MOVQ(U64(math.Float64bits(1)), t)
	VMOVQ(t, one64)
	r := GP64()
	XORQ(r, r)
	Label("lnrow")
	CMPQ(r, avoutil.ParamAddr("rows"))
	JGE(LabelRef("lndone"))
	c := cursors(x)
	sum := s.reduceN("ln1", par("d"), c, 1, 4, func(a acc, u int, sums [][]reg.VecVirtual) {
		v := a.ld(c[0], u)
		VADDPS(v, sums[0][u], sums[0][u])
	})[0]
	VDIVSS(df, sum, sum) // μ
	VMOVSS(sum, Mem{Base: par("mean"), Index: r, Scale: 4})
	mu := s.vec()
	VBROADCASTSS(sum, mu)
	c = cursors(x)
	q := s.reduceN("ln2", par("d"), c, 1, 4, func(a acc, u int, sums [][]reg.VecVirtual) {
		v := a.ld(c[0], u)
		VSUBPS(mu, v, v)
		a.zeroOut(v)
		VFMADD231PS(v, v, sums[0][u])
	})[0]
	VDIVSS(df, q, q)
	VADDSS(eps, q, q)
	VCVTSS2SD(q, q, q)
	VSQRTSD(q, q, q)
	VDIVSD(q, one64, q)
	VCVTSD2SS(q, q, q) // ρ
	VMOVSS(q, Mem{Base: par("rstd"), Index: r, Scale: 4})
	rs := s.vec()
	VBROADCASTSS(q, rs)
	c = []reg.Register{counter(y), counter(x), par("gamma"), par("beta")}
	s.loop("ln3", par("d"), c, 2, func(a acc, u int) {
		v := a.ld(c[1], u)
		VSUBPS(mu, v, v)
		VMULPS(rs, v, v)
		g := a.ld(c[2], u)
		VMULPS(g, v, v)
		b := a.ld(c[3], u)
		VADDPS(b, v, v)
		a.store(v, c[0], u)
	})
	d := par("d")
	LEAQ(Mem{Base: x, Index: d, Scale: 4}, x)
	LEAQ(Mem{Base: y, Index: d, Scale: 4}, y)
	INCQ(r)
	JMP(LabelRef("lnrow"))
	Label("lndone")
	avoutil.Ret()
}

func (s *isa) layerNormBackward() {
	s.text("layerNormBackward", "func(dx, dy, x, mean, rstd, gamma *float32, rows, d int)",
		"computes LayerNorm's dx for rows×d as the twin does (sums reassociated).")
	dx, dy, x := par("dx"), par("dy"), par("x")
	inv := XMM()
	VCVTSI2SSQ(par("d"), inv, inv)
	VDIVSS(inv, scalarOne(), inv) // 1/d
	r := GP64()
	XORQ(r, r)
	mu, rs := s.vec(), s.vec()
	Label("lbrow")
	CMPQ(r, avoutil.ParamAddr("rows"))
	JGE(LabelRef("lbdone"))
	VBROADCASTSS(Mem{Base: par("mean"), Index: r, Scale: 4}, mu)
	VBROADCASTSS(Mem{Base: par("rstd"), Index: r, Scale: 4}, rs)
	c := []reg.Register{counter(dy), counter(x), par("gamma")}
	tot := s.reduceN("lb1", par("d"), c, 2, 2, func(a acc, u int, sums [][]reg.VecVirtual) {
		g := a.ld(c[0], u)
		gm := a.ld(c[2], u)
		VMULPS(gm, g, g)
		VADDPS(g, sums[0][u], sums[0][u])
		v := a.ld(c[1], u)
		VSUBPS(mu, v, v)
		VMULPS(g, v, v)
		VMULPS(rs, v, v)
		VADDPS(v, sums[1][u], sums[1][u])
	})
	sg, sgx := s.vec(), s.vec()
	VMULSS(inv, tot[0], tot[0])
	VMULSS(inv, tot[1], tot[1])
	VBROADCASTSS(tot[0], sg)
	VBROADCASTSS(tot[1], sgx)
	c = []reg.Register{counter(dx), counter(dy), counter(x), par("gamma")}
	s.loop("lb2", par("d"), c, 2, func(a acc, u int) {
		v := a.ld(c[2], u)
		VSUBPS(mu, v, v)
		VMULPS(rs, v, v) // x̂
		VMULPS(sgx, v, v)
		g := a.ld(c[1], u)
		gm := a.ld(c[3], u)
		VMULPS(gm, g, g)
		VSUBPS(sg, g, g)
		VSUBPS(v, g, g)
		VMULPS(rs, g, g)
		a.store(g, c[0], u)
	})
	d := par("d")
	LEAQ(Mem{Base: dx, Index: d, Scale: 4}, dx)
	LEAQ(Mem{Base: dy, Index: d, Scale: 4}, dy)
	LEAQ(Mem{Base: x, Index: d, Scale: 4}, x)
	INCQ(r)
	JMP(LabelRef("lbrow"))
	Label("lbdone")
	avoutil.Ret()
}

func (s *isa) layerNormParamGrad() {
	s.text("layerNormParamGrad", "func(dgamma, dbeta, dy, x, mean, rstd *float32, rows, stride, w int)",
		"adds Σ_r dy·(x−μ_r)·ρ_r into dgamma[j] and Σ_r dy into dbeta[j], rows in order.")
	dg, db, dy, x := Load(Param("dgamma"), GP64()), Load(Param("dbeta"), GP64()), Load(Param("dy"), GP64()), Load(Param("x"), GP64())
	mean, rstd := Load(Param("mean"), GP64()), Load(Param("rstd"), GP64())
	rows, stride, w := Load(Param("rows"), GP64()), Load(Param("stride"), GP64()), Load(Param("w"), GP64())
	sg := make([]reg.VecVirtual, 4)
	sb := make([]reg.VecVirtual, 4)
	mu, rs := s.vec(), s.vec()
	s.cols("pg", w, rows, stride, 2, []reg.Register{dg, db, dy, x},
		func(r reg.Register) {
			VBROADCASTSS(Mem{Base: mean, Index: r, Scale: 4}, mu)
			VBROADCASTSS(Mem{Base: rstd, Index: r, Scale: 4}, rs)
		},
		func(a acc, u int, p []reg.Register) { sg[u] = a.ld(p[0], u); sb[u] = a.ld(p[1], u) },
		func(a acc, u int, p []reg.Register) { a.store(sg[u], p[0], u); a.store(sb[u], p[1], u) },
		func(a acc, u int, p []reg.Register) {
			g := a.ld(p[2], u)
			xv := a.ld(p[3], u)
			VSUBPS(mu, xv, xv)
			VMULPS(g, xv, xv)
			VMULPS(rs, xv, xv)
			VADDPS(xv, sg[u], sg[u])
			VADDPS(g, sb[u], sb[u])
		})
	avoutil.Ret()
}
