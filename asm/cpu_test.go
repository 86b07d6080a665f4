package asm

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"testing"
)

// withLevel runs f with the kernel level set to level, restoring it.
func withLevel(t testing.TB, level string, f func()) {
	t.Helper()
	old := CPULevel()
	if err := SetCPULevel(level); err != nil {
		t.Fatalf("SetCPULevel(%q): %v", level, err)
	}
	defer SetCPULevel(old)
	f()
}

func TestCPULevels(t *testing.T) {
	ls := SupportedLevels()
	if len(ls) == 0 || ls[len(ls)-1] != LevelGeneric {
		t.Fatalf("SupportedLevels() = %v, want …generic last", ls)
	}
	if !slices.Contains(ls, CPULevel()) {
		t.Errorf("CPULevel() = %q not in %v", CPULevel(), ls)
	}
	old := CPULevel()
	defer SetCPULevel(old)
	for _, l := range ls {
		if err := SetCPULevel(l); err != nil || CPULevel() != l {
			t.Errorf("SetCPULevel(%q) = %v, CPULevel() = %q", l, err, CPULevel())
		}
	}
	SetCPULevel(old)
	for _, bad := range []string{"sse9", "", "avx1024"} {
		if err := SetCPULevel(bad); err == nil {
			t.Errorf("SetCPULevel(%q) succeeded", bad)
		}
		if CPULevel() != old {
			t.Errorf("SetCPULevel(%q) changed the level to %q", bad, CPULevel())
		}
	}
	t.Logf("supported %v, in use %q", ls, CPULevel())
}

// gemmCase is one Sgemm problem with guarded, padded operands.
type gemmCase struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	lda, ldb, ldc  int
	a, b, c        gbuf
}

func (g *gemmCase) String() string {
	return fmt.Sprintf("%s/%dx%dx%d/alpha=%g,beta=%g/ld=%d,%d,%d", layout(g.transA, g.transB), g.m, g.k, g.n, g.alpha, g.beta, g.lda, g.ldb, g.ldc)
}

func layout(ta, tb bool) string {
	s := [2]string{"N", "T"}
	return s[b2i(ta)] + s[b2i(tb)]
}

// matLen is the length of a rows×cols row-major matrix with stride ld.
func matLen(rows, cols, ld int) int {
	if rows == 0 || cols == 0 {
		return 0
	}
	return (rows-1)*ld + cols
}

// stridedMat is a guarded rows×cols matrix with row stride ld whose
// padding between rows holds the NaN sentinel.
func stridedMat(seed uint64, rows, cols, ld int) gbuf {
	r := newRand(seed)
	g := newGuarded(matLen(rows, cols, ld))
	s := g.s()
	for i := 0; i < rows && cols > 0; i++ {
		fill(r, s[i*ld:i*ld+cols], -1, 1)
	}
	return g
}

func newGemmCase(seed uint64, ta, tb bool, m, n, k int, alpha, beta float32, pad int) *gemmCase {
	g := &gemmCase{transA: ta, transB: tb, m: m, n: n, k: k, alpha: alpha, beta: beta}
	ar, ac := m, k
	if ta {
		ar, ac = k, m
	}
	br, bc := k, n
	if tb {
		br, bc = n, k
	}
	g.lda, g.ldb, g.ldc = max(ac, 1)+pad, max(bc, 1)+pad, max(n, 1)+pad
	g.a = stridedMat(seed, ar, ac, g.lda)
	g.b = stridedMat(seed+1, br, bc, g.ldb)
	g.c = stridedMat(seed+2, m, n, g.ldc)
	if beta == 0 {
		// beta = 0 must ignore C, NaNs included.
		s := g.c.s()
		for i := 0; i < m; i++ {
			for j := 0; j < n; j += 3 {
				s[i*g.ldc+j] = float32(math.NaN())
			}
		}
	}
	return g
}

// run applies f to copies of the operands and returns the C buffer.
func (g *gemmCase) run(f func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)) gbuf {
	c := g.c.clone()
	if g.m == 0 || g.n == 0 {
		// The twin assumes a non-empty C; the API returns at once.
		f = Sgemm
	}
	f(g.transA, g.transB, g.m, g.n, g.k, g.alpha, g.a.s(), g.lda, g.b.s(), g.ldb, g.beta, c.s(), g.ldc)
	return c
}

