package asm

import (
	"fmt"
	"testing"
)

// TestSplitKGroups pins which products are summed in token groups and
// how many: the groups must depend on the shape only.
func TestSplitKGroups(t *testing.T) {
	for _, c := range []struct {
		ta, tb  bool
		m, n, k int
		want    int
	}{
		{true, false, 256, 256, 2047, 1},
		{true, false, 256, 256, 2048, 2},
		{true, false, 256, 256, 3071, 2},
		{true, false, 256, 256, 3072, 3},
		{true, false, 1024, 256, 16384, 16},
		{true, false, 1024, 256, 1 << 20, 16},
		{true, false, 2048, 2048, 16384, 2},   // the partials' budget: one of 4M floats
		{true, false, 4096, 2048, 16384, 1},   // a partial past the budget
		{false, false, 256, 256, 16384, 1},    // not a weight gradient's layout
		{true, true, 256, 256, 16384, 1},      //
		{false, true, 256, 256, 16384, 1},     //
		{true, false, 8192, 256, 4096, 3},     // 2M floats a partial
		{true, false, 1, 1, 1 << 20, 16},      //
		{true, false, 3, 5, splitKMin * 2, 2}, //
	} {
		if got := splitKGroups(c.ta, c.tb, c.m, c.n, c.k); got != c.want {
			t.Errorf("splitKGroups(%v, %v, %d, %d, %d) = %d, want %d", c.ta, c.tb, c.m, c.n, c.k, got, c.want)
		}
	}
	// The groups cover k in order, none empty.
	for _, k := range []int{2048, 2049, 3071, 16383, 100003} {
		g := splitKGroups(true, false, 7, 9, k)
		if splitKFrom(k, g, 0) != 0 || splitKFrom(k, g, g) != k {
			t.Errorf("k=%d: groups cover [%d, %d)", k, splitKFrom(k, g, 0), splitKFrom(k, g, g))
		}
		for i := range g {
			if n := splitKFrom(k, g, i+1) - splitKFrom(k, g, i); n < splitKMin {
				t.Errorf("k=%d: group %d of %d has %d tokens", k, i, g, n)
			}
		}
	}
}

// TestSgemmSplitK checks the products summed in token groups (weight
// gradients: Aᵀ·B over ≥ 2,048 tokens) at every CPU level: against the
// float64 reference with guards around every operand, and bit for bit
// against SgemmST: SgemmSTIn with one buffer reused throughout, real
// pools of 2 and 3 threads, and simulated widths up to 64 (a recording
// runs a width's chunks one after another), where the cells of a group,
// the groups of a worker and the shares are split every way: uneven
// tiles, more workers than cells, widths prime to the groups.
func TestSgemmSplitK(t *testing.T) {
	shapes := [][3]int{ // m, n, k
		{1, 1, 2048}, {5, 3, 2100}, {17, 33, 3071}, {70, 90, 2048},
		{129, 65, 4099}, {33, 200, 2053}, {3, 7, 17000},
	}
	if testing.Short() {
		shapes = shapes[:5]
	}
	oldLevel := CPULevel()
	defer SetCPULevel(oldLevel)
	var own GemmBuf // one caller's buffer, reused across every product
	for _, level := range SupportedLevels() {
		if err := SetCPULevel(level); err != nil {
			t.Fatal(err)
		}
		for i, sh := range shapes {
			p := newRefGemm(uint64(7000+i), true, false, sh[0], sh[1], sh[2], i%3*2)
			if cur.gemm != nil && splitKGroups(true, false, p.m, p.n, p.k) < 2 {
				t.Fatalf("%v: not split", p)
			}
			for _, ab := range []alphaBeta{{1, 1}, {1, 0}, {-2, 0.3}} {
				label := fmt.Sprintf("%s %v alpha=%v beta=%v", level, p, ab.alpha, ab.beta)
				want := p.run(SgemmST, ab.alpha, ab.beta)
				p.check(t, label+" SgemmST", want, ab.alpha, ab.beta)
				in := p.run(func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
					SgemmSTIn(&own, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
				}, ab.alpha, ab.beta)
				if d := firstBitDiff(in.full, want.full); d >= 0 {
					t.Errorf("%s SgemmSTIn: element %d = %v, SgemmST gives %v", label, d-guardLen, in.full[d], want.full[d])
				}
				for th := 2; th <= 3; th++ {
					withThreads(t, th, func(pool *Pool) {
						got := p.run(pool.Sgemm, ab.alpha, ab.beta)
						p.check(t, fmt.Sprintf("%s threads=%d", label, th), got, ab.alpha, ab.beta)
						if d := firstBitDiff(got.full, want.full); d >= 0 {
							t.Errorf("%s threads=%d: element %d = %v, SgemmST gives %v", label, th, d-guardLen, got.full[d], want.full[d])
						}
					})
				}
				withThreads(t, 2, func(pool *Pool) {
					for _, w := range []int{4, 5, 7, 16, 64} {
						pool.Record(w)
						got := p.run(pool.Sgemm, ab.alpha, ab.beta)
						pool.Stop()
						p.check(t, fmt.Sprintf("%s width=%d", label, w), got, ab.alpha, ab.beta)
						if d := firstBitDiff(got.full, want.full); d >= 0 {
							t.Errorf("%s width=%d: element %d = %v, SgemmST gives %v", label, w, d-guardLen, got.full[d], want.full[d])
						}
					}
				})
			}
		}
	}
}

