package main

// Activations: ReLU and GELU, forward and backward.

import (
	"github.com/clinic-ml/clinic/gen/internal/avoutil"
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

func (s *isa) relu() {
	s.text("relu", "func(y, x *float32, n int)", "sets y[i] = max(x[i], 0) (NaN → 0) for i < n.")
	p := loadPtrs("y", "x")
	n := Load(Param("n"), GP64())
	z := s.zero()
	s.loop("re", n, p, 4, func(a acc, u int) {
		x := a.ld(p[1], u)
		VMAXPS(z, x, x) // x > 0 ? x : 0
		a.store(x, p[0], u)
	})
	avoutil.Ret()
}

func (s *isa) reluBackward() {
	s.text("reluBackward", "func(dx, dy, x *float32, n int)", "sets dx[i] = dy[i] if x[i] > 0, else 0, for i < n.")
	p := loadPtrs("dx", "dy", "x")
	n := Load(Param("n"), GP64())
	z := s.zero()
	s.loop("rb", n, p, 4, func(a acc, u int) {
		x := a.ld(p[2], u)
		g := a.ld(p[1], u)
		if s.z {
			k := K()
			VCMPPS(U8(0x1e), z, x, k) // x > 0 (ordered)
			VMOVAPS_Z(g, k, g)
		} else {
			VCMPPS(U8(0x1e), z, x, x)
			VANDPS(x, g, g)
		}
		a.store(g, p[0], u)
	})
	avoutil.Ret()
}

// geluExp returns a new vector e = exp(−2u) for x (u = c·(x + a·x³)).
func (s *isa) geluExp(x reg.VecVirtual) reg.VecVirtual {
	x2 := s.vec()
	VMULPS(x, x, x2)
	t := s.konst("g2")
	VFMADD213PS(C("g1"), x2, t) // g1 + g2·x²
	VMULPS(x, t, t)
	s.exp(t)
	return t
}

// geluValue sets x = GELU(x) = x/(1 + exp(−2u)).
func (s *isa) geluValue(x reg.VecVirtual) {
	e := s.geluExp(x)
	VADDPS(C("one"), e, e)
	VDIVPS(e, x, x)
}

// geluSlope sets x = GELU'(x) = σ·(1 + 2x·(1−σ)·c·(1 + 3a·x²)) with
// σ = 1/(1+e), 1−σ = e·σ, e = exp(−2u).
func (s *isa) geluSlope(x reg.VecVirtual) {
	e := s.geluExp(x)
	sg := s.konst("one")
	d := s.vec()
	VADDPS(sg, e, d)
	VDIVPS(d, sg, sg) // σ
	VMULPS(sg, e, e)  // 1 − σ
	in := s.vec()
	VMULPS(x, x, in)
	VMULPS(C("gc3"), in, in)
	VADDPS(C("gc"), in, in) // c·(1 + 3a·x²)
	VMULPS(x, in, in)
	VADDPS(in, in, in) // 2x·c·(…)
	VMULPS(e, in, in)
	VADDPS(C("one"), in, in)
	VMULPS(in, sg, x)
}

func (s *isa) gelu() {
	s.text("gelu", "func(y, x *float32, n int)",
		"sets y[i] = x·σ(2u) = 0.5·x·(1 + tanh u), u = c·(x + a·x³), for i < n.")
	p := loadPtrs("y", "x")
	n := Load(Param("n"), GP64())
	s.loop("ge", n, p, 2, func(a acc, u int) {
		x := a.ld(p[1], u)
		s.geluValue(x)
		a.store(x, p[0], u)
	})
	avoutil.Ret()
}

func (s *isa) geluBackward() {
	s.text("geluBackward", "func(dx, dy, x *float32, n int)",
		"sets dx[i] = dy[i]·GELU'(x[i]) for i < n (see geluSlope).")
	p := loadPtrs("dx", "dy", "x")
	n := Load(Param("n"), GP64())
	s.loop("gb", n, p, 2, func(a acc, u int) {
		x := a.ld(p[2], u)
		s.geluSlope(x)
		g := a.ld(p[1], u)
		VMULPS(x, g, g)
		a.store(g, p[0], u)
	})
	avoutil.Ret()
}
