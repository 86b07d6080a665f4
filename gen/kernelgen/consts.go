package main

// The constant table kconst and the tail-mask tables.

import (
	"fmt"
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

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
