package main

// The isa type: one target's vector width and tail masking, and the
// helpers every kernel is written with.

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// isa is one target: vector width and masking style.
type isa struct {
	sfx string // function name suffix
	w   int    // float32 lanes per vector
	z   bool   // AVX-512 (zmm, K masks) rather than AVX2 (ymm, lane masks)
}

var (
	isa512 = &isa{"512", 16, true}
	isa256 = &isa{"256", 8, false}
)

func (s *isa) vec() reg.VecVirtual {
	if s.z {
		return ZMM()
	}
	return YMM()
}

func (s *isa) bytes() int { return 4 * s.w }

// mask is the tail mask of a partial vector.
type mask struct {
	k reg.Register   // AVX-512
	y reg.VecVirtual // AVX2
}

// tailMask builds the mask of the first n lanes, 0 < n < w.
func (s *isa) tailMask(n reg.Register) *mask {
	t := GP64()
	if s.z {
		k := K()
		LEAQ(sym("kmask16"), t)
		KMOVW(Mem{Base: t, Index: n, Scale: 2}, k)
		return &mask{k: k}
	}
	u := GP64()
	m := YMM()
	LEAQ(sym("kmask8"), t)
	MOVQ(n, u)
	NEGQ(u)
	VMOVUPS(Mem{Base: t, Index: u, Scale: 4, Disp: 32}, m)
	return &mask{y: m}
}

// acc is how a loop body reaches memory: whole vectors, or under a tail
// mask (lanes outside it are not read, load as zero, and are not
// written).
type acc struct {
	s *isa
	m *mask
}

func (a acc) mem(base reg.Register, u int) Mem { return Mem{Base: base, Disp: u * a.s.bytes()} }

func (a acc) load(base reg.Register, u int, dst reg.VecVirtual) {
	mem := a.mem(base, u)
	switch {
	case a.m == nil:
		VMOVUPS(mem, dst)
	case a.s.z:
		VMOVUPS_Z(mem, a.m.k, dst)
	default:
		VMASKMOVPS(mem, a.m.y, dst)
	}
}

func (a acc) ld(base reg.Register, u int) reg.VecVirtual {
	v := a.s.vec()
	a.load(base, u, v)
	return v
}

func (a acc) store(src reg.VecVirtual, base reg.Register, u int) {
	mem := a.mem(base, u)
	switch {
	case a.m == nil:
		VMOVUPS(src, mem)
	case a.s.z:
		VMOVUPS(src, a.m.k, mem)
	default:
		VMASKMOVPS(src, a.m.y, mem)
	}
}

// zeroOut clears the lanes of v outside the mask.
func (a acc) zeroOut(v reg.VecVirtual) {
	switch {
	case a.m == nil:
	case a.s.z:
		VMOVAPS_Z(v, a.m.k, v)
	default:
		VANDPS(a.m.y, v, v)
	}
}

// fillOut sets the lanes of v outside the mask to those of f.
func (a acc) fillOut(v, f reg.VecVirtual) {
	switch {
	case a.m == nil:
	case a.s.z:
		VBLENDMPS(v, f, a.m.k, v) // v where the mask is set, else f
	default:
		VBLENDVPS(a.m.y, v, f, v) // v where the mask is set, else f
	}
}

func (s *isa) bcast(m Mem) reg.VecVirtual {
	v := s.vec()
	VBROADCASTSS(m, v)
	return v
}

func (s *isa) konst(name string) reg.VecVirtual {
	v := s.vec()
	VMOVUPS(C(name), v)
	return v
}

func (s *isa) zero() reg.VecVirtual {
	v := s.vec()
	if s.z {
		VPXORD(v, v, v)
	} else {
		VXORPS(v, v, v)
	}
	return v
}

func (s *isa) xor(a, b, dst Op) {
	if s.z {
		VPXORD(a, b, dst)
	} else {
		VPXOR(a, b, dst)
	}
}

