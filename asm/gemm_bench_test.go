package asm

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// measurePeak times the FMA probe of level for about d and returns the
// best rate seen in GFLOP/s (one core).
func measurePeak(level string, d time.Duration) float64 {
	const iters = 1 << 16 // ~50M flops for zmm: ~0.5 ms
	if _, err := peakFMA(level, 1000); err != nil {
		return 0
	}
	best := 0.0
	for start := time.Now(); time.Since(start) < d; {
		t0 := time.Now()
		f, _ := peakFMA(level, iters)
		if r := float64(f) / time.Since(t0).Seconds() / 1e9; r > best {
			best = r
		}
	}
	return best
}

var (
	peakOnce sync.Once
	peakRate map[string]float64 // level → GFLOP/s, one core
)

// peakGFLOPS is the measured single-core FMA peak of level, measured
// once per process (about 50 ms per level).
func peakGFLOPS(level string) float64 {
	peakOnce.Do(func() {
		peakRate = map[string]float64{}
		for _, l := range SupportedLevels() {
			peakRate[l] = measurePeak(l, 50*time.Millisecond)
		}
	})
	return peakRate[level]
}

func BenchmarkPeak(b *testing.B) {
	for _, level := range SupportedLevels() {
		if level == LevelGeneric {
			continue
		}
		b.Run(level, func(b *testing.B) {
			const iters = 1 << 12
			flops := 0
			for b.Loop() {
				f, _ := peakFMA(level, iters)
				flops += f
			}
			b.ReportMetric(float64(flops)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// benchShapes are M×K×N: square sizes, transformer projections, and
// (as TN) the weight gradients of a 2,048-token batch at d256, whose
// workers each need every token of both operands.
var benchShapes = [][3]int{
	{512, 512, 512}, {1024, 1024, 1024},
	{2048, 256, 1024}, {2048, 1024, 256}, {2048, 512, 2048},
	{256, 2048, 256}, {1024, 2048, 256},
}

// BenchmarkGEMM runs Sgemm at the current CPU level (set CLINIC_CPU to
// compare levels). peak-frac is GFLOP/s over threads × the measured
// single-core FMA peak of that level.
func BenchmarkGEMM(b *testing.B) {
	level := CPULevel()
	peak := peakGFLOPS(level)
	for _, lay := range []string{"NN", "NT", "TN"} {
		ta, tb := lay[0] == 'T', lay[1] == 'T'
		for _, sh := range benchShapes {
			m, k, n := sh[0], sh[1], sh[2]
			for _, th := range []int{1, 2} {
				name := fmt.Sprintf("%s/%dx%dx%d/threads=%d", lay, m, k, n, th)
				b.Run(name, func(b *testing.B) {
					benchGEMMRun(b, false, ta, tb, m, k, n, th)
					gf := 2 * float64(m) * float64(n) * float64(k) * float64(b.N) / b.Elapsed().Seconds() / 1e9
					b.ReportMetric(gf, "GFLOP/s")
					if peak > 0 {
						b.ReportMetric(gf/(peak*float64(th)), "peak-frac")
					}
				})
			}
		}
	}
}

// gemmOperands are benchmark operands: op(A) m×k and op(B) k×n in
// [-1, 1) laid out for the transpositions, C m×n, and the leading
// dimensions.
func gemmOperands(ta, tb bool, m, k, n int) (a, bb, c []float32, lda, ldb int) {
	r := newRand(1)
	a, bb, c = randSlice(r, m*k, -1, 1), randSlice(r, k*n, -1, 1), make([]float32, m*n)
	lda, ldb = k, n
	if ta {
		lda = m
	}
	if tb {
		ldb = k
	}
	return
}

// benchGEMMRun times Sgemm (SgemmBF16 if bf16) on a pool of th threads.
func benchGEMMRun(b *testing.B, bf16 bool, ta, tb bool, m, k, n, th int) {
	a, bb, c, lda, ldb := gemmOperands(ta, tb, m, k, n)
	pool := NewPool(th)
	defer pool.Close()
	f := pool.Sgemm
	if bf16 {
		f = pool.SgemmBF16
	}
	f(ta, tb, m, n, k, 1, a, lda, bb, ldb, 0, c, n)
	for b.Loop() {
		f(ta, tb, m, n, k, 1, a, lda, bb, ldb, 0, c, n)
	}
}

// BenchmarkKernel times the microkernel alone on packed panels that fit
// in cache (kc = 256, one B panel, mc/mr A panels), the ceiling the
// blocked driver can reach.
func BenchmarkKernel(b *testing.B) {
	for _, l := range asmLevels() {
		kn := l.gemm
		b.Run(l.name, func(b *testing.B) {
			kc, panels := kn.kc, kn.mc/kn.mr
			r := newRand(2)
			pa := randSlice(r, kc*kn.mr*panels, -1, 1)
			pb := randSlice(r, kc*kn.nr, -1, 1)
			c := make([]float32, kn.mr*panels*kn.nr)
			for b.Loop() {
				for i := 0; i < panels; i++ {
					kn.fn(kc, &pa[i*kc*kn.mr], &pb[0], &c[i*kn.mr*kn.nr], kn.nr, 1, 1, kn.mr, kn.nr, true)
				}
			}
			flops := 2 * float64(kc*kn.mr*kn.nr*panels) * float64(b.N)
			gf := flops / b.Elapsed().Seconds() / 1e9
			b.ReportMetric(gf, "GFLOP/s")
			b.ReportMetric(gf/peakGFLOPS(l.name), "peak-frac")
		})
	}
}
