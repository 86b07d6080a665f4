package asm

import (
	"fmt"
	"slices"
	"sort"
	"testing"
	"time"
)

// kernelCase is one kernel on realistic operands, runnable at any level.
type kernelCase struct {
	name  string
	bytes float64 // memory read + written per call
	flops float64 // floating-point operations per call (0: report GB/s only)
	// make returns a closure running the kernel once with ks's
	// implementation.
	make func(ks *elementwise) func()
}

// kernelCases builds the benchmark cases for T tokens of width d = 512
// (T = 128: the training step's shapes; elementwise kernels run on a
// T×4d MLP activation, attention kernels on a T×T score matrix).
func kernelCases(T int) []kernelCase {
	r := newRand(7)
	const d = 512
	n := T * 4 * d
	rows := T
	x := randSlice(r, n, -3, 3)
	y := make([]float32, n)
	g := randSlice(r, n, -1, 1)
	dx := make([]float32, n)
	m := randSlice(r, n, -0.1, 0.1)
	v := randSlice(r, n, 0, 0.01)
	w := randSlice(r, n, -1, 1)
	gamma := randSlice(r, d, 0.5, 1.5)
	beta := randSlice(r, d, -1, 1)
	mean := make([]float32, rows)
	rstd := make([]float32, rows)
	layerNormGeneric(y[:rows*d], mean, rstd, x[:rows*d], gamma, beta, d, 1e-5)
	att := randSlice(r, T*T, -5, 5)
	probs := make([]float32, len(att))
	softmaxCausalGeneric(probs, att, T, 0.125, 0)
	dg, db := make([]float32, d), make([]float32, d)
	const V = 4096 // vocabulary
	logits := randSlice(r, T*V, -5, 5)
	dlogits := make([]float32, T*V)
	targets := make([]int32, T)
	for i := range targets {
		targets[i] = int32(r.IntN(V))
	}
	f := float64(n)
	ln := float64(rows * d)
	return []kernelCase{
		{"Dropout", 8 * f, 0, func(ks *elementwise) func() { return func() { ks.Dropout(y, x, 0.1, 0x1234, 0) } }},
		{"ReLU", 8 * f, f, func(ks *elementwise) func() { return func() { ks.ReLU(y, x) } }},
		{"ReLUBackward", 12 * f, f, func(ks *elementwise) func() { return func() { ks.ReLUBackward(dx, g, x) } }},
		{"GELU", 8 * f, 0, func(ks *elementwise) func() { return func() { ks.GELU(y, x) } }},
		{"GELUBackward", 12 * f, 0, func(ks *elementwise) func() { return func() { ks.GELUBackward(dx, g, x) } }},
		{"Adam", 28 * f, 14 * f, func(ks *elementwise) func() {
			return func() { ks.Adam(w, g, m, v, 0.9, 0.999, 1e-3, 1.1, 1e-8, 1e-5) }
		}},
		{"LayerNorm", 8 * ln, 0, func(ks *elementwise) func() {
			return func() { ks.LayerNorm(y[:rows*d], mean, rstd, x[:rows*d], gamma, beta, d, 1e-5) }
		}},
		{"LayerNormBackward", 12 * ln, 0, func(ks *elementwise) func() {
			return func() { ks.LayerNormBackward(dx[:rows*d], g[:rows*d], x[:rows*d], mean, rstd, gamma, d) }
		}},
		{"LayerNormParamGrad", 8 * ln, 4 * ln, func(ks *elementwise) func() {
			return func() { ks.LayerNormParamGrad(dg, db, g, x, mean, rstd, rows, d) }
		}},
		{"SoftmaxCausal", 8 * float64(len(att)), 0, func(ks *elementwise) func() {
			return func() { ks.SoftmaxCausal(y[:len(att)], att, T, 0.125, 0) }
		}},
		{"SoftmaxBackward", 12 * float64(len(att)), 0, func(ks *elementwise) func() {
			return func() { ks.SoftmaxBackward(dx[:len(att)], g[:len(att)], probs, T, 0.125) }
		}},
		{"SoftmaxCrossEntropy", 8 * float64(T*V), 0, func(ks *elementwise) func() {
			// One row per call, as the model calls it.
			return func() {
				for i := range targets {
					ks.SoftmaxCrossEntropy(dlogits[i*V:i*V+V], logits[i*V:i*V+V], targets[i:i+1], V, 0.1, 1)
				}
			}
		}},
		{"ScaleAddRows", 12 * ln, 2 * ln, func(ks *elementwise) func() {
			return func() { ks.ScaleAddRows(y[:rows*d], gamma, x[:rows*d], g[:rows*d], d) }
		}},
		{"ColSum", 4 * ln, ln, func(ks *elementwise) func() { return func() { ks.ColSum(dg, x, rows, d) } }},
		{"ColDot", 8 * ln, 2 * ln, func(ks *elementwise) func() { return func() { ks.ColDot(dg, x, g, rows, d) } }},
		{"ReLUDropout", 8 * f, 0, func(ks *elementwise) func() { return func() { ks.ReLUDropout(y, x, 0.1, 0x1234, 0) } }},
		{"ReLUDropoutBackward", 12 * f, 0, func(ks *elementwise) func() {
			return func() { ks.ReLUDropoutBackward(dx, g, x, 0.1, 0x1234, 0) }
		}},
		{"GELUDropout", 8 * f, 0, func(ks *elementwise) func() { return func() { ks.GELUDropout(y, x, 0.1, 0x1234, 0) } }},
		{"GELUDropoutBackward", 12 * f, 0, func(ks *elementwise) func() {
			return func() { ks.GELUDropoutBackward(dx, g, x, 0.1, 0x1234, 0) }
		}},
		{"DropoutScaleAddRows", 12 * ln, 0, func(ks *elementwise) func() {
			return func() { ks.DropoutScaleAddRows(y[:rows*d], gamma, x[:rows*d], g[:rows*d], d, 0.1, 0x1234, 0) }
		}},
		{"Scale", 8 * f, f, func(ks *elementwise) func() { return func() { ks.Scale(1, y) } }},
		{"SumSq", 4 * f, 2 * f, func(ks *elementwise) func() { return func() { ks.SumSq(x) } }},
	}
}

