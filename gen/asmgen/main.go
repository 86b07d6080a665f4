// Command asmgen generates clinic's amd64 assembly kernels with avo.
//
// It is run by go generate in package asm:
//
//	go run ../gen/asmgen -out gemm_amd64.s
//
// The Go declarations of the generated functions are written by hand in
// asm/gemm_amd64.go; keep the signatures here and there in step.
package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// Microkernel shapes. They must match the constants in asm/gemm_amd64.go.
const (
	mr512 = 14 // rows of C per AVX-512 microkernel call (broadcasts)
	nr512 = 32 // columns: two zmm vectors
	mr256 = 6  // rows of C per AVX2 microkernel call
	nr256 = 16 // columns: two ymm vectors

	unroll = 4 // k steps per loop iteration

	// pfIters is how many loop iterations (of unroll k steps) before the
	// end the AVX-512 kernel prefetches its C tile.
	pfIters = 8

	// aPrefetch is how far ahead (bytes) the AVX-512 kernel prefetches
	// its A panel; 0 disables.
	aPrefetch = 0
)

func main() {
	ConstraintExpr("!purego")

	kernel512("sgemmKernel512", mr512)
	for mr := 1; mr < mr512; mr++ {
		kernel512(fmt.Sprintf("sgemmKernel512r%d", mr), mr)
	}
	for mr := 1; mr <= mr512; mr++ {
		kernelDirect512(fmt.Sprintf("sgemmDirect512c%d", mr), mr, false)
		kernelDirect512(fmt.Sprintf("sgemmDirect512r%d", mr), mr, true)
	}
	kernel256("sgemmKernel256", mr256)
	for mr := 1; mr < mr256; mr++ {
		kernel256(fmt.Sprintf("sgemmKernel256r%d", mr), mr)
	}
	transpose512()
	packRows512()
	peak512()
	peak256()

	Generate()
}

const kernelSig = "func(k int, a, b, c *float32, ldc int, alpha, beta float32, mr, nr int, accum bool)"

// kernelDoc documents the microkernel contract shared by both widths.
func kernelDoc(name string, mr, nr int) {
	Doc(
		fmt.Sprintf("%s computes the %d×%d block", name, mr, nr),
		"",
		"	acc[i][j] = Σ_{p<k} a[p*MR+i]·b[p*NR+j]  (p increasing, one FMA per p)",
		"",
		"from packed panels a (k×MR) and b (k×NR), and writes rows i < mr,",
		"columns j < nr of the row-major C at c (row stride ldc elements):",
		"C = alpha·acc if !accum, else C = alpha·acc + beta·C, rounded as",
		"fma(acc, alpha, beta·C). 1 ≤ mr ≤ MR, 1 ≤ nr ≤ NR.",
	)
}