// hsum returns an xmm register whose lane 0 is the sum of v's lanes.
func (s *isa) hsum(v reg.VecVirtual) reg.VecVirtual {
	y := v.AsY()
	if s.z {
		t := YMM()
		VEXTRACTF64X4(U8(1), v, t)
		VADDPS(t, v.AsY(), t)
		y = t
	}
	x := XMM()
	if s.z {
		VEXTRACTF32X4(U8(1), y, x)
	} else {
		VEXTRACTF128(U8(1), y, x)
	}
	VADDPS(y.(reg.VecVirtual).AsX(), x, x)
	x2 := XMM()
	VMOVHLPS(x, x, x2)
	VADDPS(x2, x, x)
	VMOVSHDUP(x, x2)
	VADDSS(x2, x, x)
	return x
}

// hred combines per-lane max (or min) across v into lane 0 of an xmm.
func (s *isa) hred(v reg.VecVirtual, op func(a, b, dst Op)) reg.VecVirtual {
	y := v.AsY()
	if s.z {
		t := YMM()
		VEXTRACTF64X4(U8(1), v, t)
		op(t, v.AsY(), t)
		y = t
	}
	x := XMM()
	if s.z {
		VEXTRACTF32X4(U8(1), y, x)
	} else {
		VEXTRACTF128(U8(1), y, x)
	}
	op(y.(reg.VecVirtual).AsX(), x, x)
	x2 := XMM()
	VMOVHLPS(x, x, x2)
	op(x2, x, x)
	VMOVSHDUP(x, x2)
	op(x2, x, x)
	return x
}

// addPD adds v's lanes, widened to float64, into the accumulators lo
// (lanes 0..w/2-1) and hi.
func (s *isa) addPD(v, lo, hi reg.VecVirtual) {
	a, b := s.vec(), s.vec()
	if s.z {
		h := YMM()
		VEXTRACTF64X4(U8(1), v, h)
		VCVTPS2PD(v.AsY(), a)
		VCVTPS2PD(h, b)
	} else {
		h := XMM()
		VEXTRACTF128(U8(1), v, h)
		VCVTPS2PD(v.AsX(), a)
		VCVTPS2PD(h, b)
	}
	VADDPD(a, lo, lo)
	VADDPD(b, hi, hi)
}

// hsumPD returns an xmm whose low float64 is the sum of v's.
func (s *isa) hsumPD(v reg.VecVirtual) reg.VecVirtual {
	y := v.AsY()
	if s.z {
		t := YMM()
		VEXTRACTF64X4(U8(1), v, t)
		VADDPD(t, v.AsY(), t)
		y = t
	}
	x := XMM()
	if s.z {
		VEXTRACTF32X4(U8(1), y, x)
	} else {
		VEXTRACTF128(U8(1), y, x)
	}
	VADDPD(y.(reg.VecVirtual).AsX(), x, x)
	x2 := XMM()
	VMOVHLPS(x, x, x2)
	VADDSD(x2, x, x)
	return x
}

func (s *isa) text(name, sig string, doc ...string) {
	TEXT(name+s.sfx, NOSPLIT, sig)
	Pragma("noescape")
	if len(doc) > 0 {
		doc[0] = name + s.sfx + " " + doc[0]
		Doc(doc...)
	}
}

func loadPtrs(names ...string) []reg.Register {
	var ps []reg.Register
	for _, n := range names {
		ps = append(ps, Load(Param(n), GP64()))
	}
	return ps
}

func cursors(ps ...reg.Register) []reg.Register {
	var out []reg.Register
	for _, p := range ps {
		t := GP64()
		MOVQ(p, t)
		out = append(out, t)
	}
	return out
}

func counter(n reg.Register) reg.Register {
	t := GP64()
	MOVQ(n, t)
	return t
}

// scalarOne returns an xmm holding float32 1 in lane 0.
func scalarOne() reg.VecVirtual {
	x := XMM()
	VMOVSS(C("one"), x)
	return x
}

// par loads a parameter into a fresh register (kernels with many
// operands reload them where needed rather than hold them all).
func par(name string) reg.Register { return Load(Param(name), GP64()) }