// TestSgemmBF16SplitK checks SgemmBF16's weight gradients over ≥ 2,048
// tokens, summed in token groups at every CPU level: against the twin
// summed the same way (each group an SgemmBF16 over its tokens, group 0
// into C with beta, the others from zero, folded in order), bit for bit
// where the twin is exact (alpha = 1, beta = 0; elsewhere within its
// fused multiply-add's double-rounding ties), with guards around every
// operand; and bit for bit across real pools of 2 and 3 threads and
// simulated widths up to 64.
func TestSgemmBF16SplitK(t *testing.T) {
	shapes := [][3]int{{1, 1, 2048}, {5, 3, 2100}, {17, 33, 3071}, {70, 90, 2048}, {33, 200, 4099}}
	if testing.Short() {
		shapes = shapes[:4]
	}
	oldLevel := CPULevel()
	defer SetCPULevel(oldLevel)
	for _, level := range SupportedLevels() {
		if err := SetCPULevel(level); err != nil {
			t.Fatal(err)
		}
		for i, sh := range shapes {
			p := newRefGemm(uint64(9000+i), true, false, sh[0], sh[1], sh[2], i%3*2)
			groups := splitKGroups(true, false, p.m, p.n, p.k)
			if groups < 2 {
				t.Fatalf("%v: not split", p)
			}
			for _, ab := range []alphaBeta{{1, 0}, {1, 1}, {-2, 0.3}} {
				label := fmt.Sprintf("%s %s %v alpha=%v beta=%v", level, BF16Level(), p, ab.alpha, ab.beta)
				// the twin, group by group
				want := p.initC(ab.beta)
				a, b, c := p.a.s(), p.b.s(), want.s()
				sgemmBF16Generic(true, false, p.m, p.n, splitKFrom(p.k, groups, 1), ab.alpha, a, p.lda, b, p.ldb, ab.beta, c, p.ldc)
				part := make([]float32, p.m*p.n)
				for g := 1; g < groups; g++ {
					k0, k1 := splitKFrom(p.k, groups, g), splitKFrom(p.k, groups, g+1)
					sgemmBF16Generic(true, false, p.m, p.n, k1-k0, ab.alpha, a[k0*p.lda:], p.lda, b[k0*p.ldb:], p.ldb, 0, part, p.n)
					for r := 0; r < p.m; r++ {
						for q := 0; q < p.n; q++ {
							c[r*p.ldc+q] += part[r*p.n+q]
						}
					}
				}
				got := p.run(SgemmBF16, ab.alpha, ab.beta)
				checkGuards(t, label, got, p.a, p.b)
				tol := 1.2e-7
				if ab.alpha == 1 && ab.beta == 0 {
					tol = 0
				}
				for q, g := range got.full {
					if !closeTo(float64(g), float64(want.full[q]), tol) {
						t.Errorf("%s: element %d = %v, the twin in groups %v", label, q-guardLen, g, want.full[q])
						break
					}
				}
				for th := 2; th <= 3; th++ {
					withThreads(t, th, func(pool *Pool) {
						if d := firstBitDiff(p.run(pool.SgemmBF16, ab.alpha, ab.beta).full, got.full); d >= 0 {
							t.Errorf("%s threads=%d: element %d differs from one thread's", label, th, d-guardLen)
						}
					})
				}
				withThreads(t, 2, func(pool *Pool) {
					for _, w := range []int{4, 5, 7, 16, 64} {
						pool.Record(w)
						c := p.run(pool.SgemmBF16, ab.alpha, ab.beta)
						pool.Stop()
						if d := firstBitDiff(c.full, got.full); d >= 0 {
							t.Errorf("%s width=%d: element %d differs from one thread's", label, w, d-guardLen)
						}
					}
				})
			}
		}
	}
}
