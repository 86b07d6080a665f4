package asm

import "sync"

// Sgemm computes C = alpha·op(A)·op(B) + beta·C for row-major matrices,
// where op(X) is X or Xᵀ. C is m×n, op(A) is m×k, op(B) is k×n; lda, ldb
// and ldc are the row strides of A, B and C as stored. beta = 0 ignores
// C's old contents (NaNs included). It runs on the worker pool, split
// over rows of C; every element is summed in the same order whatever the
// thread count.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	gemmMu.Lock()
	g := &gemmJob
	*g = gemmArgs{transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc}
	ParallelGrain(m, gemmRowGrain, gemmRows)
	*g = gemmArgs{}
	gemmMu.Unlock()
}

// SgemmST is Sgemm on the calling goroutine only, for use inside a
// Parallel body (attention heads, for example).
func SgemmST(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

type gemmArgs struct {
	transA, transB bool
	m, n, k        int
	alpha          float32
	a              []float32
	lda            int
	b              []float32
	ldb            int
	beta           float32
	c              []float32
	ldc            int
}

const gemmRowGrain = 8

var (
	gemmMu   sync.Mutex
	gemmJob  gemmArgs
	gemmRows = func(lo, hi int) {
		g := &gemmJob
		var a []float32
		if g.transA {
			a = g.a[lo:]
		} else {
			a = g.a[lo*g.lda:]
		}
		sgemm(g.transA, g.transB, hi-lo, g.n, g.k, g.alpha, a, g.lda, g.b, g.ldb, g.beta, g.c[lo*g.ldc:], g.ldc)
	}
)

// sgemm is the single-threaded driver.
func sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemmGeneric(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// sgemmGeneric is the pure-Go reference. Each C element accumulates its
// k products in increasing p order into a float32, then is scaled.
func sgemmGeneric(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		crow := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(crow)
		} else if beta != 1 {
			for j := range crow {
				crow[j] *= beta
			}
		}
	}
	if k == 0 || alpha == 0 {
		return
	}
	switch {
	case !transA && !transB:
		for i := 0; i < m; i++ {
			crow := c[i*ldc : i*ldc+n]
			arow := a[i*lda : i*lda+k]
			for p, av := range arow {
				av *= alpha
				if av == 0 {
					continue
				}
				brow := b[p*ldb : p*ldb+n]
				for j, bv := range brow {
					crow[j] += av * bv
				}
			}
		}
	case !transA && transB:
		for i := 0; i < m; i++ {
			crow := c[i*ldc : i*ldc+n]
			arow := a[i*lda : i*lda+k]
			for j := range crow {
				brow := b[j*ldb : j*ldb+k]
				var s float32
				for p, av := range arow {
					s += av * brow[p]
				}
				crow[j] += alpha * s
			}
		}
	case transA && !transB:
		for i := 0; i < m; i++ {
			crow := c[i*ldc : i*ldc+n]
			for p := 0; p < k; p++ {
				av := alpha * a[p*lda+i]
				if av == 0 {
					continue
				}
				brow := b[p*ldb : p*ldb+n]
				for j, bv := range brow {
					crow[j] += av * bv
				}
			}
		}
	default:
		for i := 0; i < m; i++ {
			crow := c[i*ldc : i*ldc+n]
			for j := range crow {
				var s float32
				for p := 0; p < k; p++ {
					s += a[p*lda+i] * b[j*ldb+p]
				}
				crow[j] += alpha * s
			}
		}
	}
}
