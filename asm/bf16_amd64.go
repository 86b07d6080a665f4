//go:build !purego

package asm

//go:generate go run -C ../gen ./bf16gen -pkg asm -out ../asm/bf16_amd64.s -stubs ../asm/bf16_stubs_amd64.go

// The AVX512-BF16 GEMM kernels: avo-generated (generator: gen/bf16gen),
// in bf16_amd64.s, declared in bf16_stubs_amd64.go.
var bf16AVX512 = &bf16Kernel{
	mr: 14, nr: 32,
	fn: sbgemmKernel512,
	edge: []bf16Func{nil, sbgemmKernel512r1, sbgemmKernel512r2, sbgemmKernel512r3, sbgemmKernel512r4, sbgemmKernel512r5,
		sbgemmKernel512r6, sbgemmKernel512r7, sbgemmKernel512r8, sbgemmKernel512r9, sbgemmKernel512r10, sbgemmKernel512r11,
		sbgemmKernel512r12, sbgemmKernel512r13},
	rows: []bf16Func{nil, sbgemmRows512r1, sbgemmRows512r2, sbgemmRows512r3, sbgemmRows512r4, sbgemmRows512r5,
		sbgemmRows512r6, sbgemmRows512r7, sbgemmRows512r8, sbgemmRows512r9, sbgemmRows512r10, sbgemmRows512r11,
		sbgemmRows512r12, sbgemmRows512r13, sbgemmRows512r14},
	packRows:  bf16PackRows512,
	packPairs: bf16PackPairs512,
	transpose: transposePack512,
	peak:      peakBF16512, peakFlops: 24 * 16 * 4,
}
