// Command bf16gen generates clinic's AVX512-BF16 GEMM microkernels with
// avo: C (fp32) += A·B over bf16 pairs with VDPBF16PS, and its
// throughput probe.
//
// It is run by go generate in package asm (see asm/bf16.go):
//
//	go run -C ../gen ./bf16gen -pkg asm -out ../asm/bf16_amd64.s -stubs ../asm/bf16_stubs_amd64.go
//
// Neither avo nor the Go assembler knows VDPBF16PS. The kernels are
// written with VPDPBUSD in its place, an AVX512-VNNI instruction with
// the same operand form (EVEX.512.0F38.W0, zmm, zmm, zmm), whose
// registers avo allocates and checks; after avo has written the file,
// every VPDPBUSD line is replaced by the bytes of the VDPBF16PS with the
// same registers (evex.go), the instruction named in a comment. The
// kernels use no real VPDPBUSD.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/clinic-ml/clinic/gen/internal/avoutil"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// Microkernel shape: as the fp32 AVX-512 kernel's (14 broadcasts × two
// zmm of columns), each k step a pair of bf16 values. rowBytes is the
// row stride of op(A)'s row layout: bf16KC pairs (asm/bf16.go), fixed so
// that the row kernels address their rows with constant displacements.
const (
	mr       = 14
	nr       = 32
	rowBytes = 256 * 4
)

const kernelSig = "func(kp int, a, b *uint32, c *float32, ldc int, alpha, beta float32, mr, nr int, accum bool)"

func main() {
	ConstraintExpr("!purego")
	kernel("sbgemmKernel512", mr)
	for r := 1; r < mr; r++ {
		kernel(fmt.Sprintf("sbgemmKernel512r%d", r), r)
	}
	for r := 1; r <= mr; r++ {
		kernelRows(fmt.Sprintf("sbgemmRows512r%d", r), r)
	}
	packRows()
	packPairs()
	peak()
	Generate()
	out := flag.Lookup("out").Value.String()
	if err := substitute(out); err != nil {
		fmt.Fprintln(os.Stderr, "bf16gen:", err)
		os.Exit(1)
	}
}

// kernel is the microkernel for rows rows (1 ≤ rows ≤ mr): 2·rows zmm
// accumulators from Z0, B pairs in Z28/Z29, A pair broadcasts in
// Z30/Z31.
func kernel(name string, rows int) {
	TEXT(name, NOSPLIT, kernelSig)
	Pragma("noescape")
	Doc(
		fmt.Sprintf("%s computes the %d×%d block", name, rows, nr),
		"",
		"	acc[i][j] = Σ_{p<kp} hi(a[p*MR+i])·hi(b[p*NR+j]) + lo(a[p*MR+i])·lo(b[p*NR+j])",
		"",
		"(VDPBF16PS: each uint32 holds two bf16, lo the even k index; per p the",
		"hi product is added, then the lo product, each rounded, denormals",
		"flushed) from packed panels a (kp×MR) and b (kp×NR), and writes rows",
		"i < mr, columns j < nr of the row-major C at c (row stride ldc):",
		"C = alpha·acc if !accum, else C = fma(acc, alpha, beta·C).",
	)
	tl := avoutil.NewTile512("kp", rows)
	acc, b0, b1, bc, pa, pb := tl.Acc, tl.B0, tl.B1, tl.Bc, tl.PA, tl.PB
	prefetchC(tl)
	step := func(s int) {
		VMOVUPS(Mem{Base: pb, Disp: s * nr * 4}, b0)
		VMOVUPS(Mem{Base: pb, Disp: s*nr*4 + 64}, b1)
		for i := 0; i < rows; i++ {
			x := bc[i%2]
			VPBROADCASTD(Mem{Base: pa, Disp: (s*rows + i) * 4}, x)
			VPDPBUSD(b0, x, acc(i, 0)) // VDPBF16PS
			VPDPBUSD(b1, x, acc(i, 1)) // VDPBF16PS
		}
	}
	avoutil.KLoop("bf", tl.K, pa, pb, rows*4, nr*4, step)
	Comment("Column masks K1 (columns 0-15) and K2 (16-31) from nr.")
	tl.Store("bf")
}

// prefetchC asks for the C tile's lines before the k loop:
// a bf16 kernel call does half the cycles of an fp32 one over the same
// tile, so C's misses, hidden by nothing else, would cost a fifth of a
// call on the step's shapes (k = 256: 128 pairs).
func prefetchC(tl *avoutil.Tile512) {
	MOVQ(tl.PC, tl.T)
	for i := 0; i < tl.Rows; i++ {
		if i > 0 {
			ADDQ(tl.LDC, tl.T)
		}
		PREFETCHT0(Mem{Base: tl.T})
		PREFETCHT0(Mem{Base: tl.T, Disp: 64})
	}
}

