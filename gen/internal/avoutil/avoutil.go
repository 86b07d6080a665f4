// Package avoutil holds what clinic's avo generators (asmgen, kernelgen
// and bf16gen) share: parameter addresses, the function epilogue, the
// physical vector registers, and the check that AVX2 functions use no
// AVX-512 register.
package avoutil

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"strings"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// ParamAddr is the memory operand of the current function's parameter
// name (for instructions that read a scalar parameter in place, such as
// VBROADCASTSS).
func ParamAddr(name string) Mem {
	b, err := Param(name).Resolve()
	if err != nil {
		panic(err)
	}
	return b.Addr
}

// Ret is the epilogue of every vector function: VZEROUPPER (no AVX-SSE
// transition penalty in the caller) and RET.
func Ret() {
	VZEROUPPER()
	RET()
}

// Zmm is the physical register Zi, 0 ≤ i < 32.
func Zmm(i int) reg.VecPhysical { return zmms[i] }

// Ymm is the physical register Yi, 0 ≤ i < 16 (the AVX2 registers).
func Ymm(i int) reg.VecPhysical { return ymms[i] }

var zmms = []reg.VecPhysical{reg.Z0, reg.Z1, reg.Z2, reg.Z3, reg.Z4, reg.Z5, reg.Z6, reg.Z7, reg.Z8, reg.Z9, reg.Z10, reg.Z11, reg.Z12, reg.Z13, reg.Z14, reg.Z15, reg.Z16, reg.Z17, reg.Z18, reg.Z19, reg.Z20, reg.Z21, reg.Z22, reg.Z23, reg.Z24, reg.Z25, reg.Z26, reg.Z27, reg.Z28, reg.Z29, reg.Z30, reg.Z31}
var ymms = []reg.VecPhysical{reg.Y0, reg.Y1, reg.Y2, reg.Y3, reg.Y4, reg.Y5, reg.Y6, reg.Y7, reg.Y8, reg.Y9, reg.Y10, reg.Y11, reg.Y12, reg.Y13, reg.Y14, reg.Y15}

// CheckAVX2Regs exits with an error if an AVX2 function (its name
// contains "256") in the generated assembly file path uses a register only
// AVX-512 has (X/Y16-31, Z, K): the Go assembler would silently emit
// EVEX, which an AVX2-only CPU cannot run. An empty path is not checked.
func CheckAVX2Regs(prog, path string) {
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
		if strings.Contains(fn, "256") && bad.MatchString(l) {
			fmt.Fprintf(os.Stderr, "%s: AVX2 function uses an AVX-512 register: %s\n\tin %s\n", prog, l, fn)
			os.Exit(1)
		}
	}
}

// LaneMasks sets the opmasks lo and hi to the low and high 16 bits of
// the mask of the low n bits (0 ≤ n ≤ 32, in a register): the lanes of
// two zmm that a masked load or store of n values touches. It uses CX
// and t.
func LaneMasks(n reg.Register, t reg.GPPhysical, lo, hi reg.Register) {
	MOVQ(n, reg.RCX)
	MOVQ(U32(1), t)
	SHLQ(reg.CL, t)
	DECQ(t)
	KMOVW(t.As32(), lo)
	SHRQ(U8(16), t)
	KMOVW(t.As32(), hi)
}

