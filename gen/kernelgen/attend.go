package main

// Single-query attention over cached rows (incremental decoding): one
// query against a run of key rows (DotRows), and a run of value rows
// weighted into an output row (AxpyRows). A GEMM call would transpose
// and pack the keys on every step for one query row.

import (
	"github.com/clinic-ml/clinic/gen/internal/avoutil"
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// dotRows keeps two accumulators of fused multiply-adds per row and
// adds their lanes as a tree: the twin's sequential sum within a
// reassociation's rounding.
func (s *isa) dotRows() {
	s.text("dotRows", "func(dst, q, k *float32, rows, stride, w int)",
		"sets dst[r] = Σ_j q[j]·k[r·stride+j], j < w, for r < rows.")
	dst, q, k := Load(Param("dst"), GP64()), Load(Param("q"), GP64()), Load(Param("k"), GP64())
	rows, stride, w := Load(Param("rows"), GP64()), Load(Param("stride"), GP64()), Load(Param("w"), GP64())
	str4 := GP64()
	MOVQ(stride, str4)
	SHLQ(U8(2), str4)
	Label("drrow")
	TESTQ(rows, rows)
	JZ(LabelRef("drdone"))
	cur := cursors(q, k)
	n := counter(w)
	out := s.reduceN("dr", n, cur, 1, 2, func(a acc, u int, sums [][]reg.VecVirtual) {
		x := a.ld(cur[0], u)
		y := a.ld(cur[1], u)
		VFMADD231PS(x, y, sums[0][u])
	})
	VMOVSS(out[0], Mem{Base: dst})
	ADDQ(U8(4), dst)
	ADDQ(str4, k)
	DECQ(rows)
	JMP(LabelRef("drrow"))
	Label("drdone")
	avoutil.Ret()
}

// axpyRows keeps one running sum per column down the rows, multiply
// then add (two roundings, as the twin), so it equals the twin bit for
// bit.
func (s *isa) axpyRows() {
	s.text("axpyRows", "func(o, p, v *float32, rows, stride, w int)",
		"adds Σ_r p[r]·v[r·stride+j] into o[j], j < w, rows in order.")
	o, p, v := Load(Param("o"), GP64()), Load(Param("p"), GP64()), Load(Param("v"), GP64())
	rows, stride, w := Load(Param("rows"), GP64()), Load(Param("stride"), GP64()), Load(Param("w"), GP64())
	sums := make([]reg.VecVirtual, 4)
	pr := s.vec()
	s.cols("ax", w, rows, stride, 1, []reg.Register{o, v},
		func(r reg.Register) { VBROADCASTSS(Mem{Base: p, Index: r, Scale: 4}, pr) },
		func(a acc, u int, c []reg.Register) { sums[u] = a.ld(c[0], u) },
		func(a acc, u int, c []reg.Register) { a.store(sums[u], c[0], u) },
		func(a acc, u int, c []reg.Register) {
			x := a.ld(c[1], u)
			VMULPS(pr, x, x)
			VADDPS(x, sums[u], sums[u])
		})
	avoutil.Ret()
}
