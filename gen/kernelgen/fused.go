package main

// Fused kernels: an activation or a row op with dropout in one pass.

import (
	"github.com/clinic-ml/clinic/gen/internal/avoutil"
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// positive restricts the kept lanes to those where x > 0.
func (s *isa) positive(x reg.VecVirtual, keep reg.Register, dropped reg.VecVirtual) {
	z := s.zero()
	if s.z {
		pos := K()
		VCMPPS(U8(0x1e), z, x, pos) // x > 0 (ordered)
		KANDW(pos, keep, keep)
		return
	}
	VCMPPS(U8(0x1a), z, x, z) // all ones where !(x > 0): NGT_UQ
	VORPS(z, dropped, dropped)
}

func (s *isa) reluDropout() {
	s.text("reluDropout", "func(y, x *float32, n int, "+dropSig+")",
		"is Dropout(ReLU(x)): y[i] = x[i]·sc if x[i] > 0 and the lane is kept, else 0.")
	p := loadPtrs("y", "x")
	n := Load(Param("n"), GP64())
	d := s.dropInit()
	s.loop("rd", n, p, 4, func(a acc, u int) {
		k, dr := s.hash(d)
		x := a.ld(p[1], u)
		s.positive(x, k, dr)
		s.scaleKept(d, x, k, dr)
		a.store(x, p[0], u)
	})
	avoutil.Ret()
}

func (s *isa) reluDropoutBackward() {
	s.text("reluDropoutBackward", "func(dx, dy, x *float32, n int, "+dropSig+")",
		"is ReLU'(x)·Dropout(dy): dx[i] = dy[i]·sc if x[i] > 0 and the lane is kept, else 0.")
	p := loadPtrs("dx", "dy", "x")
	n := Load(Param("n"), GP64())
	d := s.dropInit()
	s.loop("rb", n, p, 4, func(a acc, u int) {
		k, dr := s.hash(d)
		x := a.ld(p[2], u)
		s.positive(x, k, dr)
		g := a.ld(p[1], u)
		s.scaleKept(d, g, k, dr)
		a.store(g, p[0], u)
	})
	avoutil.Ret()
}

func (s *isa) geluDropout() {
	s.text("geluDropout", "func(y, x *float32, n int, "+dropSig+")",
		"is Dropout(GELU(x)) with gelu's and dropout's arithmetic.")
	p := loadPtrs("y", "x")
	n := Load(Param("n"), GP64())
	d := s.dropInit()
	s.loop("gd", n, p, 2, func(a acc, u int) {
		x := a.ld(p[1], u)
		s.geluValue(x)
		k, dr := s.hash(d)
		s.scaleKept(d, x, k, dr)
		a.store(x, p[0], u)
	})
	avoutil.Ret()
}

func (s *isa) geluDropoutBackward() {
	s.text("geluDropoutBackward", "func(dx, dy, x *float32, n int, "+dropSig+")",
		"is GELU'(x)·Dropout(dy) with geluBackward's and dropout's arithmetic.")
	p := loadPtrs("dx", "dy", "x")
	n := Load(Param("n"), GP64())
	d := s.dropInit()
	s.loop("gb", n, p, 2, func(a acc, u int) {
		x := a.ld(p[2], u)
		s.geluSlope(x)
		g := a.ld(p[1], u)
		k, dr := s.hash(d)
		s.scaleKept(d, g, k, dr)
		VMULPS(x, g, g)
		a.store(g, p[0], u)
	})
	avoutil.Ret()
}

func (s *isa) dropoutScaleAddRows() {
	s.text("dropoutScaleAddRows", "func(y, w, x, b *float32, rows, d int, "+dropSig+")",
		"sets y = w⊙x + Dropout(b) row by row, element i of b drawing counter base+i.")
	y, w, x, b := par("y"), par("w"), par("x"), par("b")
	rows, dd := par("rows"), par("d")
	dr := s.dropInit()
	rb := GP64()
	MOVL(avoutil.ParamAddr("base"), rb.As32())
	s.rows("ds", rows, dd, []reg.Register{y, x, b}, []reg.Register{w}, 2, func() {
		s.setCounters(dr, rb)
		ADDL(dd.(reg.GPVirtual).As32(), rb.As32())
	}, func(a acc, u int, p []reg.Register) {
		k, drp := s.hash(dr)
		bv := a.ld(p[2], u)
		s.scaleKept(dr, bv, k, drp)
		wv := a.ld(p[3], u)
		xv := a.ld(p[1], u)
		VMULPS(wv, xv, xv)
		VADDPS(bv, xv, xv)
		a.store(xv, p[0], u)
	})
	avoutil.Ret()
}
