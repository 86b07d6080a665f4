// Command kernelgen generates clinic's non-GEMM amd64 kernels with avo:
// an AVX-512 (suffix 512) and an AVX2 (suffix 256) version of each.
//
// It is run by go generate in package asm:
//
//	go run ../gen/kernelgen -out kernels_amd64.s -stubs kernels_stubs_amd64.go
//
// avo writes the Go declarations (kernels_stubs_amd64.go) too; the
// dispatch tables that use them are in asm/kernels_amd64.go. Each
// kernel is written once against the isa type below, which hides the
// vector width and the way a partial (tail) vector is masked: a K
// register and masked moves for AVX-512, a lane mask and VMASKMOVPS for
// AVX2. Masked loads never touch memory beyond the operands.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"math"
	"os"
	"regexp"
	"strings"

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

// Constants live in kconst, one 64-byte row of 16 identical lanes each
// (the iota row counts 0..15), so both widths load them as full vectors.
var (
	constIdx  = map[string]int{}
	constRows [][16]uint32
)

func defConst(name string, row [16]uint32) {
	constIdx[name] = len(constRows)
	constRows = append(constRows, row)
}

func splatU(v uint32) (r [16]uint32) {
	for i := range r {
		r[i] = v
	}
	return
}

func splatF(f float32) [16]uint32 { return splatU(math.Float32bits(f)) }

func init() {
	var iota [16]uint32
	for i := range iota {
		iota[i] = uint32(i)
	}
	defConst("iota", iota)
	defConst("w16", splatU(16))
	defConst("w8", splatU(8))
	defConst("lb1", splatU(0x7feb352d))
	defConst("lb2", splatU(0x846ca68b))
	defConst("sign", splatU(0x80000000))
	defConst("one", splatF(1))
	defConst("ninf", splatF(float32(math.Inf(-1))))
	defConst("pinf", splatF(float32(math.Inf(1))))
	// exp (Cephes expf): x clamped to [expLo, expHi] so that 2^n is a
	// normal float; n = round(x·log2e), r = x − n·ln2 (in two parts),
	// e^r by a degree-7 polynomial.
	defConst("expHi", splatF(88))
	defConst("expLo", splatF(-87))
	defConst("log2e", splatF(1.44269504088896341))
	defConst("ln2hi", splatF(0.693359375))
	defConst("ln2lo", splatF(-2.12194440e-4))
	for i, c := range expPoly {
		defConst(fmt.Sprintf("ep%d", i), splatF(c))
	}
	defConst("bias", splatU(127))
	// GELU: t = −2u = x·(g1 + g2·x²), u = c·(x + a·x³).
	const c, a = 0.7978845608028654, 0.044715
	defConst("g1", splatF(float32(-2*c)))
	defConst("g2", splatF(float32(-2*c*a)))
	defConst("gc", splatF(float32(c)))
	defConst("gc3", splatF(float32(3*c*a)))
	defConst("two", splatF(2))
}

var expPoly = []float32{1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1}

var kconst Mem

func emitConsts() {
	kconst = GLOBL("kconst", RODATA|NOPTR)
	for i, row := range constRows {
		for j, v := range row {
			DATA(64*i+4*j, U32(v))
		}
	}
	// kmask16[i] = 2^i − 1: the AVX-512 tail mask of i lanes.
	km := GLOBL("kmask16", RODATA|NOPTR)
	_ = km
	for i := 0; i <= 16; i++ {
		DATA(2*i, U16(uint16(1<<i-1)))
	}
	// kmask8: 8 all-ones lanes then 8 zero lanes; the AVX2 tail mask of
	// i lanes starts at lane 8−i.
	GLOBL("kmask8", RODATA|NOPTR)
	for i := 0; i < 16; i++ {
		v := uint32(0)
		if i < 8 {
			v = 0xffffffff
		}
		DATA(4*i, U32(v))
	}
}

// C is the memory operand of constant name, a full vector.
func C(name string) Mem {
	i, ok := constIdx[name]
	if !ok {
		panic("no constant " + name)
	}
	return kconst.Offset(64 * i)
}