// StoreTile512 ends an AVX-512 GEMM microkernel: it writes the first mr
// (parameter) rows and nr (parameter) columns of its rows × 32 tile,
// held two zmm a row in acc(i, 0) and acc(i, 1), to the row-major C at
// pc (row stride ldc bytes): C = alpha·acc if the parameter accum is
// false, else C = fma(acc, alpha, beta·C). b0, b1 and bc are the
// kernel's B and broadcast registers, free by now; t is a scratch
// register; labels begin with pfx. The fp32 kernels (packed and direct)
// and the bf16 kernel share it, so they store and round alike.
func StoreTile512(pfx string, rows int, acc func(i, v int) reg.VecPhysical, b0, b1 reg.VecPhysical, bc [2]reg.VecPhysical, pc, ldc reg.Register, t reg.GPPhysical) {
	Load(Param("nr"), reg.RCX)
	MOVQ(U32(1), t)
	SHLQ(reg.CL, t)
	DECQ(t)
	KMOVW(t.As32(), reg.K1)
	SHRQ(U8(16), t)
	KMOVW(t.As32(), reg.K2)
	mr := Load(Param("mr"), reg.R9)
	alpha := b0
	VBROADCASTSS(ParamAddr("alpha"), alpha)
	accum := Load(Param("accum"), reg.R10B)
	TESTB(accum, accum)
	JNZ(LabelRef(pfx + "accum"))
	// Overwrite: C = alpha·acc.
	for i := 0; i < rows; i++ {
		if i > 0 {
			CMPQ(mr, U8(i))
			JLE(LabelRef(pfx + "done"))
			ADDQ(ldc, pc)
		}
		VMULPS(alpha, acc(i, 0), acc(i, 0))
		VMULPS(alpha, acc(i, 1), acc(i, 1))
		VMOVUPS(acc(i, 0), reg.K1, Mem{Base: pc})
		VMOVUPS(acc(i, 1), reg.K2, Mem{Base: pc, Disp: 64})
	}
	JMP(LabelRef(pfx + "done"))
	// Accumulate: C = fma(acc, alpha, beta·C).
	Label(pfx + "accum")
	beta := b1
	VBROADCASTSS(ParamAddr("beta"), beta)
	for i := 0; i < rows; i++ {
		if i > 0 {
			CMPQ(mr, U8(i))
			JLE(LabelRef(pfx + "done"))
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
	Label(pfx + "done")
	Ret()
}

// KLoop is a GEMM microkernel's loop over k: step(s) emits k step s of
// an unrolled iteration (its A and B reads at offsets s·aStep and
// s·bStep bytes from pa and pb), the loop runs k/unroll iterations and
// then k%unroll single steps, advancing pa and pb, and ends at the label
// pfx+"store". k is consumed, RCX is the counter; unroll is 4.
func KLoop(pfx string, k, pa, pb reg.Register, aStep, bStep int, step func(s int)) {
	const unroll = 4
	imm := func(v int) Constant {
		if v < 128 {
			return U8(v)
		}
		return U32(v)
	}
	n := reg.RCX
	MOVQ(k, n)
	SHRQ(U8(2), n)
	JZ(LabelRef(pfx + "tail"))
	Label(pfx + "loop")
	for s := 0; s < unroll; s++ {
		step(s)
	}
	ADDQ(U32(unroll*aStep), pa)
	ADDQ(U32(unroll*bStep), pb)
	DECQ(n)
	JNZ(LabelRef(pfx + "loop"))
	Label(pfx + "tail")
	ANDQ(U8(unroll-1), k)
	JZ(LabelRef(pfx + "store"))
	Label(pfx + "tailloop")
	step(0)
	ADDQ(imm(aStep), pa)
	ADDQ(imm(bStep), pb)
	DECQ(k)
	JNZ(LabelRef(pfx + "tailloop"))
	Label(pfx + "store")
}

// Tile512 is the register plan of an AVX-512 GEMM microkernel of Rows
// rows × 32 columns: two zmm accumulators a row from Z0 (Acc), the B
// vectors in Z28/Z29, the A broadcasts in Z30/Z31, the k count, the A,
// B and C pointers and C's row stride in bytes, and a scratch register.
type Tile512 struct {
	Rows               int
	B0, B1             reg.VecPhysical
	Bc                 [2]reg.VecPhysical
	K, PA, PB, PC, LDC reg.Register
	T                  reg.GPPhysical
}

// Acc is the accumulator of row i, columns 16v..16v+15.
func (t *Tile512) Acc(i, v int) reg.VecPhysical { return Zmm(2*i + v) }

// NewTile512 starts a microkernel: it loads the parameters kName, a, b,
// c and ldc (scaled to bytes) and zeroes the accumulators.
func NewTile512(kName string, rows int) *Tile512 {
	t := &Tile512{Rows: rows, B0: reg.Z28, B1: reg.Z29, Bc: [2]reg.VecPhysical{reg.Z30, reg.Z31}, T: reg.R8}
	t.K = Load(Param(kName), reg.RSI)
	t.PA = Load(Param("a"), reg.RAX)
	t.PB = Load(Param("b"), reg.RBX)
	t.PC = Load(Param("c"), reg.RDI)
	t.LDC = Load(Param("ldc"), reg.RDX)
	SHLQ(U8(2), t.LDC)
	for i := 0; i < rows; i++ {
		for v := 0; v < 2; v++ {
			VXORPS(t.Acc(i, v), t.Acc(i, v), t.Acc(i, v))
		}
	}
	return t
}

// Store ends the kernel with StoreTile512.
func (t *Tile512) Store(pfx string) {
	StoreTile512(pfx, t.Rows, t.Acc, t.B0, t.B1, t.Bc, t.PC, t.LDC, t.T)
}

// PeakProbe512 emits a throughput probe func(n int): n iterations of 24
// independent zmm chains op(Z30, Z31, Zi), i < 24 (two ports of an
// instruction with a latency of up to 12 cycles stay busy). Labels
// begin with pfx.
func PeakProbe512(name, doc, pfx string, op func(x, y, acc Op)) {
	TEXT(name, NOSPLIT, "func(n int)")
	Doc(doc)
	n := Load(Param("n"), reg.RCX)
	for i := 0; i < 24; i++ {
		VXORPS(Zmm(i), Zmm(i), Zmm(i))
	}
	VXORPS(reg.Z30, reg.Z30, reg.Z30)
	VXORPS(reg.Z31, reg.Z31, reg.Z31)
	TESTQ(n, n)
	JLE(LabelRef(pfx + "done"))
	Label(pfx + "loop")
	for i := 0; i < 24; i++ {
		op(reg.Z30, reg.Z31, Zmm(i))
	}
	DECQ(n)
	JNZ(LabelRef(pfx + "loop"))
	Label(pfx + "done")
	Ret()
}
