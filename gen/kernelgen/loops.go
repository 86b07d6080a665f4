package main

// Loop skeletons: over n elements, over rows, over column blocks, and
// simultaneous reductions.

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

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