func sym(name string) Mem {
	return Mem{Symbol: Symbol{Name: name, Static: true}, Base: reg.StaticBase}
}

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

// loop emits a loop over n elements (n is consumed): bodies of unroll
// whole vectors, then single vectors, then one masked partial vector.
// body(a, u) handles vector u of the step; ptrs advance past each step.
func (s *isa) loop(pfx string, n reg.Register, ptrs []reg.Register, unroll int, body func(a acc, u int)) {
	adv := func(k int) {
		for _, p := range ptrs {
			ADDQ(U32(k*s.bytes()), p)
		}
	}
	if unroll > 1 {
		Label(pfx + "u")
		CMPQ(n, U32(unroll*s.w))
		JL(LabelRef(pfx + "v"))
		for u := 0; u < unroll; u++ {
			body(acc{s, nil}, u)
		}
		adv(unroll)
		SUBQ(U32(unroll*s.w), n)
		JMP(LabelRef(pfx + "u"))
	}
	Label(pfx + "v")
	CMPQ(n, U8(s.w))
	JL(LabelRef(pfx + "t"))
	body(acc{s, nil}, 0)
	adv(1)
	SUBQ(U8(s.w), n)
	JMP(LabelRef(pfx + "v"))
	Label(pfx + "t")
	TESTQ(n, n)
	JZ(LabelRef(pfx + "e"))
	body(acc{s, s.tailMask(n)}, 0)
	Label(pfx + "e")
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

func paramAddr(name string) Mem {
	b, err := Param(name).Resolve()
	if err != nil {
		panic(err)
	}
	return b.Addr
}

func (s *isa) text(name, sig string, doc ...string) {
	TEXT(name+s.sfx, NOSPLIT, sig)
	Pragma("noescape")
	if len(doc) > 0 {
		doc[0] = name + s.sfx + " " + doc[0]
		Doc(doc...)
	}
}

func ret() {
	VZEROUPPER()
	RET()
}

func loadPtrs(names ...string) []reg.Register {
	var ps []reg.Register
	for _, n := range names {
		ps = append(ps, Load(Param(n), GP64()))
	}
	return ps
}

// ---------------------------------------------------------------------
// Dropout

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
	VBROADCASTSS(paramAddr("klo"), d.klo)
	VBROADCASTSS(paramAddr("khi"), d.khi)
	VBROADCASTSS(paramAddr("th"), d.th)
	if !s.z {
		s.xor(C("sign"), d.th, d.th)
	}
	d.sc = s.bcast(paramAddr("sc"))
	VBROADCASTSS(paramAddr("base"), d.ctr)
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
	ret()
}

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
	ret()
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
	ret()
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
	ret()
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
	ret()
}

func (s *isa) dropoutScaleAddRows() {
	s.text("dropoutScaleAddRows", "func(y, w, x, b *float32, rows, d int, "+dropSig+")",
		"sets y = w⊙x + Dropout(b) row by row, element i of b drawing counter base+i.")
	y, w, x, b := par("y"), par("w"), par("x"), par("b")
	rows, dd := par("rows"), par("d")
	dr := s.dropInit()
	rb := GP64()
	MOVL(paramAddr("base"), rb.As32())
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
	ret()
}

// ---------------------------------------------------------------------
// ReLU, GELU

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
	ret()
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
	ret()
}

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

// geluSig sets e = exp(−2u) for x, returning e (u = c·(x + a·x³)).
func (s *isa) geluExp(x reg.VecVirtual) reg.VecVirtual {
	x2 := s.vec()
	VMULPS(x, x, x2)
	t := s.konst("g2")
	VFMADD213PS(C("g1"), x2, t) // g1 + g2·x²
	VMULPS(x, t, t)
	s.exp(t)
	return t
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
	ret()
}

