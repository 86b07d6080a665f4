package asm

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"
)

// Sgemm and SgemmST at every supported CPU level (the pure-Go twin
// included) against a naive float64 triple loop, independent of any
// implementation in the package.

// refGemm is one problem: op(A) m×k, op(B) k×n, padded leading
// dimensions, and its float64 reference product.
type refGemm struct {
	ta, tb        bool
	m, n, k       int
	lda, ldb, ldc int
	a, b, c0      gbuf      // padding of a and b, and guards, hold NaN
	prod, abs     []float64 // op(A)·op(B) and Σ_p |a_ip·b_pj|, m×n
}

func (p *refGemm) String() string {
	l := [2]string{"N", "T"}
	var ia, ib int
	if p.ta {
		ia = 1
	}
	if p.tb {
		ib = 1
	}
	return fmt.Sprintf("%s%s m=%d n=%d k=%d ld=%d,%d,%d", l[ia], l[ib], p.m, p.n, p.k, p.lda, p.ldb, p.ldc)
}

// refMat is a guarded rows×cols matrix with row stride ld, padding NaN,
// of the minimal length (rows−1)·ld + cols, so that a read past the last
// row hits a guard.
func refMat(r interface{ Float64() float64 }, rows, cols, ld int) gbuf {
	n := 0
	if rows > 0 && cols > 0 {
		n = (rows-1)*ld + cols
	}
	g := newGuarded(n)
	s := g.s()
	for i := 0; i < rows && cols > 0; i++ {
		for j := 0; j < cols; j++ {
			s[i*ld+j] = float32(2*r.Float64() - 1)
		}
	}
	return g
}

func newRefGemm(seed uint64, ta, tb bool, m, n, k, pad int) *refGemm {
	r := newRand(seed)
	p := &refGemm{ta: ta, tb: tb, m: m, n: n, k: k}
	ar, ac := m, k
	if ta {
		ar, ac = k, m
	}
	br, bc := k, n
	if tb {
		br, bc = n, k
	}
	p.lda, p.ldb, p.ldc = max(ac, 1)+pad, max(bc, 1)+(pad*2)%5, max(n, 1)+(pad*3)%7
	p.a, p.b, p.c0 = refMat(r, ar, ac, p.lda), refMat(r, br, bc, p.ldb), refMat(r, m, n, p.ldc)
	a, b := p.a.s(), p.b.s()
	p.prod, p.abs = make([]float64, m*n), make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s, q float64
			for l := 0; l < k; l++ {
				var av, bv float64
				if ta {
					av = float64(a[l*p.lda+i])
				} else {
					av = float64(a[i*p.lda+l])
				}
				if tb {
					bv = float64(b[j*p.ldb+l])
				} else {
					bv = float64(b[l*p.ldb+j])
				}
				s += av * bv
				q += math.Abs(av * bv)
			}
			p.prod[i*n+j], p.abs[i*n+j] = s, q
		}
	}
	return p
}

// initC is the C operand for beta: for beta = 0 every element C may use
// is NaN, which must be ignored.
func (p *refGemm) initC(beta float32) gbuf {
	c := p.c0.clone()
	if beta == 0 {
		s := c.s()
		for i := 0; i < p.m; i++ {
			for j := 0; j < p.n; j++ {
				s[i*p.ldc+j] = float32(math.NaN())
			}
		}
	}
	return c
}

type sgemmFunc = func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)

func (p *refGemm) run(f sgemmFunc, alpha, beta float32) gbuf {
	c := p.initC(beta)
	f(p.ta, p.tb, p.m, p.n, p.k, alpha, p.a.s(), p.lda, p.b.s(), p.ldb, beta, c.s(), p.ldc)
	return c
}

