package asm

import (
	"fmt"
	"os"
	"strings"
)

// CPU levels, best first. LevelGeneric (the pure-Go twins) is always
// supported.
const (
	LevelAVX512  = "avx512"
	LevelAVX2    = "avx2"
	LevelGeneric = "generic"
)

// gemmKernel describes one generated SGEMM microkernel and its blocking.
type gemmKernel struct {
	name   string
	mr, nr int // microkernel tile: rows × columns of C
	kc     int // depth of a packed block (k per microkernel call)
	mc     int // rows of op(A) packed per block (multiple of mr)
	nc     int // columns of op(B) packed per block (multiple of nr)

	fn kernelFunc
	// edge[r] (0 < r < mr) is the r-row variant of fn, which packs and
	// computes only r rows: used for the last rows of C.
	edge []kernelFunc
	// directC[r] and directR[r] (0 < r ≤ mr), if not nil, are r-row
	// kernels that read op(A) in place instead of from a packed panel:
	// op(A) = Aᵀ (C) or A (R). They run the same FMA sequence as fn.
	directC, directR []directFunc
	// packRows, if not nil, is the level's row-dealing packer (see
	// copyPanels, its pure-Go twin), used for op(A) = Aᵀ and op(B) = B.
	packRows func(dst, src *float32, ld, kc, nfull, tail, w, panel int)
	// transpose, if not nil, is the level's transposing packer (see
	// transposeGo, its pure-Go twin), used for op(A) = A and op(B) = Bᵀ.
	transpose func(dst, src *float32, ld, kc, dstStride, rows, lanes int)

	peak      func(n int) // FMA throughput probe
	peakFlops int         // flops per probe iteration
}

// kernelFunc is a microkernel: C[:mr, :nr] = alpha·(A panel)·(B panel)
// (+ beta·C if accum) over k packed steps.
type kernelFunc = func(k int, a, b, c *float32, ldc int, alpha, beta float32, mr, nr int, accum bool)

// directFunc is a microkernel reading A in place (see directC).
type directFunc = func(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, mr, nr int, accum bool)

// gemmK is the SGEMM kernel in use; nil means the pure-Go twin.
var gemmK *gemmKernel

func init() {
	want := os.Getenv("CLINIC_CPU")
	ks := cpuKernels()
	if len(ks) > 0 {
		gemmK = ks[0]
	}
	if want == "" {
		return
	}
	if err := SetCPULevel(want); err != nil {
		fmt.Fprintf(os.Stderr, "clinic/asm: CLINIC_CPU=%s ignored (%v); using %s\n", want, err, CPULevel())
	}
}

// CPULevel reports the kernel level in use: "avx512", "avx2" or
// "generic". At start-up it is the best the CPU supports, or lower if
// the environment variable CLINIC_CPU names a lower supported level.
func CPULevel() string {
	if gemmK == nil {
		return LevelGeneric
	}
	return gemmK.name
}

// SupportedLevels lists the levels this CPU and build can run, best
// first; the last is always "generic".
func SupportedLevels() []string {
	var ls []string
	for _, k := range cpuKernels() {
		ls = append(ls, k.name)
	}
	return append(ls, LevelGeneric)
}

// SetCPULevel selects the kernel level, for tests and benchmarks. It
// returns an error, changing nothing, if the level is unknown or not
// supported here. It is not safe to call while kernels are running.
func SetCPULevel(level string) error {
	defer syncKernels() // the non-GEMM kernels follow (kernels_dispatch.go)
	level = strings.ToLower(strings.TrimSpace(level))
	if level == LevelGeneric {
		gemmK = nil
		return nil
	}
	for _, k := range cpuKernels() {
		if k.name == level {
			gemmK = k
			return nil
		}
	}
	switch level {
	case LevelAVX512, LevelAVX2:
		return fmt.Errorf("cpu level %q not supported by this CPU or build", level)
	}
	return fmt.Errorf("unknown cpu level %q (want avx512, avx2 or generic)", level)
}

// PeakFMA runs the FMA throughput probe of level ("avx512" or "avx2"):
// iters iterations of independent vfmadd231ps chains, enough to keep
// both FMA ports busy. It returns the floating-point operations done,
// so flops/seconds is the core's measured peak. It fails for "generic"
// or a level this CPU lacks.
func PeakFMA(level string, iters int) (flops int, err error) {
	for _, k := range cpuKernels() {
		if k.name == level {
			k.peak(iters)
			return iters * k.peakFlops, nil
		}
	}
	return 0, fmt.Errorf("no FMA probe for cpu level %q here", level)
}