// kernelRows is the microkernel for rows rows of op(A)'s row layout:
// row i's pair p at a + i·rowBytes + 4p. As kernel otherwise.
func kernelRows(name string, rows int) {
	TEXT(name, NOSPLIT, kernelSig)
	Pragma("noescape")
	Doc(
		fmt.Sprintf("%s computes the %d×%d block", name, rows, nr),
		"",
		fmt.Sprintf("	acc[i][j] = Σ_{p<kp} hi(a[i*%d+p])·hi(b[p*NR+j]) + lo(a[i*%d+p])·lo(b[p*NR+j])", rowBytes/4, rowBytes/4),
		"",
		"as sbgemmKernel512 does, from op(A)'s rows in the row layout (a row",
		fmt.Sprintf("every %d pairs) and a packed B panel, and writes C as it does.", rowBytes/4),
	)
	tl := avoutil.NewTile512("kp", rows)
	acc, b0, b1, bc, pa, pb := tl.Acc, tl.B0, tl.B1, tl.Bc, tl.PA, tl.PB
	prefetchC(tl)
	step := func(s int) {
		VMOVUPS(Mem{Base: pb, Disp: s * nr * 4}, b0)
		VMOVUPS(Mem{Base: pb, Disp: s*nr*4 + 64}, b1)
		for i := 0; i < rows; i++ {
			x := bc[i%2]
			VPBROADCASTD(Mem{Base: pa, Disp: i*rowBytes + s*4}, x)
			VPDPBUSD(b0, x, acc(i, 0)) // VDPBF16PS
			VPDPBUSD(b1, x, acc(i, 1)) // VDPBF16PS
		}
	}
	avoutil.KLoop("br", tl.K, pa, pb, 4, nr*4, step)
	tl.Store("br")
}

// cvt2 is VCVTNE2PS2BF16: lo's 16 values rounded to the low 16 bf16 of
// dst, hi's to the high 16; as uint32, pairs (lo[2q], lo[2q+1]) in order
// when lo and hi are 32 consecutive values.
func cvt2(lo, hi, dst reg.VecPhysical) {
	VPDPWSSD(lo, hi, dst) // VCVTNE2PS2BF16
}

// packRows converts rows of values to bf16 pairs (packRowsGo's twin).
func packRows() {
	TEXT("bf16PackRows512", NOSPLIT, "func(dst *uint32, src *float32, ld, rows, n, dstStride int)")
	Pragma("noescape")
	Doc(
		"bf16PackRows512 converts rows rows of n values (src, row stride ld",
		"values) to bf16 pairs, row r's at dst + r·dstStride, pair q =",
		"(src[2q], src[2q+1]) rounded to nearest even (VCVTNE2PS2BF16), the odd",
		"last value paired with 0. rows ≥ 1, n ≥ 1.",
	)
	dst := Load(Param("dst"), reg.RDI)
	src := Load(Param("src"), reg.RSI)
	ld := Load(Param("ld"), reg.R8)
	SHLQ(U8(2), ld)
	rows := Load(Param("rows"), reg.R9)
	n := Load(Param("n"), reg.R10)
	ds := Load(Param("dstStride"), reg.R12)
	SHLQ(U8(2), ds)
	t := reg.R13
	Comment("Tail masks: K1/K2 the n%32 values left, K3 their pairs.")
	MOVQ(n, reg.R11)
	ANDQ(U8(31), reg.R11)
	avoutil.LaneMasks(reg.R11, t, reg.K1, reg.K2)
	ADDQ(U8(1), reg.R11)
	SHRQ(U8(1), reg.R11)
	avoutil.LaneMasks(reg.R11, t, reg.K3, reg.K4)
	SHRQ(U8(5), n)
	sp, dp, c := reg.RAX, reg.RBX, reg.RDX
	Label("prow")
	MOVQ(src, sp)
	MOVQ(dst, dp)
	MOVQ(n, c)
	TESTQ(c, c)
	JZ(LabelRef("ptail"))
	Label("pchunk")
	VMOVUPS(Mem{Base: sp}, reg.Z0)
	VMOVUPS(Mem{Base: sp, Disp: 64}, reg.Z1)
	cvt2(reg.Z0, reg.Z1, reg.Z2)
	VMOVDQU32(reg.Z2, Mem{Base: dp})
	ADDQ(U32(128), sp)
	ADDQ(U8(64), dp)
	DECQ(c)
	JNZ(LabelRef("pchunk"))
	Label("ptail")
	KORTESTW(reg.K1, reg.K1)
	JZ(LabelRef("pnext"))
	VMOVUPS_Z(Mem{Base: sp}, reg.K1, reg.Z0)
	VMOVUPS_Z(Mem{Base: sp, Disp: 64}, reg.K2, reg.Z1)
	cvt2(reg.Z0, reg.Z1, reg.Z2)
	VMOVDQU32(reg.Z2, reg.K3, Mem{Base: dp})
	Label("pnext")
	ADDQ(ld, src)
	ADDQ(ds, dst)
	DECQ(rows)
	JNZ(LabelRef("prow"))
	avoutil.Ret()
}