func (s *isa) ceGrad() {
	s.text("ceGrad", "func(dl, l *float32, n int, mx, ls, u, gs float32)",
		"sets dl[j] = gs·(e^((l[j]−mx)−ls) − u) for j < n.")
	p := loadPtrs("dl", "l")
	n := Load(Param("n"), GP64())
	mx, ls, u, gs := s.bcast(paramAddr("mx")), s.bcast(paramAddr("ls")), s.bcast(paramAddr("u")), s.bcast(paramAddr("gs"))
	s.loop("cg", n, p, 2, func(a acc, k int) {
		v := a.ld(p[1], k)
		VSUBPS(mx, v, v)
		VSUBPS(ls, v, v)
		s.exp(v)
		VSUBPS(u, v, v)
		VMULPS(gs, v, v)
		a.store(v, p[0], k)
	})
	ret()
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
	ret()
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
	ret()
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
	ret()
}

// ---------------------------------------------------------------------
// Adam

func (s *isa) adam() {
	s.text("adam", "func(w, grad, m, v *float32, n int, b1, omb1, b2, omb2, a, sc, eps, decay float32)",
		"is Adam's update with the twin's rounding order (omb = 1 − b).")
	p := loadPtrs("w", "grad", "m", "v")
	n := Load(Param("n"), GP64())
	var h []reg.VecVirtual
	for _, nm := range []string{"b1", "omb1", "b2", "omb2", "a", "sc", "eps", "decay"} {
		h = append(h, s.bcast(paramAddr(nm)))
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
	ret()
}

// ---------------------------------------------------------------------
// Simple vector ops

func (s *isa) scale() {
	s.text("scale", "func(alpha float32, x *float32, n int)", "sets x[i] *= alpha for i < n.")
	p := loadPtrs("x")
	n := Load(Param("n"), GP64())
	al := s.bcast(paramAddr("alpha"))
	s.loop("sc", n, p, 4, func(a acc, u int) {
		x := a.ld(p[0], u)
		VMULPS(al, x, x)
		a.store(x, p[0], u)
	})
	ret()
}

// sumSq keeps sumSqGeneric's order exactly: 16 float64 partial sums,
// partial l taking elements i ≡ l (mod 16) in index order (squares of
// float32 are exact in float64, so FMA rounds as the twin's add does),
// then combined pairwise: l + l+8, then l + l+4, l + l+2, l + l+1.
func (s *isa) sumSq() {
	s.text("sumSq", "func(x *float32, n int) float64",
		"returns Σ x[i]² in float64 in sumSqGeneric's fixed blocked order.")
	p := loadPtrs("x")
	n := Load(Param("n"), GP64())
	sq := func(a acc, u int, lo, hi reg.VecVirtual) {
		x := a.ld(p[0], u)
		l, h := s.vec(), s.vec()
		if s.z {
			t := YMM()
			VEXTRACTF64X4(U8(1), x, t)
			VCVTPS2PD(x.AsY(), l)
			VCVTPS2PD(t, h)
		} else {
			t := XMM()
			VEXTRACTF128(U8(1), x, t)
			VCVTPS2PD(x.AsX(), l)
			VCVTPS2PD(t, h)
		}
		VFMADD231PD(l, l, lo)
		VFMADD231PD(h, h, hi)
	}
	if s.z {
		// One zmm of float32 is a block: partials 0-7 in a0, 8-15 in a1.
		a0, a1 := s.zero(), s.zero()
		s.loop("ss", n, p, 1, func(a acc, u int) { sq(a, u, a0, a1) })
		VADDPD(a1, a0, a0)
		Store(s.hsumPD(a0), ReturnIndex(0))
		ret()
		return
	}
	// Two ymm of float32 per block: partials 4k..4k+3 in as[k].
	var as []reg.VecVirtual
	for range 4 {
		as = append(as, s.zero())
	}
	full := acc{s, nil}
	Label("ssb")
	CMPQ(n, U8(16))
	JL(LabelRef("sst"))
	sq(full, 0, as[0], as[1])
	sq(full, 1, as[2], as[3])
	ADDQ(U8(64), p[0])
	SUBQ(U8(16), n)
	JMP(LabelRef("ssb"))
	Label("sst")
	TESTQ(n, n)
	JZ(LabelRef("ssd"))
	CMPQ(n, U8(8))
	JL(LabelRef("sst2"))
	sq(full, 0, as[0], as[1])
	ADDQ(U8(32), p[0])
	SUBQ(U8(8), n)
	JZ(LabelRef("ssd"))
	sq(acc{s, s.tailMask(n)}, 0, as[2], as[3])
	JMP(LabelRef("ssd"))
	Label("sst2")
	sq(acc{s, s.tailMask(n)}, 0, as[0], as[1])
	Label("ssd")
	VADDPD(as[2], as[0], as[0]) // partials l + l+8, l < 4
	VADDPD(as[3], as[1], as[1]) // l + l+8, 4 ≤ l < 8
	VADDPD(as[1], as[0], as[0]) // l + l+4
	Store(s.hsumPD(as[0]), ReturnIndex(0))
	ret()
}

// ---------------------------------------------------------------------
// Row ops: a d-vector applied to every d-wide row.

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
	ret()
}

