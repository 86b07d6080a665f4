package asm

import (
	"fmt"
	"math"
)

// bf16 GEMM: the operands rounded to bfloat16 (fp32's sign and exponent,
// 7 mantissa bits), their products accumulated in fp32. On CPUs with
// AVX512-BF16 (Cooper Lake, Sapphire Rapids and later) one VDPBF16PS
// does 32 multiply-adds per zmm, twice VFMADD231PS's 16; elsewhere the
// pure-Go twin computes the same bits.
//
// Rounding and order, as VDPBF16PS defines them and the twin follows:
// inputs round to nearest even (NaN stays NaN; subnormals flush to
// zero, as the instruction reads them); k is taken in pairs (2p, 2p+1),
// the last padded with 0; per pair the product of the odd elements is
// added to the fp32 sum, then that of the even ones, each add rounded
// to nearest even with subnormal results flushed to zero; sums restart
// every bf16KC pairs and are folded into C as the fp32 kernel folds
// its k blocks: C = alpha·sum for the first block when beta is 0, else
// C = fma(sum, alpha, beta'·C) with beta' = beta for the first block
// and 1 after it.

// bf16KC is the k block of the bf16 GEMM, in pairs (2·bf16KC values of
// k): a 32-column B panel of it is 32 KB, as the fp32 kernel's.
const bf16KC = 256

// BF16 rounds x to bfloat16, round to nearest even, returning its bits.
// NaN stays NaN (quiet); subnormal x becomes a signed zero.
func BF16(x float32) uint16 {
	u := math.Float32bits(x)
	switch {
	case u&0x7f800000 == 0: // zero or subnormal
		return uint16(u>>16) & 0x8000
	case u&0x7fffffff > 0x7f800000: // NaN
		return uint16(u>>16) | 0x40
	}
	return uint16((u + 0x7fff + (u>>16)&1) >> 16)
}

// BF16Float is the float32 of bfloat16 bits.
func BF16Float(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// ftz flushes a subnormal float32 to a signed zero.
func ftz(x float32) float32 {
	if u := math.Float32bits(x); u&0x7f800000 == 0 {
		return math.Float32frombits(u & 0x80000000)
	}
	return x
}

// fma32 is float32 fused multiply-add, a·b + c rounded once (the
// product of two float32 is exact in float64, and a float64 sum of
// three float32-sized terms rounds to float32 as a float32 fma does
// except in double-rounding ties, which the tests tolerate).
func fma32(a, b, c float32) float32 { return float32(math.FMA(float64(a), float64(b), float64(c))) }

// BF16Level reports whether the bf16 GEMM runs on AVX512-BF16 at the
// current CPU level ("avx512-bf16") or in the pure-Go twin ("generic").
func BF16Level() string {
	if cur.bf16 != nil {
		return "avx512-bf16"
	}
	return LevelGeneric
}

// PrecisionPaths describes the reduced-precision GEMMs this CPU and
// build offer, for 'clinic version'.
func PrecisionPaths() string {
	s := "bf16 GEMM " + BF16Level()
	if hasAMX() {
		return s + "; AMX bf16 offered by the CPU (no clinic kernel yet)"
	}
	return s + "; no AMX"
}

// SgemmBF16 computes C = alpha·op(A)·op(B) + beta·C as Sgemm does, with
// op(A) and op(B) rounded to bfloat16 and the products summed in fp32
// (see the rounding rules above). op(A) is m×k, op(B) k×n, C m×n, all
// row-major with the given leading dimensions. A weight gradient's
// product over many tokens is summed in Sgemm's groups of tokens, each
// group an SgemmBF16 over its tokens, folded in order
// (gemm_splitk.go), at every level, the twin's included.
func SgemmBF16(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	(*Pool)(nil).SgemmBF16(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// SgemmBF16 is the package's SgemmBF16 on the pool.
func (p *Pool) SgemmBF16(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("asm: SgemmBF16 with m, n, k = %d, %d, %d", m, n, k))
	}
	if m == 0 || n == 0 {
		return
	}
	_ = c[(m-1)*ldc+n-1]
	if k > 0 {
		_ = a[opIndex(transA, m-1, k-1, lda)]
		_ = b[opIndex(transB, k-1, n-1, ldb)]
	}
	switch {
	case k == 0 || alpha == 0:
		// Without products C is only scaled, which the twin does as the
		// kernel's store would.
		sgemmBF16Generic(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	case splitKGroups(transA, transB, m, n, k) > 1:
		// a weight gradient over many tokens, at every level alike
		p.sgemmBF16SplitK(cur.bf16, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	case cur.bf16 == nil:
		sgemmBF16Generic(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	default:
		cur.bf16.run(p, transA, transB, m, n, k, alpha, a, lda, b, ldb, nil, nil, beta, c, ldc)
	}
}

// opIndex is the index of op(X)[i][j] in x.
func opIndex(trans bool, i, j, ld int) int {
	if trans {
		return j*ld + i
	}
	return i*ld + j
}

// pairAt packs op(X)[i][2p] (low half) and op(X)[i][2p+1] (high half)
// for an m×k op(X), or for a k×n one with cols (element [2p][i] and
// [2p+1][i]); an index past k is 0.
func pairAt(x []float32, trans, cols bool, i, p, k, ld int) uint32 {
	at := func(q int) uint32 {
		if q >= k {
			return 0
		}
		if cols {
			return uint32(BF16(x[opIndex(trans, q, i, ld)]))
		}
		return uint32(BF16(x[opIndex(trans, i, q, ld)]))
	}
	return at(2*p) | at(2*p+1)<<16
}

// sgemmBF16Generic is the pure-Go twin of SgemmBF16.
func sgemmBF16Generic(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	kp := (k + 1) / 2
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			cv := &c[i*ldc+j]
			if kp == 0 || alpha == 0 {
				*cv = foldC(0, alpha, beta, *cv, true)
				continue
			}
			for p0 := 0; p0 < kp; p0 += bf16KC {
				var s float32
				for p := p0; p < min(p0+bf16KC, kp); p++ {
					s = dpbf16(s, pairAt(a, transA, false, i, p, k, lda), pairAt(b, transB, true, j, p, k, ldb))
				}
				bt := beta
				if p0 > 0 {
					bt = 1
				}
				*cv = foldC(s, alpha, bt, *cv, p0 == 0)
			}
		}
	}
}

// dpbf16 is one lane of VDPBF16PS: s + hi·hi, then + lo·lo.
func dpbf16(s float32, x, y uint32) float32 {
	s = ftz(s + ftz(BF16Float(uint16(x>>16))*BF16Float(uint16(y>>16))))
	return ftz(s + ftz(BF16Float(uint16(x))*BF16Float(uint16(y))))
}

// foldC is how the kernel stores a k block's sum s into C: alpha·s when
// it overwrites (first block, beta 0), else fma(s, alpha, beta·C).
func foldC(s, alpha, beta, cv float32, first bool) float32 {
	if first && beta == 0 {
		return alpha * s
	}
	return fma32(s, alpha, beta*cv)
}

// peakBF16 runs the bf16 throughput probe of the current level for iters
// iterations and returns the flops done; it fails where the level has
// no bf16 kernel.
func peakBF16(iters int) (int, error) {
	if cur.bf16 == nil {
		return 0, fmt.Errorf("no bf16 probe at cpu level %q", cur.name)
	}
	cur.bf16.peak(iters)
	return iters * cur.bf16.peakFlops, nil
}