// kernel512 is the AVX-512 microkernel: mr512 rows × 32 columns, 2·mr512
// zmm accumulators from Z0, B vectors in Z28/Z29, A broadcasts in
// Z30/Z31. Narrower variants (mr512 < 14, for the last rows of C) read a
// packed A panel of mr512 rows and do only their own FMAs.
func kernel512(name string, mr512 int) {
	TEXT(name, NOSPLIT, kernelSig)
	kernelDoc(name, mr512, nr512)

	acc := func(i, v int) reg.VecPhysical { return zmm(2*i + v) }
	b0, b1 := reg.Z28, reg.Z29
	bc := [2]reg.VecPhysical{reg.Z30, reg.Z31}

	k := Load(Param("k"), reg.RSI)
	pa := Load(Param("a"), reg.RAX)
	pb := Load(Param("b"), reg.RBX)
	pc := Load(Param("c"), reg.RDI)
	ldc := Load(Param("ldc"), reg.RDX)
	SHLQ(U8(2), ldc)

	t := reg.R8
	for i := 0; i < mr512; i++ {
		for v := 0; v < 2; v++ {
			VXORPS(acc(i, v), acc(i, v), acc(i, v))
		}
	}

	step := func(s int) {
		VMOVUPS(Mem{Base: pb, Disp: s * nr512 * 4}, b0)
		VMOVUPS(Mem{Base: pb, Disp: s*nr512*4 + 64}, b1)
		for i := 0; i < mr512; i++ {
			x := bc[i%2]
			VBROADCASTSS(Mem{Base: pa, Disp: (s*mr512 + i) * 4}, x)
			VFMADD231PS(b0, x, acc(i, 0))
			VFMADD231PS(b1, x, acc(i, 1))
		}
	}
	body := func(label string) {
		Label(label)
		for s := 0; s < unroll; s++ {
			if aPrefetch > 0 {
				// The A panel streams from L2: fetch a line ahead per step.
				PREFETCHT0(Mem{Base: pa, Disp: aPrefetch + s*64})
			}
			step(s)
		}
		ADDQ(U32(unroll*mr512*4), pa)
		ADDQ(U32(unroll*nr512*4), pb)
		DECQ(reg.RCX)
		JNZ(LabelRef(label))
	}

	Comment("Main loop in two parts: the C tile is prefetched before the")
	Comment("last pfIters iterations, late enough that it stays in L1.")
	n := reg.RCX
	MOVQ(k, n)
	SHRQ(U8(2), n)
	JZ(LabelRef("k512tail"))
	MOVQ(n, t)
	SUBQ(U8(pfIters), t)
	JLE(LabelRef("k512prefetch"))
	MOVQ(t, n)
	body("k512loop1")
	MOVQ(U32(pfIters), n)
	Label("k512prefetch")
	MOVQ(pc, t)
	for i := 0; i < mr512; i++ {
		PREFETCHT0(Mem{Base: t})
		PREFETCHT0(Mem{Base: t, Disp: 64})
		if i < mr512-1 {
			ADDQ(ldc, t)
		}
	}
	body("k512loop2")

	Label("k512tail")
	ANDQ(U8(unroll-1), k)
	JZ(LabelRef("k512store"))
	Label("k512tailloop")
	step(0)
	ADDQ(U8(mr512*4), pa)
	ADDQ(U32(nr512*4), pb)
	DECQ(k)
	JNZ(LabelRef("k512tailloop"))

	Label("k512store")
	Comment("Column masks K1 (columns 0-15) and K2 (16-31) from nr.")
	Load(Param("nr"), reg.RCX)
	MOVQ(U32(1), t)
	SHLQ(reg.CL, t)
	DECQ(t)
	KMOVW(t.As32(), reg.K1)
	SHRQ(U8(16), t)
	KMOVW(t.As32(), reg.K2)
	mr := Load(Param("mr"), reg.R9)
	alpha := b0
	VBROADCASTSS(paramAddr("alpha"), alpha)
	accum := Load(Param("accum"), reg.R10B)
	TESTB(accum, accum)
	JNZ(LabelRef("k512accum"))

	// Overwrite: C = alpha·acc.
	for i := 0; i < mr512; i++ {
		if i > 0 {
			CMPQ(mr, U8(i))
			JLE(LabelRef("k512done"))
			ADDQ(ldc, pc)
		}
		VMULPS(alpha, acc(i, 0), acc(i, 0))
		VMULPS(alpha, acc(i, 1), acc(i, 1))
		VMOVUPS(acc(i, 0), reg.K1, Mem{Base: pc})
		VMOVUPS(acc(i, 1), reg.K2, Mem{Base: pc, Disp: 64})
	}
	JMP(LabelRef("k512done"))

	// Accumulate: C = fma(acc, alpha, beta·C).
	Label("k512accum")
	beta := b1
	VBROADCASTSS(paramAddr("beta"), beta)
	for i := 0; i < mr512; i++ {
		if i > 0 {
			CMPQ(mr, U8(i))
			JLE(LabelRef("k512done"))
			ADDQ(ldc, pc)
		}
		for v := 0; v < 2; v++ {
			kr := reg.K1
			if v == 1 {
				kr = reg.K2
			}
			x := bc[v]
			VMOVUPS_Z(Mem{Base: pc, Disp: 64 * v}, kr, x)
			VMULPS(beta, x, x)
			VFMADD231PS(alpha, acc(i, v), x)
			VMOVUPS(x, kr, Mem{Base: pc, Disp: 64 * v})
		}
	}
	Label("k512done")
	VZEROUPPER()
	RET()
}

var maskTable Mem