// check compares C with alpha·prod + beta·C0. A float32 sum of k
// products, scaled and added to beta·c, is within (k+2)·u·S of the exact
// value, S = |alpha|·Σ|a·b| + |beta·c| and u = 2⁻²⁴; the bound used is
// twice that. Padding columns of C must keep their bits, and A and B
// must be unchanged.
func (p *refGemm) check(t *testing.T, label string, c gbuf, alpha, beta float32) {
	t.Helper()
	checkGuards(t, label, c, p.a, p.b)
	got, c0 := c.s(), p.c0.s()
	bad := 0
	for i := 0; i < p.m; i++ {
		for j := 0; j < p.ldc && i*p.ldc+j < len(got); j++ {
			x := got[i*p.ldc+j]
			if j >= p.n {
				if math.Float32bits(x) != math.Float32bits(c0[i*p.ldc+j]) {
					t.Errorf("%s: padding C[%d][%d] written: %v", label, i, j, x)
					return
				}
				continue
			}
			want := float64(alpha) * p.prod[i*p.n+j]
			s := math.Abs(float64(alpha)) * p.abs[i*p.n+j]
			if beta != 0 {
				cb := float64(beta) * float64(c0[i*p.ldc+j])
				want += cb
				s += math.Abs(cb)
			}
			tol := 2 * float64(p.k+2) * 0x1p-24 * s
			if far(float64(x)-want, tol) {
				if bad < 3 {
					t.Errorf("%s: C[%d][%d] = %v, want %v (tol %.3g)", label, i, j, x, want, tol)
				}
				bad++
			}
		}
	}
	if bad > 3 {
		t.Errorf("%s: %d elements off", label, bad)
	}
}

// refGemmProblems builds the problems: edge cases, random shapes from a
// list of awkward sizes, and a few large ones (which also cross Sgemm's
// threshold for going parallel and the blocking of the assembly path).
func refGemmProblems(short bool) []*refGemm {
	dims := []int{0, 1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 31, 33, 64, 65, 100, 129}
	shapes := [][3]int{
		{0, 5, 3}, {4, 0, 3}, {3, 4, 0}, {0, 0, 0}, {1, 1, 1}, {1, 17, 1}, {17, 1, 33},
		{257, 130, 190}, {100, 129, 65}, {65, 129, 64}, {129, 33, 64},
		// Past the blocked driver's kc (256), mc (≥ 240) and nc (2048).
		{9, 40, 300}, {17, 5, 513}, {350, 20, 17}, {5, 2100, 3},
	}
	r := newRand(2024)
	nrand := 48
	if short {
		nrand = 20
	}
	for i := 0; i < nrand; i++ {
		shapes = append(shapes, [3]int{dims[r.IntN(len(dims))], dims[r.IntN(len(dims))], dims[r.IntN(len(dims))]})
	}
	var ps []*refGemm
	for i, sh := range shapes {
		for lay := 0; lay < 4; lay++ {
			ps = append(ps, newRefGemm(uint64(1000+4*i+lay), lay&2 != 0, lay&1 != 0, sh[0], sh[1], sh[2], (i+lay)%4*2))
		}
	}
	return ps
}

type alphaBeta struct{ alpha, beta float32 }

// scalarsFor lists the (alpha, beta) pairs tried on p: all of
// {1, 0.5, −2}×{0, 1, 0.3} plus alpha = 0 on small problems, three on
// medium ones and one (varying with the layout) on large ones.
func scalarsFor(p *refGemm) []alphaBeta {
	var out []alphaBeta
	size := p.m * p.n * p.k
	lay := 0
	if p.ta {
		lay += 2
	}
	if p.tb {
		lay++
	}
	for i, a := range []float32{1, 0.5, -2} {
		for j, b := range []float32{0, 1, 0.3} {
			switch {
			case size <= 1<<17,
				size <= 1<<20 && i == j,
				3*i+j == (2*lay+1)%9:
				out = append(out, alphaBeta{a, b})
			}
		}
	}
	if size <= 1<<17 {
		out = append(out, alphaBeta{0, 0}, alphaBeta{0, 0.3})
	}
	return out
}

