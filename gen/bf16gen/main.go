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
)

// Microkernel shape: as the fp32 AVX-512 kernel's (14 broadcasts × two
// zmm of columns), each k step a pair of bf16 values.
const (
	mr = 14
	nr = 32
)

const kernelSig = "func(kp int, a, b *uint32, c *float32, ldc int, alpha, beta float32, mr, nr int, accum bool)"

func main() {
	ConstraintExpr("!purego")
	kernel("sbgemmKernel512", mr)
	for r := 1; r < mr; r++ {
		kernel(fmt.Sprintf("sbgemmKernel512r%d", r), r)
	}
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

// peak is the VDPBF16PS throughput probe: n iterations of 24
// independent zmm chains, 64 flops each.
func peak() {
	avoutil.PeakProbe512("peakBF16512", "peakBF16512 runs n×24 independent zmm VDPBF16PS (n×1536 flops).", "pbf",
		func(x, y, acc Op) { VPDPBUSD(x, y, acc) }) // VDPBF16PS
}