// kernel256 is the AVX2 microkernel: mr256 rows × 16 columns, 2·mr256
// ymm accumulators from Y0, B vectors in Y12/Y13, A broadcasts in
// Y14/Y15. Column tails use VMASKMOVPS with masks from maskTable.
func kernel256(name string, mr256 int) {
	if maskTable.Symbol.Name == "" {
		// maskTable: 16 all-ones int32 lanes then 16 zero lanes; the mask
		// for columns [0,nr) of vector v starts at lane 16-nr+8v.
		maskTable = GLOBL("maskTable", RODATA|NOPTR)
		for i := 0; i < 32; i++ {
			v := uint32(0)
			if i < 16 {
				v = 0xffffffff
			}
			DATA(4*i, U32(v))
		}
	}
	tbl := maskTable

	TEXT(name, NOSPLIT, kernelSig)
	kernelDoc(name, mr256, nr256)

	acc := func(i, v int) reg.VecPhysical { return ymm(2*i + v) }
	b0, b1 := reg.Y12, reg.Y13
	bc := [2]reg.VecPhysical{reg.Y14, reg.Y15}

	k := Load(Param("k"), reg.RSI)
	pa := Load(Param("a"), reg.RAX)
	pb := Load(Param("b"), reg.RBX)
	pc := Load(Param("c"), reg.RDI)
	ldc := Load(Param("ldc"), reg.RDX)
	SHLQ(U8(2), ldc)

	Comment("Prefetch the C tile and zero the accumulators.")
	t := reg.R8
	MOVQ(pc, t)
	for i := 0; i < mr256; i++ {
		PREFETCHT0(Mem{Base: t})
		PREFETCHT0(Mem{Base: t, Disp: 60})
		if i < mr256-1 {
			ADDQ(ldc, t)
		}
	}
	for i := 0; i < mr256; i++ {
		for v := 0; v < 2; v++ {
			VXORPS(acc(i, v), acc(i, v), acc(i, v))
		}
	}

	step := func(s int) {
		VMOVUPS(Mem{Base: pb, Disp: s * nr256 * 4}, b0)
		VMOVUPS(Mem{Base: pb, Disp: s*nr256*4 + 32}, b1)
		for i := 0; i < mr256; i++ {
			x := bc[i%2]
			VBROADCASTSS(Mem{Base: pa, Disp: (s*mr256 + i) * 4}, x)
			VFMADD231PS(b0, x, acc(i, 0))
			VFMADD231PS(b1, x, acc(i, 1))
		}
	}

	n := reg.RCX
	MOVQ(k, n)
	SHRQ(U8(2), n)
	JZ(LabelRef("k256tail"))
	Label("k256loop")
	for s := 0; s < unroll; s++ {
		step(s)
	}
	ADDQ(U32(unroll*mr256*4), pa)
	ADDQ(U32(unroll*nr256*4), pb)
	DECQ(n)
	JNZ(LabelRef("k256loop"))

	Label("k256tail")
	ANDQ(U8(unroll-1), k)
	JZ(LabelRef("k256store"))
	Label("k256tailloop")
	step(0)
	ADDQ(U8(mr256*4), pa)
	ADDQ(U8(nr256*4), pb)
	DECQ(k)
	JNZ(LabelRef("k256tailloop"))

	Label("k256store")
	Comment("Column masks Y12 (columns 0-7) and Y13 (8-15) from nr.")
	nr := Load(Param("nr"), reg.RCX)
	LEAQ(tbl, t)
	NEGQ(nr)
	LEAQ(Mem{Base: t, Index: nr, Scale: 4, Disp: 64}, t)
	m0, m1 := b0, b1
	VMOVUPS(Mem{Base: t}, m0)
	VMOVUPS(Mem{Base: t, Disp: 32}, m1)
	mr := Load(Param("mr"), reg.R9)
	alpha, beta := bc[0], bc[1]
	VBROADCASTSS(paramAddr("alpha"), alpha)
	VBROADCASTSS(paramAddr("beta"), beta)
	accum := Load(Param("accum"), reg.R10B)
	TESTB(accum, accum)
	JNZ(LabelRef("k256accum"))

	for i := 0; i < mr256; i++ {
		if i > 0 {
			CMPQ(mr, U8(i))
			JLE(LabelRef("k256done"))
			ADDQ(ldc, pc)
		}
		VMULPS(alpha, acc(i, 0), acc(i, 0))
		VMULPS(alpha, acc(i, 1), acc(i, 1))
		VMASKMOVPS(acc(i, 0), m0, Mem{Base: pc})
		VMASKMOVPS(acc(i, 1), m1, Mem{Base: pc, Disp: 32})
	}
	JMP(LabelRef("k256done"))

	// Accumulate: C = fma(acc, alpha, beta·C). All 16 ymm registers are
	// live, so columns 0-7 of every row go first with Y13 as scratch, then
	// the second mask replaces the first and columns 8-15 follow.
	Label("k256accum")
	for v := 0; v < 2; v++ {
		if v == 1 {
			VMOVUPS(Mem{Base: t, Disp: 32}, m0)
			Load(Param("c"), pc)
		}
		for i := 0; i < mr256; i++ {
			if i > 0 {
				CMPQ(mr, U8(i))
				JLE(LabelRef(fmt.Sprintf("k256accum%d", v)))
				ADDQ(ldc, pc)
			}
			x := reg.Y13
			VMASKMOVPS(Mem{Base: pc, Disp: 32 * v}, m0, x)
			VMULPS(beta, x, x)
			VFMADD231PS(alpha, acc(i, v), x)
			VMASKMOVPS(x, m0, Mem{Base: pc, Disp: 32 * v})
		}
		Label(fmt.Sprintf("k256accum%d", v))
	}
	Label("k256done")
	VZEROUPPER()
	RET()
}