// check compares got with the twin's want: same padding bits, intact
// guards, and each element within a bound on the rounding error of both.
func (g *gemmCase) check(t *testing.T, label string, got, want gbuf) {
	t.Helper()
	checkGuards(t, label, got)
	gs, ws, c0 := got.s(), want.s(), g.c.s()
	a, b := g.a.s(), g.b.s()
	bad := 0
	for i := 0; i < g.m; i++ {
		for j := 0; j < g.ldc && i*g.ldc+j < len(gs); j++ {
			x, w := gs[i*g.ldc+j], ws[i*g.ldc+j]
			if j >= g.n {
				if math.Float32bits(x) != math.Float32bits(c0[i*g.ldc+j]) {
					t.Errorf("%s: padding C[%d][%d] written", label, i, j)
					return
				}
				continue
			}
			// Error bound: both results are within ~(k+2)·eps·S of the
			// exact value, S = Σ|alpha·a·b| + |beta·c|.
			var s float64
			for p := 0; p < g.k; p++ {
				var av, bv float32
				if g.transA {
					av = a[p*g.lda+i]
				} else {
					av = a[i*g.lda+p]
				}
				if g.transB {
					bv = b[j*g.ldb+p]
				} else {
					bv = b[p*g.ldb+j]
				}
				s += math.Abs(float64(av) * float64(bv))
			}
			s *= math.Abs(float64(g.alpha))
			if g.beta != 0 {
				s += math.Abs(float64(g.beta) * float64(c0[i*g.ldc+j]))
			}
			tol := 2 * float64(g.k+4) * 0x1p-24 * s
			if math.IsNaN(float64(x)) || math.Abs(float64(x)-float64(w)) > tol {
				if bad < 3 {
					t.Errorf("%s: C[%d][%d] = %v, twin %v (tol %g)", label, i, j, x, w, tol)
				}
				bad++
			}
		}
	}
	if bad > 3 {
		t.Errorf("%s: %d mismatches", label, bad)
	}
}

type gemmFn = func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)

// gemmShapes covers empty and unit sizes, vector-lane tails (8, 16),
// microkernel tails (mr = 6, 14; nr = 16, 32), k across the kc = 256
// boundary, and blocks larger than mc and nc.
var gemmShapes = [][3]int{ // m, n, k
	{0, 5, 3}, {4, 0, 3}, {3, 4, 0}, {1, 1, 1}, {1, 7, 1}, {2, 3, 5},
	{6, 16, 8}, {7, 17, 9}, {14, 32, 16}, {13, 31, 15}, {15, 33, 17},
	{5, 9, 31}, {28, 64, 33}, {29, 65, 1}, {12, 48, 100},
	{43, 37, 255}, {20, 40, 256}, {21, 47, 257}, {3, 100, 600},
	{100, 3, 513}, {350, 70, 40}, {41, 290, 70},
}

// gemmLargeShapes exceed mc (336 rows), nc (2048 columns) and kc.
var gemmLargeShapes = [][3]int{{345, 129, 300}, {3, 2100, 9}, {130, 2070, 20}}

var gemmScalars = [][2]float32{{1, 0}, {1, 1}, {0.5, -2}, {-1.25, 0}, {0, 0.5}, {0, 0}, {2, 1}}

func forEachGemmCase(t *testing.T, f func(g *gemmCase)) {
	seed := uint64(1)
	for si, sh := range append(slices.Clone(gemmShapes), gemmLargeShapes...) {
		for lay := 0; lay < 4; lay++ {
			ta, tb := lay&2 != 0, lay&1 != 0
			for vi, ab := range gemmScalars {
				// All scalar pairs on small shapes; rotate on larger ones.
				if sh[0]*sh[1]*sh[2] > 20000 && vi != (si+lay)%len(gemmScalars) && vi != 1 {
					continue
				}
				pad := (si + lay + vi) % 3 * 3
				seed += 3
				f(newGemmCase(seed, ta, tb, sh[0], sh[1], sh[2], ab[0], ab[1], pad))
			}
		}
	}
}

// TestSgemmLevels checks Sgemm and SgemmST at every
// supported CPU level against the pure-Go twin sgemmGeneric.
func TestSgemmLevels(t *testing.T) {
	for _, level := range SupportedLevels() {
		t.Run(level, func(t *testing.T) {
			withLevel(t, level, func() {
				n := 0
				forEachGemmCase(t, func(g *gemmCase) {
					want := g.run(sgemmGeneric)
					g.check(t, "Sgemm "+g.String(), g.run(Sgemm), want)
					if n%3 == 0 {
						g.check(t, "SgemmST "+g.String(), g.run(SgemmST), want)
					}
					n++
				})
			})
		})
	}
}

