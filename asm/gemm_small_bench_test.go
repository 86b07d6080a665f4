package asm

import (
	"fmt"
	"testing"
)

// smallShapes are attention-sized products run by SgemmST inside
// parallel loops over heads (T×T×dh and T×dh×T), M×K×N.
var smallShapes = []struct {
	lay     string
	m, k, n int
	ld      int // leading dimension of A and B if > 0 (else dense)
}{
	{"NT", 128, 64, 128, 0}, {"NN", 128, 128, 64, 0}, {"TN", 64, 128, 128, 0},
	{"NT", 256, 64, 256, 0}, {"NN", 256, 256, 64, 0}, {"TN", 64, 256, 256, 0},
	{"NT", 128, 32, 128, 0}, {"NN", 128, 128, 32, 0}, {"TN", 32, 128, 128, 0},
	{"NT", 256, 32, 256, 0}, {"NN", 256, 256, 32, 0}, {"TN", 32, 256, 256, 0},
	// The attention backward's TN products: T×T by T×dh.
	{"TN", 128, 128, 64, 0}, {"TN", 256, 256, 64, 0}, {"TN", 128, 128, 32, 0}, {"TN", 256, 256, 32, 0},
	// Heads of a d = 512 model read in place from the fused QKV rows.
	{"NT", 256, 64, 256, 1536}, {"NN", 256, 256, 64, 1536}, {"TN", 256, 256, 64, 1536},
}

// BenchmarkGEMMSmall runs SgemmST (one goroutine) on the small shapes.
func BenchmarkGEMMSmall(b *testing.B) {
	peak := peakGFLOPS(CPULevel())
	for _, s := range smallShapes {
		ta, tb := s.lay[0] == 'T', s.lay[1] == 'T'
		m, k, n := s.m, s.k, s.n
		b.Run(smallName(s.lay, m, k, n, s.ld), func(b *testing.B) {
			a, lda, bb, ldb, c := smallOperands(ta, tb, m, k, n, s.ld)
			for b.Loop() {
				SgemmST(ta, tb, m, n, k, 1, a, lda, bb, ldb, 0, c, n)
			}
			gf := 2 * float64(m) * float64(n) * float64(k) * float64(b.N) / b.Elapsed().Seconds() / 1e9
			b.ReportMetric(gf, "GFLOP/s")
			if peak > 0 {
				b.ReportMetric(gf/peak, "peak-frac")
			}
		})
	}
}

func smallName(lay string, m, k, n, ld int) string {
	name := fmt.Sprintf("%s/%dx%dx%d/ST", lay, m, k, n)
	if ld > 0 {
		name += fmt.Sprintf("/ld=%d", ld)
	}
	return name
}

// smallOperands makes random operands for op(A) m×k and op(B) k×n, with
// leading dimension ld (if larger than the dense one) for A and B.
func smallOperands(ta, tb bool, m, k, n, ld int) (a []float32, lda int, b []float32, ldb int, c []float32) {
	r := newRand(1)
	lda, ldb = k, n
	ra, rb := m, k
	if ta {
		lda, ra = m, k
	}
	if tb {
		ldb, rb = k, n
	}
	lda, ldb = max(lda, ld), max(ldb, ld)
	a = randSlice(r, ra*lda, -1, 1)
	b = randSlice(r, rb*ldb, -1, 1)
	return a, lda, b, ldb, make([]float32, m*n)
}