func zmm(i int) reg.VecPhysical { return reg.VecPhysical(zmms[i]) }
func ymm(i int) reg.VecPhysical { return reg.VecPhysical(ymms[i]) }

var zmms = []reg.VecPhysical{reg.Z0, reg.Z1, reg.Z2, reg.Z3, reg.Z4, reg.Z5, reg.Z6, reg.Z7, reg.Z8, reg.Z9, reg.Z10, reg.Z11, reg.Z12, reg.Z13, reg.Z14, reg.Z15, reg.Z16, reg.Z17, reg.Z18, reg.Z19, reg.Z20, reg.Z21, reg.Z22, reg.Z23, reg.Z24, reg.Z25, reg.Z26, reg.Z27, reg.Z28, reg.Z29, reg.Z30, reg.Z31}
var ymms = []reg.VecPhysical{reg.Y0, reg.Y1, reg.Y2, reg.Y3, reg.Y4, reg.Y5, reg.Y6, reg.Y7, reg.Y8, reg.Y9, reg.Y10, reg.Y11, reg.Y12, reg.Y13, reg.Y14, reg.Y15}

func paramAddr(name string) Mem {
	b, err := Param(name).Resolve()
	if err != nil {
		panic(err)
	}
	return b.Addr
}

// peak512 is the AVX-512 FMA throughput probe: n iterations of 24
// independent vfmadd231ps zmm chains (2 ports × 4 cycles latency needs 8).
func peak512() {
	TEXT("peakFMA512", NOSPLIT, "func(n int)")
	Doc("peakFMA512 runs n×24 independent zmm FMAs (n×768 flops).")
	n := Load(Param("n"), reg.RCX)
	for i := 0; i < 24; i++ {
		VXORPS(zmm(i), zmm(i), zmm(i))
	}
	VXORPS(reg.Z30, reg.Z30, reg.Z30)
	VXORPS(reg.Z31, reg.Z31, reg.Z31)
	TESTQ(n, n)
	JLE(LabelRef("p512done"))
	Label("p512loop")
	for i := 0; i < 24; i++ {
		VFMADD231PS(reg.Z30, reg.Z31, zmm(i))
	}
	DECQ(n)
	JNZ(LabelRef("p512loop"))
	Label("p512done")
	VZEROUPPER()
	RET()
}

// peak256 is the AVX2 probe: n iterations of 12 independent ymm chains.
func peak256() {
	TEXT("peakFMA256", NOSPLIT, "func(n int)")
	Doc("peakFMA256 runs n×12 independent ymm FMAs (n×192 flops).")
	n := Load(Param("n"), reg.RCX)
	for i := 0; i < 16; i++ {
		VXORPS(ymm(i), ymm(i), ymm(i))
	}
	TESTQ(n, n)
	JLE(LabelRef("p256done"))
	Label("p256loop")
	for i := 0; i < 12; i++ {
		VFMADD231PS(reg.Y14, reg.Y15, ymm(i))
	}
	DECQ(n)
	JNZ(LabelRef("p256loop"))
	Label("p256done")
	VZEROUPPER()
	RET()
}