// TestSgemmReference checks SgemmST and Sgemm (threads 1, 2, 3) at every
// CPU level against the float64 reference, and that Sgemm's and
// SgemmSTIn's bits do not depend on the thread count or the buffer and
// equal SgemmST's, and that repeating a call repeats its bits.
func TestSgemmReference(t *testing.T) {
	probs := refGemmProblems(testing.Short())
	oldLevel := CPULevel()
	defer SetCPULevel(oldLevel)
	for _, level := range SupportedLevels() {
		if err := SetCPULevel(level); err != nil {
			t.Fatal(err)
		}
		// SgemmST: reference check and determinism. SgemmSTIn, with one
		// buffer grown and shrunk across every problem, gives its bits.
		st := make([][]gbuf, len(probs))
		var own GemmBuf
		withBuf := func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
			SgemmSTIn(&own, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		}
		for pi, p := range probs {
			for _, ab := range scalarsFor(p) {
				label := fmt.Sprintf("%s SgemmST %v alpha=%v beta=%v", level, p, ab.alpha, ab.beta)
				c := p.run(SgemmST, ab.alpha, ab.beta)
				p.check(t, label, c, ab.alpha, ab.beta)
				if again := p.run(SgemmST, ab.alpha, ab.beta); !bitsEqual(again.full, c.full) {
					t.Errorf("%s: a second identical call gives different bits", label)
				}
				if in := p.run(withBuf, ab.alpha, ab.beta); !bitsEqual(in.full, c.full) {
					t.Errorf("%s: SgemmSTIn gives different bits", label)
				}
				st[pi] = append(st[pi], c)
			}
		}
		// Sgemm: reference check and bit-identity with SgemmST.
		for th := 1; th <= 3; th++ {
			withThreads(t, th, func(pool *Pool) {
				for pi, p := range probs {
					for si, ab := range scalarsFor(p) {
						label := fmt.Sprintf("%s Sgemm threads=%d %v alpha=%v beta=%v", level, th, p, ab.alpha, ab.beta)
						c := p.run(pool.Sgemm, ab.alpha, ab.beta)
						if d := firstBitDiff(c.full, st[pi][si].full); d >= 0 {
							t.Errorf("%s: element %d = %v, SgemmST gives %v", label, d-guardLen, c.full[d], st[pi][si].full[d])
							p.check(t, label, c, ab.alpha, ab.beta)
						}
					}
				}
			})
		}
	}
}

// TestSgemmInsideParallel runs Sgemm and SgemmST from inside Parallel
// bodies (one product per "head"): the nested Sgemm must run inline
// without deadlock and give SgemmST's bits.
func TestSgemmInsideParallel(t *testing.T) {
	const heads, m, n, k = 5, 70, 90, 66 // m·n·k over the parallel threshold
	r := newRand(77)
	a := randSlice(r, heads*m*k, -1, 1)
	b := randSlice(r, heads*k*n, -1, 1)
	want := make([]float32, heads*m*n)
	oldLevel := CPULevel()
	defer SetCPULevel(oldLevel)
	for _, level := range SupportedLevels() {
		SetCPULevel(level)
		for h := 0; h < heads; h++ {
			SgemmST(false, true, m, n, k, 1, a[h*m*k:], k, b[h*k*n:], k, 0, want[h*m*n:], n)
		}
		for _, st := range []bool{false, true} {
			got := make([]float32, heads*m*n)
			done := make(chan struct{})
			withThreads(t, 3, func(pool *Pool) {
				f := pool.Sgemm
				if st {
					f = SgemmST
				}
				go func() {
					pool.Parallel(heads, func(lo, hi int) {
						for h := lo; h < hi; h++ {
							f(false, true, m, n, k, 1, a[h*m*k:], k, b[h*k*n:], k, 0, got[h*m*n:], n)
						}
					})
					close(done)
				}()
				select {
				case <-done:
				case <-time.After(20 * time.Second):
					t.Fatalf("%s: Sgemm inside Parallel did not finish (deadlock?)", level)
				}
			})
			if d := firstBitDiff(got, want); d >= 0 {
				t.Errorf("%s SgemmST=%v inside Parallel: element %d = %v, want %v", level, st, d, got[d], want[d])
			}
		}
	}
}

// TestSgemmKZeroUnreferenced: with k = 0 (op(A) m×0, op(B) 0×n) or
// alpha = 0, A and B are not referenced and C = beta·C, so empty (nil)
// A and B must do, at any thread count and level, for Sgemm and
// SgemmST. The check runs in a child process because a
// failure here is typically a slice panic on a pool worker, which no
// recover can catch and which would kill the whole test binary.
func TestSgemmKZeroUnreferenced(t *testing.T) {
	if os.Getenv("ASM_TEST_KZERO_CHILD") == "1" {
		sgemmKZeroNil(t)
		return
	}
	exe, err := os.Executable()
	if err != nil {
		t.Skip("cannot re-run the test binary:", err)
	}
	cmd := exec.Command(exe, "-test.run=^TestSgemmKZeroUnreferenced$", "-test.v")
	cmd.Env = append(os.Environ(), "ASM_TEST_KZERO_CHILD=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("k = 0 / alpha = 0 with empty A and B: %v\n%s", err, firstLines(out, 16))
	}
}

