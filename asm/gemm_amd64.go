//go:build !purego

package asm

// The SGEMM kernels of the assembly levels (see cpu_amd64.go) and their
// blocking. The kernels are avo-generated, in gemm_amd64.s, declared in
// gemm_stubs_amd64.go, with their tile sizes in gemm_tiles_amd64.go
// (generator: gen/asmgen).

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