// transpose512 generates the AVX-512 transposing packer
//
//	dst[p*dstStride + r] = src[r*ld + p]   for p < kc, r < rows
//	dst[p*dstStride + r] = 0               for rows ≤ r < lanes
//
// 16 columns of src at a time: 16 row loads (rows ≥ rows are zero), an
// in-register 16×16 transpose (unpcklps/hps, unpcklpd/hpd, two rounds of
// shuff32x4: 64 shuffles), and 16 stores of the first lanes lanes.
// Lines of src are read whole, so large power-of-two strides do not
// thrash L1 as a gather would.
func transpose512() {
	TEXT("transposePack512", NOSPLIT, "func(dst, src *float32, ld, kc, dstStride, rows, lanes int)")
	Doc(
		"transposePack512 sets dst[p*dstStride+r] = src[r*ld+p] for p < kc,",
		"r < rows, and to 0 for rows ≤ r < lanes; rows ≤ lanes ≤ 16.",
	)
	d := Load(Param("dst"), reg.RDI)
	s := Load(Param("src"), reg.RSI)
	ld := Load(Param("ld"), reg.RDX)
	SHLQ(U8(2), ld)
	stride := Load(Param("dstStride"), reg.R8)
	SHLQ(U8(2), stride)
	rows := Load(Param("rows"), reg.R9)
	t := reg.RAX

	Comment("K3: store lanes; K4: columns of the final partial block.")
	Load(Param("lanes"), reg.RCX)
	MOVQ(U32(1), t)
	SHLQ(reg.CL, t)
	DECQ(t)
	KMOVW(t.As32(), reg.K3)
	n := Load(Param("kc"), reg.R10)
	tail := reg.R11
	MOVQ(n, tail)
	ANDQ(U8(15), tail)
	MOVQ(tail, reg.RCX)
	MOVQ(U32(1), t)
	SHLQ(reg.CL, t)
	DECQ(t)
	KMOVW(t.As32(), reg.K4)
	SHRQ(U8(4), n)
	JZ(LabelRef("tptail"))

	Label("tploop")
	transposeBlock("tpf", true, d, s, ld, stride, rows, tail, t)
	ADDQ(U8(64), s)
	DECQ(n)
	JNZ(LabelRef("tploop"))

	Label("tptail")
	TESTQ(tail, tail)
	JZ(LabelRef("tpdone"))
	transposeBlock("tpt", false, d, s, ld, stride, rows, tail, t)
	Label("tpdone")
	VZEROUPPER()
	RET()
}

// transposeBlock emits one 16-column block of transposePack512. A
// partial block loads columns under K4 and stores only tail outputs.
func transposeBlock(pfx string, full bool, d, s, ld, stride, rows, tail, t reg.Register) {
	for i := 0; i < 16; i++ {
		VPXORD(zmm(i), zmm(i), zmm(i))
	}
	MOVQ(s, t)
	loaded := pfx + "loaded"
	for r := 0; r < 16; r++ {
		if r > 0 {
			CMPQ(rows, U8(r))
			JLE(LabelRef(loaded))
			ADDQ(ld, t)
		} else {
			TESTQ(rows, rows)
			JZ(LabelRef(loaded))
		}
		if full {
			VMOVUPS(Mem{Base: t}, zmm(r))
		} else {
			VMOVUPS_Z(Mem{Base: t}, reg.K4, zmm(r))
		}
	}
	Label(loaded)
	// Stage 1: interleave row pairs (i, i+1) within 128-bit lanes.
	for i := 0; i < 16; i += 2 {
		VUNPCKLPS(zmm(i+1), zmm(i), zmm(16+i))
		VUNPCKHPS(zmm(i+1), zmm(i), zmm(16+i+1))
	}
	// Stage 2: 64-bit interleave; Z(4g+c) lane L = rows 4g..4g+3 of
	// column 4L+c.
	for i := 0; i < 16; i += 4 {
		VUNPCKLPD(zmm(16+i+2), zmm(16+i), zmm(i))
		VUNPCKHPD(zmm(16+i+2), zmm(16+i), zmm(i+1))
		VUNPCKLPD(zmm(16+i+3), zmm(16+i+1), zmm(i+2))
		VUNPCKHPD(zmm(16+i+3), zmm(16+i+1), zmm(i+3))
	}
	// Stages 3-4: 4×4 transpose of 128-bit lanes across row groups, so
	// Z(4L+c) holds column 4L+c, rows 0..15.
	shuf := func(a, b reg.VecPhysical, imm uint8, dst reg.VecPhysical) { VSHUFF32X4(U8(imm), b, a, dst) }
	for c := 0; c < 4; c++ {
		x := func(g int) reg.VecPhysical { return zmm(4*g + c) }
		y := func(g int) reg.VecPhysical { return zmm(16 + 4*c + g) }
		shuf(x(0), x(1), 0x44, y(0))
		shuf(x(0), x(1), 0xee, y(1))
		shuf(x(2), x(3), 0x44, y(2))
		shuf(x(2), x(3), 0xee, y(3))
	}
	for c := 0; c < 4; c++ {
		y := func(g int) reg.VecPhysical { return zmm(16 + 4*c + g) }
		shuf(y(0), y(2), 0x88, zmm(c))
		shuf(y(0), y(2), 0xdd, zmm(4+c))
		shuf(y(1), y(3), 0x88, zmm(8+c))
		shuf(y(1), y(3), 0xdd, zmm(12+c))
	}
	stored := pfx + "stored"
	for j := 0; j < 16; j++ {
		if !full && j > 0 {
			CMPQ(tail, U8(j))
			JLE(LabelRef(stored))
		}
		VMOVUPS(zmm(j), reg.K3, Mem{Base: d})
		ADDQ(stride, d)
	}
	if !full {
		Label(stored)
	}
}

