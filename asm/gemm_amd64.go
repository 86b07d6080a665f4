//go:build !purego

package asm

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

// sgemmKernel512rN and sgemmKernel256rN are the N-row variants for the
// last rows of C: they read an N-row packed A panel.

//go:noescape
func sgemmKernel512r1(k int, a, b, c *float32, ldc int, alpha, beta float32, mr, nr int, accum bool)

//go:noescape
func sgemmKernel512r2(k int, a, b, c *float32, ldc int, alpha, beta float32, mr, nr int, accum bool)

//go:noescape
func sgemmKernel512r3(k int, a, b, c *float32, ldc int, alpha, beta float32, mr, nr int, accum bool)

//go:noescape
func sgemmKernel512r4(k int, a, b, c *float32, ldc int, alpha, beta float32, mr, nr int, accum bool)

//go:noescape
func sgemmKernel512r5(k int, a, b, c *float32, ldc int, alpha, beta float32, mr, nr int, accum bool)

//go:noescape
func sgemmKernel512r6(k int, a, b, c *float32, ldc int, alpha, beta float32, mr, nr int, accum bool)

//go:noescape
func sgemmKernel512r7(k int, a, b, c *float32, ldc int, alpha, beta float32, mr, nr int, accum bool)

//go:noescape
func sgemmKernel512r8(k int, a, b, c *float32, ldc int, alpha, beta float32, mr, nr int, accum bool)

//go:noescape
func sgemmKernel512r9(k int, a, b, c *float32, ldc int, alpha, beta float32, mr, nr int, accum bool)

//go:noescape
func sgemmKernel512r10(k int, a, b, c *float32, ldc int, alpha, beta float32, mr, nr int, accum bool)

//go:noescape
func sgemmKernel512r11(k int, a, b, c *float32, ldc int, alpha, beta float32, mr, nr int, accum bool)

//go:noescape
func sgemmKernel512r12(k int, a, b, c *float32, ldc int, alpha, beta float32, mr, nr int, accum bool)

//go:noescape
func sgemmKernel512r13(k int, a, b, c *float32, ldc int, alpha, beta float32, mr, nr int, accum bool)

//go:noescape
func sgemmKernel256r1(k int, a, b, c *float32, ldc int, alpha, beta float32, mr, nr int, accum bool)

//go:noescape
func sgemmKernel256r2(k int, a, b, c *float32, ldc int, alpha, beta float32, mr, nr int, accum bool)

//go:noescape
func sgemmKernel256r3(k int, a, b, c *float32, ldc int, alpha, beta float32, mr, nr int, accum bool)

//go:noescape
func sgemmKernel256r4(k int, a, b, c *float32, ldc int, alpha, beta float32, mr, nr int, accum bool)

//go:noescape
func sgemmKernel256r5(k int, a, b, c *float32, ldc int, alpha, beta float32, mr, nr int, accum bool)

// sgemmDirect512cN and sgemmDirect512rN are the N-row AVX-512 kernels
// that read A in place: A(i,p) = a[p*lda+i] (c: op(A) = Aᵀ) or
// a[i*lda+p] (r: op(A) = A); row p of the B panel is at b[p*ldb].

//go:noescape
func sgemmDirect512c1(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, mr, nr int, accum bool)

//go:noescape
func sgemmDirect512c2(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, mr, nr int, accum bool)

//go:noescape
func sgemmDirect512c3(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, mr, nr int, accum bool)

//go:noescape
func sgemmDirect512c4(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, mr, nr int, accum bool)

//go:noescape
func sgemmDirect512c5(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, mr, nr int, accum bool)

//go:noescape
func sgemmDirect512c6(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, mr, nr int, accum bool)

//go:noescape
func sgemmDirect512c7(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, mr, nr int, accum bool)

//go:noescape
func sgemmDirect512c8(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, mr, nr int, accum bool)

//go:noescape
func sgemmDirect512c9(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, mr, nr int, accum bool)

//go:noescape
func sgemmDirect512c10(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, mr, nr int, accum bool)

//go:noescape
func sgemmDirect512c11(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, mr, nr int, accum bool)

//go:noescape
func sgemmDirect512c12(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, mr, nr int, accum bool)

//go:noescape
func sgemmDirect512c13(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, mr, nr int, accum bool)