func sgemmKZeroNil(t *testing.T) {
	oldLevel := CPULevel()
	defer SetCPULevel(oldLevel)
	for _, level := range SupportedLevels() {
		SetCPULevel(level)
		for _, th := range []int{1, 2, 3} {
			withThreads(t, th, func(pool *Pool) {
				for lay := 0; lay < 4; lay++ {
					ta, tb := lay&2 != 0, lay&1 != 0
					for _, mn := range [][2]int{{40, 30}, {30, 40}, {200, 150}} {
						m, n := mn[0], mn[1]
						for _, ka := range []struct {
							k     int
							alpha float32
						}{{0, 1}, {5, 0}} {
							label := fmt.Sprintf("%s threads=%d %dx%dx%d layout %d alpha=%v", level, th, m, n, ka.k, lay, ka.alpha)
							c0 := randSlice(newRand(uint64(m)), m*n, -1, 1)
							want := make([]float32, len(c0))
							for i := range c0 {
								want[i] = 0.5 * c0[i]
							}
							for _, f := range []struct {
								name string
								fn   sgemmFunc
							}{{"Sgemm", pool.Sgemm}, {"SgemmST", SgemmST}} {
								c := slices.Clone(c0)
								f.fn(ta, tb, m, n, ka.k, ka.alpha, nil, 1, nil, 1, 0.5, c, n)
								if !bitsEqual(c, want) {
									t.Errorf("%s %s: C != beta·C", f.name, label)
								}
							}
						}
					}
				}
			})
		}
	}
}

func firstLines(b []byte, n int) string {
	for i, c := range b {
		if c == '\n' {
			n--
			if n == 0 {
				return string(b[:i])
			}
		}
	}
	return string(b)
}

// TestSgemmNaNPropagation: Inf and NaN in A or B reach C as IEEE
// arithmetic says, in particular 0·Inf = NaN, at every level and layout
// (a diverged weight must show up in the loss whatever the kernel).
func TestSgemmNaNPropagation(t *testing.T) {
	const m, n, k = 3, 4, 5
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	oldLevel := CPULevel()
	defer SetCPULevel(oldLevel)
	for _, level := range SupportedLevels() {
		SetCPULevel(level)
		for lay := 0; lay < 4; lay++ {
			ta, tb := lay&2 != 0, lay&1 != 0
			// op(A)[i][p] = 1 except op(A)[0][2] = 0 and op(A)[1][3] = NaN;
			// op(B)[p][j] = 1 except op(B)[2][1] = Inf.
			a := make([]float32, m*k)
			b := make([]float32, k*n)
			for i := range a {
				a[i] = 1
			}
			for i := range b {
				b[i] = 1
			}
			at := func(i, p int) *float32 {
				if ta {
					return &a[p*m+i]
				}
				return &a[i*k+p]
			}
			bt := func(p, j int) *float32 {
				if tb {
					return &b[j*k+p]
				}
				return &b[p*n+j]
			}
			*at(0, 2), *at(1, 3), *bt(2, 1) = 0, nan, inf
			lda, ldb := k, n
			if ta {
				lda = m
			}
			if tb {
				ldb = k
			}
			for _, f := range []struct {
				name string
				fn   sgemmFunc
			}{{"Sgemm", testPool.Sgemm}, {"SgemmST", SgemmST}} {
				c := make([]float32, m*n)
				f.fn(ta, tb, m, n, k, 1, a, lda, b, ldb, 0, c, n)
				for i := 0; i < m; i++ {
					for j := 0; j < n; j++ {
						// Row 1 has the NaN; column 1 the Inf, times the
						// zero in row 0.
						var want float32 = k
						if i == 0 {
							want = k - 1
						}
						switch {
						case i == 1 || (i == 0 && j == 1):
							want = nan
						case j == 1:
							want = inf
						}
						if math.Float32bits(c[i*n+j]) != math.Float32bits(want) && !(c[i*n+j] != c[i*n+j] && want != want) {
							msg := fmt.Sprintf("%s %s transA=%v transB=%v: C[%d][%d] = %v, want %v", level, f.name, ta, tb, i, j, c[i*n+j], want)
							t.Error(msg)
						}
					}
				}
			}
		}
	}
}