// packRows512 generates the AVX-512 row-dealing packer
//
//	for p < kc, q < nfull·w + tail:
//	    dst[p*w + (q/w)*panel + q%w] = src[p*ld + q]
//
// with the last, partial panel (tail columns, 0 < tail < w) zero-padded
// to w. Each row of src is copied w floats at a time (one or two masked
// zmm loads and stores), so op(A) = Aᵀ and op(B) = B pack at vector
// speed. 1 ≤ w ≤ 32.
func packRows512() {
	TEXT("packRows512", NOSPLIT, "func(dst, src *float32, ld, kc, nfull, tail, w, panel int)")
	Doc(
		"packRows512 deals kc rows of src (row stride ld) into panels of w",
		"columns: dst[p*w + (q/w)*panel + q%w] = src[p*ld + q] for p < kc and",
		"q < nfull*w + tail, zero-padding the last panel when tail > 0.",
		"1 ≤ w ≤ 32, 0 ≤ tail < w.",
	)
	d := Load(Param("dst"), reg.RDI)
	s := Load(Param("src"), reg.RSI)
	ld := Load(Param("ld"), reg.RDX)
	SHLQ(U8(2), ld)
	kc := Load(Param("kc"), reg.R8)
	nfull := Load(Param("nfull"), reg.R9)
	panel := Load(Param("panel"), reg.R10)
	SHLQ(U8(2), panel)
	w := Load(Param("w"), reg.R11)
	t := reg.RAX
	mask := func(lanes reg.Register, lo, hi reg.Register) {
		MOVQ(lanes, reg.RCX)
		MOVQ(U32(1), t)
		SHLQ(reg.CL, t)
		DECQ(t)
		KMOVW(t.As32(), lo)
		SHRQ(U8(16), t)
		KMOVW(t.As32(), hi)
	}
	Comment("K1/K2: the w lanes of a panel row; K3/K4: the tail columns.")
	mask(w, reg.K1, reg.K2)
	tail := Load(Param("tail"), reg.RBX)
	mask(tail, reg.K3, reg.K4)
	wb := reg.R12 // w in bytes: the step along a source row
	MOVQ(w, wb)
	SHLQ(U8(2), wb)
	TESTQ(kc, kc)
	JLE(LabelRef("prdone"))
	ps, pd, j := reg.RAX, reg.RCX, reg.R13 // the mask scratch registers are free now
	Comment("w ≤ 16: one vector per panel row.")
	CMPQ(w, U8(16))
	JG(LabelRef("prrow2"))
	rowLoop := func(pfx string, two bool) {
		Label(pfx)
		MOVQ(s, ps)
		MOVQ(d, pd)
		MOVQ(nfull, j)
		TESTQ(j, j)
		JZ(LabelRef(pfx + "tail"))
		Label(pfx + "panel")
		VMOVUPS_Z(Mem{Base: ps}, reg.K1, reg.Z0)
		if two {
			VMOVUPS_Z(Mem{Base: ps, Disp: 64}, reg.K2, reg.Z1)
		}
		VMOVUPS(reg.Z0, reg.K1, Mem{Base: pd})
		if two {
			VMOVUPS(reg.Z1, reg.K2, Mem{Base: pd, Disp: 64})
		}
		ADDQ(wb, ps)
		ADDQ(panel, pd)
		DECQ(j)
		JNZ(LabelRef(pfx + "panel"))
		Label(pfx + "tail")
		TESTQ(tail, tail)
		JZ(LabelRef(pfx + "next"))
		VMOVUPS_Z(Mem{Base: ps}, reg.K3, reg.Z0)
		VMOVUPS(reg.Z0, reg.K1, Mem{Base: pd})
		if two {
			VMOVUPS_Z(Mem{Base: ps, Disp: 64}, reg.K4, reg.Z1)
			VMOVUPS(reg.Z1, reg.K2, Mem{Base: pd, Disp: 64})
		}
		Label(pfx + "next")
		ADDQ(ld, s)
		ADDQ(wb, d)
		DECQ(kc)
		JNZ(LabelRef(pfx))
	}
	rowLoop("prrow1", false)
	JMP(LabelRef("prdone"))
	rowLoop("prrow2", true)
	Label("prdone")
	VZEROUPPER()
	RET()
}