// rows runs body over rows×d: rowPtrs step through the rows (by d
// elements), vecPtrs restart at every row. In body, p lists rowPtrs then
// vecPtrs (cursors).
func (s *isa) rows(pfx string, rows, d reg.Register, rowPtrs, vecPtrs []reg.Register, unroll int, perRow func(), body func(a acc, u int, p []reg.Register)) {
	Label(pfx + "row")
	TESTQ(rows, rows)
	JZ(LabelRef(pfx + "done"))
	if perRow != nil {
		perRow()
	}
	var cur []reg.Register
	for _, r := range append(append([]reg.Register{}, rowPtrs...), vecPtrs...) {
		t := GP64()
		MOVQ(r, t)
		cur = append(cur, t)
	}
	n := GP64()
	MOVQ(d, n)
	s.loop(pfx, n, cur, unroll, func(a acc, u int) { body(a, u, cur) })
	for _, r := range rowPtrs {
		LEAQ(Mem{Base: r, Index: d, Scale: 4}, r)
	}
	DECQ(rows)
	JMP(LabelRef(pfx + "row"))
	Label(pfx + "done")
}

// ---------------------------------------------------------------------
// Column reductions: dst[j] += Σ_r f(row r, column j), rows in order,
// one running sum per column held in a register (so the summation order
// is the twin's).

// cols emits blocks of up to 4 vectors of columns; for each block,
// init(a, u) loads the running sums, step(a, u, r) adds row r (whose
// cursors are p), fini(a, u) stores them. colPtrs are nacc pointers to
// the sums, then pointers to the first rows of the inputs; in step, p
// holds the sum pointers and row cursors of the inputs. perRow, if not
// nil, runs once per row before the step bodies (for broadcasts of
// per-row scalars).
func (s *isa) cols(pfx string, w, rows, stride reg.Register, nacc int, colPtrs []reg.Register, perRow func(r reg.Register), init, fini func(a acc, u int, p []reg.Register), step func(a acc, u int, p []reg.Register)) {
	str4 := GP64()
	MOVQ(stride, str4)
	SHLQ(U8(2), str4)
	const ub = 4
	block := func(tag string, a acc, nv int) {
		for u := 0; u < nv; u++ {
			init(a, u, colPtrs)
		}
		var cur []reg.Register
		for _, p := range colPtrs[nacc:] {
			t := GP64()
			MOVQ(p, t)
			cur = append(cur, t)
		}
		r := GP64()
		XORQ(r, r)
		Label(pfx + tag + "r")
		CMPQ(r, rows)
		JGE(LabelRef(pfx + tag + "rd"))
		if perRow != nil {
			perRow(r)
		}
		all := append(colPtrs[:nacc:nacc], cur...)
		for u := 0; u < nv; u++ {
			step(a, u, all)
		}
		for _, c := range cur {
			ADDQ(str4, c)
		}
		INCQ(r)
		JMP(LabelRef(pfx + tag + "r"))
		Label(pfx + tag + "rd")
		for u := 0; u < nv; u++ {
			fini(a, u, colPtrs)
		}
	}
	adv := func(k int) {
		for _, p := range colPtrs {
			ADDQ(U32(k*s.bytes()), p)
		}
	}
	Label(pfx + "u")
	CMPQ(w, U32(ub*s.w))
	JL(LabelRef(pfx + "v"))
	block("u", acc{s, nil}, ub)
	adv(ub)
	SUBQ(U32(ub*s.w), w)
	JMP(LabelRef(pfx + "u"))
	Label(pfx + "v")
	CMPQ(w, U8(s.w))
	JL(LabelRef(pfx + "t"))
	block("v", acc{s, nil}, 1)
	adv(1)
	SUBQ(U8(s.w), w)
	JMP(LabelRef(pfx + "v"))
	Label(pfx + "t")
	TESTQ(w, w)
	JZ(LabelRef(pfx + "e"))
	block("t", acc{s, s.tailMask(w)}, 1)
	Label(pfx + "e")
}

