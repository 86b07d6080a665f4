package main

// Reductions: SumSq, and the column reductions dst[j] += Σ_r f(row r,
// column j), rows in order, one running sum per column held in a
// register (so the summation order is the twin's).

import (
	"github.com/clinic-ml/clinic/gen/internal/avoutil"
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

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
		avoutil.Ret()
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
	avoutil.Ret()
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
	avoutil.Ret()
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
	avoutil.Ret()
}
