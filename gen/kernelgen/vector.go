package main

// Vector and row ops: Scale, and ScaleAddRows (a d-vector applied to
// every d-wide row).

import (
	"github.com/clinic-ml/clinic/gen/internal/avoutil"
	. "github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/reg"
)

func (s *isa) scale() {
	s.text("scale", "func(alpha float32, x *float32, n int)", "sets x[i] *= alpha for i < n.")
	p := loadPtrs("x")
	n := Load(Param("n"), GP64())
	al := s.bcast(avoutil.ParamAddr("alpha"))
	s.loop("sc", n, p, 4, func(a acc, u int) {
		x := a.ld(p[0], u)
		VMULPS(al, x, x)
		a.store(x, p[0], u)
	})
	avoutil.Ret()
}

func (s *isa) scaleAddRows() {
	s.text("scaleAddRows", "func(y, w, x, b *float32, rows, d int)", "sets y = w⊙x + b row by row (w a d-vector).")
	y, w, x, b := Load(Param("y"), GP64()), Load(Param("w"), GP64()), Load(Param("x"), GP64()), Load(Param("b"), GP64())
	rows, d := Load(Param("rows"), GP64()), Load(Param("d"), GP64())
	s.rows("sa", rows, d, []reg.Register{y, x, b}, []reg.Register{w}, 4, nil, func(a acc, u int, p []reg.Register) {
		wv := a.ld(p[3], u)
		xv := a.ld(p[1], u)
		VMULPS(wv, xv, xv)
		bv := a.ld(p[2], u)
		VADDPS(bv, xv, xv)
		a.store(xv, p[0], u)
	})
	avoutil.Ret()
}