// benchLevels lists the generic level first (so that its time is known
// when the assembly levels report their speed-up), then the others.
func benchLevels() []*level {
	return append([]*level{genericLevel}, asmLevels()...)
}

// BenchmarkKernels runs every kernel at every supported level on one
// thread: GB/s (bytes read + written), GFLOP/s where meaningful, and
// x-twin, the speed-up over the generic level measured in the same run
// (when its sub-benchmark ran).
func BenchmarkKernels(b *testing.B) {
	twin := map[string]float64{} // kernel → ns/op at level generic
	for _, kc := range kernelCases(128) {
		b.Run(kc.name, func(b *testing.B) {
			for _, l := range benchLevels() {
				b.Run(l.name, func(b *testing.B) {
					f := kc.make(&l.elementwise)
					f()
					for b.Loop() {
						f()
					}
					ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
					b.ReportMetric(kc.bytes/ns, "GB/s")
					if kc.flops > 0 {
						b.ReportMetric(kc.flops/ns, "GFLOP/s")
					}
					if l == genericLevel {
						twin[kc.name] = ns
					} else if t, ok := twin[kc.name]; ok {
						b.ReportMetric(t/ns, "x-twin")
					}
				})
			}
		})
	}
}

// timeBest returns the best time of f over rounds runs.
func timeBest(f func(), rounds int) time.Duration {
	best := time.Duration(1 << 62)
	for range rounds {
		t0 := time.Now()
		f()
		best = min(best, time.Since(t0))
	}
	return best
}

// TestKernelThroughputGuard catches a silent fallback to Go: at the
// best CPU level, on one thread and mid-size operands (a quarter of the
// training step's: T = 32, mostly L2-resident), every kernel with assembly must run
// at least 2× its pure-Go twin, best of interleaved runs in one process.
// The assembly is 3-30× faster, so the bound is loose enough for a
// loaded machine.
func TestKernelThroughputGuard(t *testing.T) {
	if testing.Short() {
		t.Skip("timing test skipped in -short mode")
	}
	level := SupportedLevels()[0]
	if level == LevelGeneric {
		t.Skip("no assembly level here (purego build or no AVX2)")
	}
	l := supported[0]
	// Kernels without assembly: nothing to guard.
	var skip []string
	var lines []string
	withThreads(t, 1, func(*Pool) {
		for _, kc := range kernelCases(32) {
			if slices.Contains(skip, kc.name) {
				continue
			}
			fa, fg := kc.make(&l.elementwise), kc.make(&genericLevel.elementwise)
			var ta, tg time.Duration = 1 << 62, 1 << 62
			for range 5 {
				ta = min(ta, timeBest(fa, 3))
				tg = min(tg, timeBest(fg, 1))
			}
			ratio := float64(tg) / float64(ta)
			lines = append(lines, fmt.Sprintf("%-20s %8.1f µs  twin %9.1f µs  %5.1f×", kc.name, float64(ta)/1e3, float64(tg)/1e3, ratio))
			if ratio < 2 {
				t.Errorf("%s at %s: %v vs the twin's %v, only %.2f× (want ≥ 2×)", kc.name, level, ta, tg, ratio)
			}
		}
	})
	sort.Strings(lines)
	for _, l := range lines {
		t.Log(l)
	}
}