//go:noescape
func sgemmDirect512c14(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, mr, nr int, accum bool)

//go:noescape
func sgemmDirect512r1(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, mr, nr int, accum bool)

//go:noescape
func sgemmDirect512r2(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, mr, nr int, accum bool)

//go:noescape
func sgemmDirect512r3(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, mr, nr int, accum bool)

//go:noescape
func sgemmDirect512r4(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, mr, nr int, accum bool)

//go:noescape
func sgemmDirect512r5(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, mr, nr int, accum bool)

//go:noescape
func sgemmDirect512r6(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, mr, nr int, accum bool)

//go:noescape
func sgemmDirect512r7(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, mr, nr int, accum bool)

//go:noescape
func sgemmDirect512r8(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, mr, nr int, accum bool)

//go:noescape
func sgemmDirect512r9(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, mr, nr int, accum bool)

//go:noescape
func sgemmDirect512r10(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, mr, nr int, accum bool)

//go:noescape
func sgemmDirect512r11(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, mr, nr int, accum bool)

//go:noescape
func sgemmDirect512r12(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, mr, nr int, accum bool)

//go:noescape
func sgemmDirect512r13(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, mr, nr int, accum bool)

//go:noescape
func sgemmDirect512r14(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, mr, nr int, accum bool)

// packRows512 deals kc rows of src (row stride ld) into panels of w
// columns: dst[p*w + (q/w)*panel + q%w] = src[p*ld + q] for p < kc and
// q < nfull*w + tail, zero-padding the last panel when tail > 0.
// 1 ≤ w ≤ 32, 0 ≤ tail < w.
//
//go:noescape
func packRows512(dst, src *float32, ld, kc, nfull, tail, w, panel int)

// transposePack512 sets dst[p*dstStride+r] = src[r*ld+p] for p < kc,
// r < rows, and to 0 for rows ≤ r < lanes; rows ≤ lanes ≤ 16.
//
//go:noescape
func transposePack512(dst, src *float32, ld, kc, dstStride, rows, lanes int)

// peakFMA512 runs n×24 independent zmm FMAs (n×768 flops).
func peakFMA512(n int)

// peakFMA256 runs n×12 independent ymm FMAs (n×192 flops).
func peakFMA256(n int)

var gemmAVX512 = &gemmKernel{
	mr: mr512, nr: nr512,
	kc: 256, mc: 24 * mr512, nc: 64 * nr512,
	fn: sgemmKernel512, transpose: transposePack512, packRows: packRows512,
	peak: peakFMA512, peakFlops: 24 * 16 * 2,
	edge: []kernelFunc{nil, sgemmKernel512r1, sgemmKernel512r2, sgemmKernel512r3, sgemmKernel512r4,
		sgemmKernel512r5, sgemmKernel512r6, sgemmKernel512r7, sgemmKernel512r8, sgemmKernel512r9,
		sgemmKernel512r10, sgemmKernel512r11, sgemmKernel512r12, sgemmKernel512r13},
	directC: []directFunc{nil, sgemmDirect512c1, sgemmDirect512c2, sgemmDirect512c3, sgemmDirect512c4, sgemmDirect512c5, sgemmDirect512c6, sgemmDirect512c7, sgemmDirect512c8, sgemmDirect512c9, sgemmDirect512c10, sgemmDirect512c11, sgemmDirect512c12, sgemmDirect512c13, sgemmDirect512c14},
	directR: []directFunc{nil, sgemmDirect512r1, sgemmDirect512r2, sgemmDirect512r3, sgemmDirect512r4, sgemmDirect512r5, sgemmDirect512r6, sgemmDirect512r7, sgemmDirect512r8, sgemmDirect512r9, sgemmDirect512r10, sgemmDirect512r11, sgemmDirect512r12, sgemmDirect512r13, sgemmDirect512r14},
}

var gemmAVX2 = &gemmKernel{
	mr: mr256, nr: nr256,
	kc: 256, mc: 40 * mr256, nc: 128 * nr256,
	fn: sgemmKernel256, peak: peakFMA256, peakFlops: 12 * 8 * 2,
	edge: []kernelFunc{nil, sgemmKernel256r1, sgemmKernel256r2, sgemmKernel256r3, sgemmKernel256r4, sgemmKernel256r5},
}
