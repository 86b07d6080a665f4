package main

// Dropout and its counter-based RNG (Hash32 = lowbias32 of the key
// mixed with the element counter).

import (
	"fmt"

	"github.com/clinic-ml/clinic/gen/internal/avoutil"
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

func (s *isa) lowbias32(h reg.VecVirtual) {
	t := s.vec()
	VPSRLD(U8(16), h, t)
	s.xor(t, h, h)
	VPMULLD(C("lb1"), h, h)
	VPSRLD(U8(15), h, t)
	s.xor(t, h, h)
	VPMULLD(C("lb2"), h, h)
	VPSRLD(U8(16), h, t)
	s.xor(t, h, h)
}

// drop holds a dropout mask generator's state: the key halves, the
// threshold (sign-flipped for AVX2's signed compare), the scale and the
// counters of the current vector.
type drop struct {
	klo, khi, th, sc, ctr reg.VecVirtual
	step                  Mem
}

// dropInit loads the generator's parameters (th, sc, klo, khi, base).
// The counters start at base + lane.
func (s *isa) dropInit() *drop {
	d := &drop{klo: s.vec(), khi: s.vec(), th: s.vec(), ctr: s.vec(), step: C(fmt.Sprintf("w%d", s.w))}
	VBROADCASTSS(avoutil.ParamAddr("klo"), d.klo)
	VBROADCASTSS(avoutil.ParamAddr("khi"), d.khi)
	VBROADCASTSS(avoutil.ParamAddr("th"), d.th)
	if !s.z {
		s.xor(C("sign"), d.th, d.th)
	}
	d.sc = s.bcast(avoutil.ParamAddr("sc"))
	VBROADCASTSS(avoutil.ParamAddr("base"), d.ctr)
	VPADDD(C("iota"), d.ctr, d.ctr)
	return d
}

// setCounters sets the counters to c + lane (c a 32-bit value in a GP
// register).
func (s *isa) setCounters(d *drop, c reg.Register) {
	VMOVD(c.(reg.GPVirtual).As32(), d.ctr.AsX())
	VPBROADCASTD(d.ctr.AsX(), d.ctr)
	VPADDD(C("iota"), d.ctr, d.ctr)
}

// hash draws the current vector's bits and advances the counters. For
// AVX-512 it returns the K mask of kept lanes (Hash32 ≥ th); for AVX2 a
// vector that is all ones in dropped lanes.
func (s *isa) hash(d *drop) (keep reg.Register, dropped reg.VecVirtual) {
	h := s.vec()
	s.xor(d.klo, d.ctr, h)
	VPADDD(d.step, d.ctr, d.ctr)
	s.lowbias32(h)
	VPADDD(d.khi, h, h)
	s.lowbias32(h)
	if s.z {
		k := K()
		VPCMPUD(U8(5), d.th, h, k) // h ≥ th (not less than)
		return k, nil
	}
	s.xor(C("sign"), h, h)
	VPCMPGTD(h, d.th, h) // th > h: dropped
	return nil, h
}

// scaleKept sets v = v·sc in kept lanes and 0 in dropped ones.
func (s *isa) scaleKept(d *drop, v reg.VecVirtual, keep reg.Register, dropped reg.VecVirtual) {
	if s.z {
		VMULPS_Z(d.sc, v, keep, v)
		return
	}
	VMULPS(d.sc, v, v)
	VANDNPS(v, dropped, v) // v &^ dropped
}

const dropSig = "th uint32, sc float32, klo, khi, base uint32"

func (s *isa) dropout() {
	s.text("dropout", "func(y, x *float32, n int, "+dropSig+")",
		"sets y[i] = x[i]·sc if Hash32(key, base+i) ≥ th, else 0,",
		"for i < n (key = khi<<32 | klo).")
	p := loadPtrs("y", "x")
	n := Load(Param("n"), GP64())
	d := s.dropInit()
	s.loop("dr", n, p, 4, func(a acc, u int) {
		k, dr := s.hash(d)
		x := a.ld(p[1], u)
		s.scaleKept(d, x, k, dr)
		a.store(x, p[0], u)
	})
	avoutil.Ret()
}
