package asm

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// BenchmarkGEMMPerfTable prints a table of median GFLOP/s and fraction
// of the in-run FMA peak for the benchmark shapes; run it once with
// go test -run=NONE -bench=GEMMPerfTable -benchtime=1x ./asm/.
// CLINIC_GEMM_PERF=small runs the small shapes only, =big the big ones,
// =wgrad the big ones and the TN weight-gradient shapes (unset: all);
// CLINIC_GEMM_FILTER=substring picks shapes. Each shape is timed in
// short repeated runs interleaved with the peak probe, so load on the
// machine hits both alike. With one thread the thread's CPU clock is
// used as well (column cpu), which excludes time the thread was
// descheduled; with two threads the process CPU clock gives the
// per-core efficiency.
func BenchmarkGEMMPerfTable(b *testing.B) {
	mode := os.Getenv("CLINIC_GEMM_PERF")
	if mode == "" {
		mode = "1"
	}
	level := SupportedLevels()[0]
	if level == LevelGeneric {
		b.Skip("no assembly level")
	}
	filter := os.Getenv("CLINIC_GEMM_FILTER")
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	reps := 11
	var lines []string
	run := func(name string, th int, flops float64, f func()) {
		if filter != "" && !strings.Contains(name, filter) {
			return
		}
		f()
		// Aim for ~8 ms per sample.
		t0 := time.Now()
		f()
		per := time.Since(t0)
		inner := max(1, int(8*time.Millisecond/max(per, time.Microsecond)))
		var peaks, cpeaks, walls, cpus, pcpus []float64
		for r := 0; r < reps; r++ {
			c0, p0 := threadCPU(), time.Now()
			pf, _ := peakFMA(level, 1<<13)
			peaks = append(peaks, float64(pf)/time.Since(p0).Seconds()/1e9)
			cpeaks = append(cpeaks, float64(pf)/(threadCPU()-c0).Seconds()/1e9)
			c0 = threadCPU()
			q0 := processCPU()
			w0 := time.Now()
			for i := 0; i < inner; i++ {
				f()
			}
			w := time.Since(w0).Seconds()
			c := (threadCPU() - c0).Seconds()
			pcpus = append(pcpus, flops*float64(inner)/(processCPU()-q0).Seconds()/1e9)
			walls = append(walls, flops*float64(inner)/w/1e9)
			cpus = append(cpus, flops*float64(inner)/c/1e9)
		}
		pk, wl := median(peaks), median(walls)
		l := fmt.Sprintf("%-30s %6.1f GFLOP/s %5.3f peak (peak %5.1f)", name, wl, wl/(pk*float64(th)), pk)
		cpk := median(cpeaks)
		if th == 1 {
			cp := median(cpus)
			l += fmt.Sprintf(" | cpu %6.1f %5.3f best %6.1f %5.3f", cp, cp/cpk, slices.Max(cpus), slices.Max(cpus)/slices.Max(cpeaks))
		} else {
			// Process CPU time: the per-core efficiency (idle waits at
			// barriers sleep, so imbalance does not show here).
			pc := median(pcpus)
			l += fmt.Sprintf(" | process-cpu %6.1f %5.3f per core", pc, pc/cpk)
		}
		lines = append(lines, l)
		b.Log(l)
	}
	if mode != "small" {
		for _, lay := range []string{"NN", "NT", "TN"} {
			ta, tb := lay[0] == 'T', lay[1] == 'T'
			for _, sh := range benchShapes {
				m, k, n := sh[0], sh[1], sh[2]
				a, bb, c, lda, ldb := gemmOperands(ta, tb, m, k, n)
				for _, th := range []int{1, 2} {
					pool := NewPool(th)
					run(fmt.Sprintf("%s/%dx%dx%d/threads=%d", lay, m, k, n, th), th, 2*float64(m*n*k), func() {
						pool.Sgemm(ta, tb, m, n, k, 1, a, lda, bb, ldb, 0, c, n)
					})
					pool.Close()
				}
			}
		}
	}
	if mode == "1" || mode == "wgrad" {
		// Weight-gradient products of the training step: TN, k = B·T.
		for _, sh := range [][3]int{{256, 2048, 256}, {768, 2048, 256}, {1024, 2048, 256}, {256, 2048, 1024}} {
			m, k, n := sh[0], sh[1], sh[2]
			a, lda, bb, ldb, c := smallOperands(true, false, m, k, n, 0)
			for _, th := range []int{1, 2} {
				pool := NewPool(th)
				run(fmt.Sprintf("TN/%dx%dx%d/threads=%d", m, k, n, th), th, 2*float64(m*n*k), func() {
					pool.Sgemm(true, false, m, n, k, 1, a, lda, bb, ldb, 1, c, n)
				})
				pool.Close()
			}
		}
	}
	if mode != "big" && mode != "wgrad" {
		for _, s := range smallShapes {
			ta, tb := s.lay[0] == 'T', s.lay[1] == 'T'
			m, k, n := s.m, s.k, s.n
			a, lda, bb, ldb, c := smallOperands(ta, tb, m, k, n, s.ld)
			run(smallName(s.lay, m, k, n, s.ld), 1, 2*float64(m*n*k), func() {
				SgemmST(ta, tb, m, n, k, 1, a, lda, bb, ldb, 0, c, n)
			})
		}
	}
	fmt.Fprintln(os.Stderr, strings.Join(lines, "\n"))
	b.ReportMetric(float64(len(lines)), "shapes")
}

func median(x []float64) float64 {
	s := slices.Clone(x)
	slices.Sort(s)
	return s[len(s)/2]
}
