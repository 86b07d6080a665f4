package main

// The vectorized exp shared by the GELU and softmax kernels.

import (
	"fmt"

	"github.com/clinic-ml/clinic/gen/internal/avoutil"
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// exp sets v = e^v (v clamped to [expLo, expHi]).
func (s *isa) exp(v reg.VecVirtual) {
	VMINPS(C("expHi"), v, v)
	VMAXPS(C("expLo"), v, v)
	nf, ni := s.vec(), s.vec()
	VMULPS(C("log2e"), v, nf)
	VCVTPS2DQ(nf, ni) // round to nearest
	VCVTDQ2PS(ni, nf)
	VFNMADD231PS(C("ln2hi"), nf, v) // r = v − n·ln2hi
	VFNMADD231PS(C("ln2lo"), nf, v) //     − n·ln2lo
	q := s.konst("ep0")
	for i := 1; i < len(expPoly); i++ {
		VFMADD213PS(C(fmt.Sprintf("ep%d", i)), v, q) // q = q·r + c
	}
	r2 := nf
	VMULPS(v, v, r2)
	VFMADD213PS(v, r2, q) // q·r² + r
	VADDPS(C("one"), q, q)
	VPADDD(C("bias"), ni, ni)
	VPSLLD(U8(23), ni, ni) // 2^n
	VMULPS(ni, q, v)
}

func (s *isa) expv() {
	s.text("exp", "func(y, x *float32, n int)",
		"sets y[i] = e^x[i] (x clamped to [-87, 88]) for i < n: the",
		"vectorized exp of the softmax and GELU kernels, for tests.")
	p := loadPtrs("y", "x")
	n := Load(Param("n"), GP64())
	s.loop("ex", n, p, 1, func(a acc, u int) {
		x := a.ld(p[1], u)
		s.exp(x)
		a.store(x, p[0], u)
	})
	avoutil.Ret()
}
