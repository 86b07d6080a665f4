//go:build !purego

package asm

import "golang.org/x/sys/cpu"

// The assembly levels: each pairs its SGEMM kernel (gemm_amd64.go) with
// its element-wise kernels (kernels_amd64.go).
var (
	avx512Level = &level{name: LevelAVX512, gemm: gemmAVX512, elementwise: elementwiseAVX512}
	avx2Level   = &level{name: LevelAVX2, gemm: gemmAVX2, elementwise: elementwiseAVX2}
)

// asmLevels lists the assembly levels this CPU supports, best first.
// This is the one place that says which CPU features a level requires
// (golang.org/x/sys/cpu reports a feature only if the OS saves its
// registers too):
//   - avx2: AVX2 and FMA (ymm registers 0-15, VEX encoding);
//   - avx512: avx2's, plus AVX512F (zmm registers, K masks), AVX512DQ
//     (VXORPS on zmm) and AVX512VL (EVEX-encoded ymm and xmm
//     forms, as in the element-wise kernels' horizontal reductions).
//
// A CPU with AVX512F but without DQ or VL runs level avx2. Level avx512
// runs the bf16 GEMM on VDPBF16PS where the CPU has AVX512-BF16.
func asmLevels() []*level {
	x := cpu.X86
	avx2 := x.HasAVX2 && x.HasFMA && x.HasOSXSAVE
	avx512 := avx2 && x.HasAVX512F && x.HasAVX512DQ && x.HasAVX512VL
	var ls []*level
	if avx512 {
		if x.HasAVX512BF16 {
			avx512Level.bf16 = bf16AVX512
		}
		ls = append(ls, avx512Level)
	}
	if avx2 {
		ls = append(ls, avx2Level)
	}
	return ls
}

// hasAMX reports whether the CPU offers AMX tiles with bf16 (Sapphire
// Rapids and later); clinic has no AMX kernel yet.
func hasAMX() bool { return cpu.X86.HasAMXTile && cpu.X86.HasAMXBF16 }