const directSig = "func(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, mr, nr int, accum bool)"

// kernelDirect512 is kernel512 reading A in place instead of from a packed
// panel: element (i, p) of the mr512×k block is a[p*lda+i] (cols: op(A)
// = Aᵀ) or a[i*lda+p] (rows: op(A) = A), and row p of the B panel is the
// 32 floats at b + p*ldb. It is the same FMA sequence as kernel512, so
// results are bit-identical to the packed path's.
func kernelDirect512(name string, mr512 int, rows bool) {
	TEXT(name, NOSPLIT, directSig)
	mode := "a[p*lda+i] (op(A) = Aᵀ in place)"
	if rows {
		mode = "a[i*lda+p] (op(A) = A in place)"
	}
	Doc(
		fmt.Sprintf("%s computes the %d×%d block", name, mr512, nr512),
		"",
		"	acc[i][j] = Σ_{p<k} A(i,p)·b[p*ldb+j]  (p increasing, one FMA per p)",
		"",
		"with A(i,p) = "+mode+", and writes rows i < mr,",
		"columns j < nr of the row-major C at c as sgemmKernel512 does.",
	)
	acc := func(i, v int) reg.VecPhysical { return zmm(2*i + v) }
	b0, b1 := reg.Z28, reg.Z29
	bc := [2]reg.VecPhysical{reg.Z30, reg.Z31}

	k := Load(Param("k"), reg.RSI)
	pa := Load(Param("a"), reg.RAX)
	lda := Load(Param("lda"), reg.R10)
	SHLQ(U8(2), lda)
	lda3 := reg.R11
	LEAQ(Mem{Base: lda, Index: lda, Scale: 2}, lda3)
	lda5 := reg.R12
	pa7 := reg.R9
	if rows {
		LEAQ(Mem{Base: lda, Index: lda, Scale: 4}, lda5)
		// pa7 = pa + 7·lda
		LEAQ(Mem{Base: pa, Index: lda3, Scale: 2}, pa7)
		ADDQ(lda, pa7)
	}
	pb := Load(Param("b"), reg.RBX)
	sb := Load(Param("ldb"), reg.R13)
	SHLQ(U8(2), sb)
	sb3 := reg.RDX
	LEAQ(Mem{Base: sb, Index: sb, Scale: 2}, sb3)
	pc := Load(Param("c"), reg.RDI)
	t := reg.R8
	n := reg.RCX

	for i := 0; i < mr512; i++ {
		for v := 0; v < 2; v++ {
			VXORPS(acc(i, v), acc(i, v), acc(i, v))
		}
	}
	// Addresses of step s (0 ≤ s < 4) of the current iteration.
	bAddr := func(s, v int) Mem {
		m := Mem{Base: pb, Disp: 64 * v}
		switch s {
		case 1:
			m.Index, m.Scale = sb, 1
		case 2:
			m.Index, m.Scale = sb, 2
		case 3:
			m.Index, m.Scale = sb3, 1
		}
		return m
	}
	aAddr := func(s, i int) Mem {
		if !rows {
			m := Mem{Base: pa, Disp: 4 * i}
			switch s {
			case 1:
				m.Index, m.Scale = lda, 1
			case 2:
				m.Index, m.Scale = lda, 2
			case 3:
				m.Index, m.Scale = lda3, 1
			}
			return m
		}
		m := Mem{Base: pa, Disp: 4 * s}
		r := i
		if i >= 7 {
			m.Base, r = pa7, i-7
		}
		switch r {
		case 1:
			m.Index, m.Scale = lda, 1
		case 2:
			m.Index, m.Scale = lda, 2
		case 3:
			m.Index, m.Scale = lda3, 1
		case 4:
			m.Index, m.Scale = lda, 4
		case 5:
			m.Index, m.Scale = lda5, 1
		case 6:
			m.Index, m.Scale = lda3, 2
		}
		return m
	}
	step := func(s int) {
		VMOVUPS(bAddr(s, 0), b0)
		VMOVUPS(bAddr(s, 1), b1)
		for i := 0; i < mr512; i++ {
			x := bc[i%2]
			VBROADCASTSS(aAddr(s, i), x)
			VFMADD231PS(b0, x, acc(i, 0))
			VFMADD231PS(b1, x, acc(i, 1))
		}
	}
	advance := func(steps int) {
		if rows {
			ADDQ(U8(4*steps), pa)
			if mr512 > 7 {
				ADDQ(U8(4*steps), pa7)
			}
		} else if steps == 4 {
			LEAQ(Mem{Base: pa, Index: lda, Scale: 4}, pa)
		} else {
			ADDQ(lda, pa)
		}
		if steps == 4 {
			LEAQ(Mem{Base: pb, Index: sb, Scale: 4}, pb)
		} else {
			ADDQ(sb, pb)
		}
	}
	body := func(label string) {
		Label(label)
		for s := 0; s < unroll; s++ {
			step(s)
		}
		advance(unroll)
		DECQ(n)
		JNZ(LabelRef(label))
	}

	Comment("Main loop in two parts, the C tile prefetched in between.")
	MOVQ(k, n)
	SHRQ(U8(2), n)
	JZ(LabelRef("kdtail"))
	MOVQ(n, t)
	SUBQ(U8(pfIters), t)
	JLE(LabelRef("kdprefetch"))
	MOVQ(t, n)
	body("kdloop1")
	MOVQ(U32(pfIters), n)
	Label("kdprefetch")
	Load(Param("ldc"), t)
	SHLQ(U8(2), t)
	for i := 0; i < mr512; i++ {
		PREFETCHT0(Mem{Base: pc})
		PREFETCHT0(Mem{Base: pc, Disp: 64})
		if i < mr512-1 {
			ADDQ(t, pc)
		}
	}
	Load(Param("c"), pc)
	body("kdloop2")

	Label("kdtail")
	ANDQ(U8(unroll-1), k)
	JZ(LabelRef("kdstore"))
	Label("kdtailloop")
	step(0)
	advance(1)
	DECQ(k)
	JNZ(LabelRef("kdtailloop"))

	Label("kdstore")
	ldc := Load(Param("ldc"), reg.RDX)
	SHLQ(U8(2), ldc)
	Load(Param("nr"), reg.RCX)
	MOVQ(U32(1), t)
	SHLQ(reg.CL, t)
	DECQ(t)
	KMOVW(t.As32(), reg.K1)
	SHRQ(U8(16), t)
	KMOVW(t.As32(), reg.K2)
	mr := Load(Param("mr"), reg.R9)
	alpha := b0
	VBROADCASTSS(paramAddr("alpha"), alpha)
	accum := Load(Param("accum"), reg.R10B)
	TESTB(accum, accum)
	JNZ(LabelRef("kdaccum"))
	for i := 0; i < mr512; i++ {
		if i > 0 {
			CMPQ(mr, U8(i))
			JLE(LabelRef("kddone"))
			ADDQ(ldc, pc)
		}
		VMULPS(alpha, acc(i, 0), acc(i, 0))
		VMULPS(alpha, acc(i, 1), acc(i, 1))
		VMOVUPS(acc(i, 0), reg.K1, Mem{Base: pc})
		VMOVUPS(acc(i, 1), reg.K2, Mem{Base: pc, Disp: 64})
	}
	JMP(LabelRef("kddone"))
	Label("kdaccum")
	beta := b1
	VBROADCASTSS(paramAddr("beta"), beta)
	for i := 0; i < mr512; i++ {
		if i > 0 {
			CMPQ(mr, U8(i))
			JLE(LabelRef("kddone"))
			ADDQ(ldc, pc)
		}
		for v := 0; v < 2; v++ {
			kr := reg.K1
			if v == 1 {
				kr = reg.K2
			}
			x := bc[v]
			VMOVUPS_Z(Mem{Base: pc, Disp: 64 * v}, kr, x)
			VMULPS(beta, x, x)
			VFMADD231PS(alpha, acc(i, v), x)
			VMOVUPS(x, kr, Mem{Base: pc, Disp: 64 * v})
		}
	}
	Label("kddone")
	VZEROUPPER()
	RET()
}
