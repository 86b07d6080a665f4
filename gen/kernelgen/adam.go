package main

// The Adam/AdamW update.

import (
	"github.com/clinic-ml/clinic/gen/internal/avoutil"
	. "github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/reg"
)

func (s *isa) adam() {
	s.text("adam", "func(w, grad, m, v *float32, n int, b1, omb1, b2, omb2, a, sc, eps, decay float32)",
		"is Adam's update with the twin's rounding order (omb = 1 − b).")
	p := loadPtrs("w", "grad", "m", "v")
	n := Load(Param("n"), GP64())
	var h []reg.VecVirtual
	for _, nm := range []string{"b1", "omb1", "b2", "omb2", "a", "sc", "eps", "decay"} {
		h = append(h, s.bcast(avoutil.ParamAddr(nm)))
	}
	b1, omb1, b2, omb2, aa, sc, eps, decay := h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]
	unroll := 2
	if !s.z {
		unroll = 1
	}
	s.loop("ad", n, p, unroll, func(a acc, u int) {
		g := a.ld(p[1], u)
		m := a.ld(p[2], u)
		t := s.vec()
		VMULPS(b1, m, m)
		VMULPS(omb1, g, t)
		VADDPS(t, m, m) // mi
		a.store(m, p[2], u)
		v := a.ld(p[3], u)
		VMULPS(omb2, g, t)
		VMULPS(g, t, t)
		VMULPS(b2, v, v)
		VADDPS(t, v, v) // vi
		a.store(v, p[3], u)
		VSQRTPS(v, v)
		VMULPS(sc, v, v)
		VADDPS(eps, v, v) // den
		VMULPS(aa, m, m)
		VDIVPS(v, m, m) // a·mi/den
		w := a.ld(p[0], u)
		VMULPS(decay, w, t)
		VSUBPS(t, w, w)
		VSUBPS(m, w, w)
		a.store(w, p[0], u)
	})
	avoutil.Ret()
}
