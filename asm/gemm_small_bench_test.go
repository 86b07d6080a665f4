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
}{
	{"NT", 128, 64, 128}, {"NN", 128, 128, 64}, {"TN", 64, 128, 128},
	{"NT", 256, 64, 256}, {"NN", 256, 256, 64}, {"TN", 64, 256, 256},
	{"NT", 128, 32, 128}, {"NN", 128, 128, 32}, {"TN", 32, 128, 128},
	{"NT", 256, 32, 256}, {"NN", 256, 256, 32}, {"TN", 32, 256, 256},
	// The attention backward's TN products: T×T by T×dh.
	{"TN", 128, 128, 64}, {"TN", 256, 256, 64}, {"TN", 128, 128, 32}, {"TN", 256, 256, 32},
}

// BenchmarkGEMMSmall runs SgemmST (one goroutine) on the small shapes.
func BenchmarkGEMMSmall(b *testing.B) {
	peak := peakGFLOPS(CPULevel())
	for _, s := range smallShapes {
		ta, tb := s.lay[0] == 'T', s.lay[1] == 'T'
		m, k, n := s.m, s.k, s.n
		b.Run(fmt.Sprintf("%s/%dx%dx%d/ST", s.lay, m, k, n), func(b *testing.B) {
			r := newRand(1)
			a := randSlice(r, m*k, -1, 1)
			bb := randSlice(r, k*n, -1, 1)
			c := make([]float32, m*n)
			lda, ldb := k, n
			if ta {
				lda = m
			}
			if tb {
				ldb = k
			}
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