// TestSgemmThreadsBitIdentical checks that Sgemm's result does not
// depend on the thread count, bit for bit, and equals SgemmST's.
func TestSgemmThreadsBitIdentical(t *testing.T) {
	// the last three reach the shared op(B) (from sharedBMin threads),
	// its grid split and pieces past a column block (n > nc)
	shapes := [][3]int{{97, 83, 300}, {30, 700, 64}, {700, 30, 64}, {64, 64, 64}, {200, 257, 513}, {256, 1024, 300}, {150, 2100, 40}, {1000, 70, 33}}
	for _, level := range SupportedLevels() {
		withLevel(t, level, func() {
			for i, sh := range shapes {
				for lay := 0; lay < 4; lay++ {
					g := newGemmCase(uint64(100+i*4+lay), lay&2 != 0, lay&1 != 0, sh[0], sh[1], sh[2], 0.75, 0.5, lay)
					ref := g.run(SgemmST)
					for _, th := range []int{1, 2, 3, 4, 7, 16} {
						var got gbuf
						withThreads(t, th, func(p *Pool) { got = g.run(p.Sgemm) })
						if d := firstBitDiff(got.full, ref.full); d >= 0 {
							t.Errorf("%s %s threads=%d: element %d differs from SgemmST: %v vs %v", level, g, th, d-guardLen, got.full[d], ref.full[d])
						}
					}
				}
			}
		})
	}
}

// TestSgemmNoAlloc checks that the steady state allocates nothing.
func TestSgemmNoAlloc(t *testing.T) {
	g := newGemmCase(5, false, true, 100, 90, 300, 1, 0, 1)
	c := g.c.clone()
	a, b := g.a.s(), g.b.s()
	for _, level := range SupportedLevels() {
		withLevel(t, level, func() {
			f := func() {
				Sgemm(false, true, g.m, g.n, g.k, 1, a, g.lda, b, g.ldb, 0, c.s(), g.ldc)
				SgemmST(false, true, g.m, g.n, g.k, 1, a, g.lda, b, g.ldb, 1, c.s(), g.ldc)
			}
			f()
			if n := testing.AllocsPerRun(5, f); n != 0 {
				t.Errorf("%s: %v allocations per run", level, n)
			}
		})
	}
}

// TestGEMMThroughputGuard catches a silent fallback to slow code: in
// one process it measures the FMA peak probe and a 512³ Sgemm on one
// thread at the best CPU level (best of many interleaved runs, timed on
// the thread's CPU clock so time descheduled on a loaded machine does
// not count) and requires at least 30% of the probe's peak and 3× the
// pure-Go twin. The bounds are loose on purpose: the machine is shared
// and noisy (cache pollution by other processes still slows runs).
func TestGEMMThroughputGuard(t *testing.T) {
	if testing.Short() {
		t.Skip("timing test skipped in -short mode")
	}
	level := SupportedLevels()[0]
	if level == LevelGeneric {
		t.Skip("no assembly level here (purego build or no AVX2)")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const n = 512
	r := newRand(11)
	a := randSlice(r, n*n, -1, 1)
	b := randSlice(r, n*n, -1, 1)
	c := make([]float32, n*n)
	var peak, asm, twin float64
	withThreads(t, 1, func(*Pool) {
		withLevel(t, level, func() {
			for round := 0; round < 15; round++ {
				t0 := threadCPU()
				f, _ := peakFMA(level, 1<<14)
				peak = max(peak, float64(f)/(threadCPU()-t0).Seconds()/1e9)
				t0 = threadCPU()
				Sgemm(false, false, n, n, n, 1, a, n, b, n, 0, c, n)
				asm = max(asm, 2*n*n*n/(threadCPU()-t0).Seconds()/1e9)
			}
		})
		// The twin on a quarter of the work (n/4 rows of C).
		for round := 0; round < 2; round++ {
			t0 := threadCPU()
			sgemmGeneric(false, false, n/4, n, n, 1, a, n, b, n, 0, c, n)
			twin = max(twin, 2*n*n*n/4/(threadCPU()-t0).Seconds()/1e9)
		}
	})
	t.Logf("%s: peak %.1f GFLOP/s, Sgemm 512³ %.1f GFLOP/s (%.0f%% of peak), twin %.2f GFLOP/s (%.1f×)",
		level, peak, asm, 100*asm/peak, twin, asm/twin)
	if asm < 0.30*peak {
		t.Errorf("Sgemm at %.1f GFLOP/s is under 30%% of the %s FMA peak %.1f", asm, level, peak)
	}
	if asm < 3*twin {
		t.Errorf("Sgemm at %.1f GFLOP/s is under 3× the pure-Go twin's %.2f", asm, twin)
	}
}
