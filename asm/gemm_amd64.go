//go:build !purego

package asm

import "golang.org/x/sys/cpu"

// Declarations of the avo-generated kernels in gemm_amd64.s (generator:
// gen/asmgen). Keep the shapes in step with the generator's constants.

const (
	mr512, nr512 = 14, 32 // AVX-512 microkernel tile
	mr256, nr256 = 6, 16  // AVX2 microkernel tile
)

//go:noescape
func sgemmKernel512(k int, a, b, c *float32, ldc int, alpha, beta float32, mr, nr int, accum bool)

//go:noescape
func sgemmKernel256(k int, a, b, c *float32, ldc int, alpha, beta float32, mr, nr int, accum bool)

// transposePack512 sets dst[p*dstStride+r] = src[r*ld+p] for p < kc,
// r < rows, and to 0 for rows ≤ r < lanes; rows ≤ lanes ≤ 16.
//
//go:noescape
func transposePack512(dst, src *float32, ld, kc, dstStride, rows, lanes int)

// peakFMA512 runs n×24 independent zmm FMAs (n×768 flops).
func peakFMA512(n int)

// peakFMA256 runs n×12 independent ymm FMAs (n×192 flops).
func peakFMA256(n int)

var kernel512 = &gemmKernel{
	name: LevelAVX512, mr: mr512, nr: nr512,
	kc: 256, mc: 24 * mr512, nc: 64 * nr512,
	fn: sgemmKernel512, transpose: transposePack512, peak: peakFMA512, peakFlops: 24 * 16 * 2,
}

var kernel256 = &gemmKernel{
	name: LevelAVX2, mr: mr256, nr: nr256,
	kc: 256, mc: 40 * mr256, nc: 128 * nr256,
	fn: sgemmKernel256, peak: peakFMA256, peakFlops: 12 * 8 * 2,
}

// cpuKernels lists the kernels this CPU can run, best first.
func cpuKernels() []*gemmKernel {
	x := cpu.X86
	var ks []*gemmKernel
	if x.HasAVX512F && x.HasAVX512DQ && x.HasAVX2 && x.HasFMA && x.HasOSXSAVE {
		ks = append(ks, kernel512)
	}
	if x.HasAVX2 && x.HasFMA && x.HasOSXSAVE {
		ks = append(ks, kernel256)
	}
	return ks
}