func (s *isa) colSum() {
	s.text("colSum", "func(dst, src *float32, rows, stride, w int)",
		"adds Σ_r src[r·stride+j] into dst[j], j < w, rows in order.")
	dst, src := Load(Param("dst"), GP64()), Load(Param("src"), GP64())
	rows, stride, w := Load(Param("rows"), GP64()), Load(Param("stride"), GP64()), Load(Param("w"), GP64())
	sums := make([]reg.VecVirtual, 4)
	s.cols("cs", w, rows, stride, 1, []reg.Register{dst, src}, nil,
		func(a acc, u int, p []reg.Register) { sums[u] = a.ld(p[0], u) },
		func(a acc, u int, p []reg.Register) { a.store(sums[u], p[0], u) },
		func(a acc, u int, p []reg.Register) {
			v := a.ld(p[1], u)
			VADDPS(v, sums[u], sums[u])
		})
	ret()
}

func (s *isa) colDot() {
	s.text("colDot", "func(dst, a, b *float32, rows, stride, w int)",
		"adds Σ_r a[r·stride+j]·b[r·stride+j] into dst[j], j < w, rows in order.")
	dst, pa, pb := Load(Param("dst"), GP64()), Load(Param("a"), GP64()), Load(Param("b"), GP64())
	rows, stride, w := Load(Param("rows"), GP64()), Load(Param("stride"), GP64()), Load(Param("w"), GP64())
	sums := make([]reg.VecVirtual, 4)
	s.cols("cd", w, rows, stride, 1, []reg.Register{dst, pa, pb}, nil,
		func(a acc, u int, p []reg.Register) { sums[u] = a.ld(p[0], u) },
		func(a acc, u int, p []reg.Register) { a.store(sums[u], p[0], u) },
		func(a acc, u int, p []reg.Register) {
			v := a.ld(p[1], u)
			t := a.ld(p[2], u)
			VMULPS(t, v, v)
			VADDPS(v, sums[u], sums[u])
		})
	ret()
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
	ret()
}

// ---------------------------------------------------------------------
// LayerNorm and softmax: one call for all rows, passes over each row.