// packPairs interleaves pairs of rows into bf16 pairs (packPairsGo's
// twin).
func packPairs() {
	idx := GLOBL("bf16PairIdx", RODATA|NOPTR)
	for j := 0; j < 16; j++ {
		DATA(4*j, U16(j))
		DATA(4*j+2, U16(16+j))
	}
	TEXT("bf16PackPairs512", NOSPLIT, "func(dst *uint32, src *float32, ld, np, cols, width int, odd bool)")
	Pragma("noescape")
	Doc(
		"bf16PackPairs512 writes dst[p·width+x] = (src[2p·ld+x], src[(2p+1)·ld+x])",
		"rounded to bf16 (VCVTNE2PS2BF16) for p < np, x < cols, and 0 for",
		"cols ≤ x < width; with odd, one more pair (src[2np·ld+x], 0).",
		"cols ≤ width ≤ 32.",
	)
	dst := Load(Param("dst"), reg.RDI)
	src := Load(Param("src"), reg.RSI)
	ld := Load(Param("ld"), reg.R8)
	SHLQ(U8(2), ld)
	np := Load(Param("np"), reg.R9)
	t := reg.R13
	Comment("K1/K2: the columns read; K3/K4: the pairs written.")
	avoutil.LaneMasks(Load(Param("cols"), reg.R11), t, reg.K1, reg.K2)
	w := Load(Param("width"), reg.R10)
	avoutil.LaneMasks(w, t, reg.K3, reg.K4)
	SHLQ(U8(2), w)
	VMOVDQU64(idx, reg.Z31)
	row1 := reg.RAX
	// pair converts rows (Z0, Z2) and (Z1, Z3) and stores the pairs.
	pair := func() {
		cvt2(reg.Z0, reg.Z1, reg.Z4)
		cvt2(reg.Z2, reg.Z3, reg.Z5)
		VPERMW(reg.Z4, reg.Z31, reg.Z4)
		VPERMW(reg.Z5, reg.Z31, reg.Z5)
		VMOVDQU32(reg.Z4, reg.K3, Mem{Base: dst})
		VMOVDQU32(reg.Z5, reg.K4, Mem{Base: dst, Disp: 64})
	}
	TESTQ(np, np)
	JZ(LabelRef("qodd"))
	Label("qloop")
	LEAQ(Mem{Base: src, Index: ld, Scale: 1}, row1)
	Comment("The rows of four pairs ahead: a panel walks down its columns,",
		"a new page every row or two, which the hardware does not foresee.")
	LEAQ(Mem{Base: src, Index: ld, Scale: 8}, reg.RBX)
	PREFETCHT0(Mem{Base: reg.RBX})
	PREFETCHT0(Mem{Base: reg.RBX, Disp: 64})
	PREFETCHT0(Mem{Base: reg.RBX, Index: ld, Scale: 1})
	PREFETCHT0(Mem{Base: reg.RBX, Index: ld, Scale: 1, Disp: 64})
	VMOVUPS_Z(Mem{Base: src}, reg.K1, reg.Z0)
	VMOVUPS_Z(Mem{Base: row1}, reg.K1, reg.Z1)
	VMOVUPS_Z(Mem{Base: src, Disp: 64}, reg.K2, reg.Z2)
	VMOVUPS_Z(Mem{Base: row1, Disp: 64}, reg.K2, reg.Z3)
	pair()
	LEAQ(Mem{Base: src, Index: ld, Scale: 2}, src)
	ADDQ(w, dst)
	DECQ(np)
	JNZ(LabelRef("qloop"))
	Label("qodd")
	odd := Load(Param("odd"), reg.R12B)
	TESTB(odd, odd)
	JZ(LabelRef("qdone"))
	VMOVUPS_Z(Mem{Base: src}, reg.K1, reg.Z0)
	VMOVUPS_Z(Mem{Base: src, Disp: 64}, reg.K2, reg.Z2)
	VPXORD(reg.Z1, reg.Z1, reg.Z1)
	VPXORD(reg.Z3, reg.Z3, reg.Z3)
	pair()
	Label("qdone")
	avoutil.Ret()
}

// peak is the VDPBF16PS throughput probe: n iterations of 24
// independent zmm chains, 64 flops each.
func peak() {
	avoutil.PeakProbe512("peakBF16512", "peakBF16512 runs n×24 independent zmm VDPBF16PS (n×1536 flops).", "pbf",
		func(x, y, acc Op) { VPDPBUSD(x, y, acc) }) // VDPBF16PS
}