// reduceN runs k simultaneous sums over n elements at the cursors (n and
// the cursors are consumed) with unroll accumulators each; step adds
// vector u's terms into sums[i][u]. It returns each total in lane 0 of
// an xmm register.
func (s *isa) reduceN(pfx string, n reg.Register, ptrs []reg.Register, k, unroll int, step func(a acc, u int, sums [][]reg.VecVirtual)) []reg.VecVirtual {
	sums := make([][]reg.VecVirtual, k)
	for i := range sums {
		for range unroll {
			sums[i] = append(sums[i], s.zero())
		}
	}
	s.loop(pfx, n, ptrs, unroll, func(a acc, u int) { step(a, u, sums) })
	var out []reg.VecVirtual
	for i := range sums {
		for u := 1; u < unroll; u++ {
			VADDPS(sums[i][u], sums[i][0], sums[i][0])
		}
		out = append(out, s.hsum(sums[i][0]))
	}
	return out
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

func (s *isa) layerNorm() {
	s.text("layerNorm", "func(y, mean, rstd, x, gamma, beta *float32, rows, d int, eps float32)",
		"normalizes rows×d x as LayerNorm's twin does: μ, then Σ(x−μ)²,",
		"ρ = 1/sqrt(var+eps) in float64, y = (x−μ)·ρ·γ + β.")
	y, x := par("y"), par("x")
	df := XMM()
	VCVTSI2SSQ(par("d"), df, df)
	eps := XMM()
	VMOVSS(paramAddr("eps"), eps)
	one64 := XMM()
	t := GP64()
	MOVQ(U64(math.Float64bits(1)), t)
	VMOVQ(t, one64)
	r := GP64()
	XORQ(r, r)
	Label("lnrow")
	CMPQ(r, paramAddr("rows"))
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
	ret()
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
	CMPQ(r, paramAddr("rows"))
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
	ret()
}

func (s *isa) softmaxCausal() {
	s.text("softmaxCausal", "func(p, s *float32, rows, n int, scale float32, row0 int)",
		"is SoftmaxCausal's twin on rows×n: the softmax of scale·s over the",
		"first min(row0+r+1, n) columns of row r, zeros after.")
	pp, ps := Load(Param("p"), GP64()), Load(Param("s"), GP64())
	rows, n := Load(Param("rows"), GP64()), Load(Param("n"), GP64())
	row0 := Load(Param("row0"), GP64())
	sc := s.bcast(paramAddr("scale"))
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
	ret()
}

func (s *isa) softmaxBackward() {
	s.text("softmaxBackward", "func(ds, dp, p *float32, rows, n int, scale float32)",
		"sets ds = scale·p⊙(dp − ⟨dp,p⟩) for each n-wide row.")
	pds, pdp, pp := Load(Param("ds"), GP64()), Load(Param("dp"), GP64()), Load(Param("p"), GP64())
	rows, n := Load(Param("rows"), GP64()), Load(Param("n"), GP64())
	sc := s.bcast(paramAddr("scale"))
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
	ret()
}

func main() {
	ConstraintExpr("!purego")
	emitConsts()
	for _, s := range []*isa{isa512, isa256} {
		s.dropout()
		s.relu()
		s.reluBackward()
		s.gelu()
		s.geluBackward()
		s.adam()
		s.scale()
		s.sumSq()
		s.scaleAddRows()
		s.colSum()
		s.colDot()
		s.layerNormParamGrad()
		s.layerNorm()
		s.layerNormBackward()
		s.softmaxCausal()
		s.softmaxBackward()
		s.reluDropout()
		s.reluDropoutBackward()
		s.geluDropout()
		s.geluDropoutBackward()
		s.dropoutScaleAddRows()
		s.expv()
		s.ceStats()
		s.ceGrad()
	}
	Generate()
	if f := flag.Lookup("out"); f != nil {
		checkRegs(f.Value.String())
	}
}

// checkRegs fails if an AVX2 function uses a register only AVX-512 has
// (Y16-Y31, Z, K): the Go assembler would silently emit EVEX.
func checkRegs(path string) {
	if path == "" {
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		panic(err)
	}
	bad := regexp.MustCompile(`\b([XY](1[6-9]|2[0-9]|3[01])|Z[0-9]+|K[0-7])\b`)
	var fn string
	for _, line := range bytes.Split(b, []byte("\n")) {
		l := string(line)
		if strings.HasPrefix(l, "TEXT ") {
			fn = l
		}
		if strings.Contains(fn, "256(SB)") && bad.MatchString(l) {
			fmt.Fprintf(os.Stderr, "kernelgen: AVX2 function uses an AVX-512 register: %s\n\tin %s\n", l, fn)
			os.Exit(1)
		}
	}
}
