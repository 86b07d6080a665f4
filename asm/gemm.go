package asm

import "sync"

//go:generate go run ../gen/asmgen -out gemm_amd64.s

// Sgemm computes C = alpha·op(A)·op(B) + beta·C for row-major matrices,
// where op(X) is X or Xᵀ. C is m×n, op(A) is m×k, op(B) is k×n; lda, ldb
// and ldc are the row strides of A, B and C as stored. beta = 0 ignores
// C's old contents (NaNs included). It runs on the worker pool, split
// over rows or columns of C; every element is summed in the same order
// whatever the thread count, so results are bit-identical for any
// number of threads.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	gemmMu.Lock()
	g := &gemmJob
	*g = gemmArgs{transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, gemmK}
	switch kn := gemmK; {
	case k == 0 || alpha == 0:
		// C = beta·C; A and B are not referenced (they may be empty).
		ParallelGrain(m, gemmRowGrain, gemmScaleRows)
	case kn == nil:
		ParallelGrain(m, gemmRowGrain, gemmRows)
	case m*n*max(k, 1) < gemmParallelMin:
		sgemmBlocked(kn, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	case m >= n:
		// Split rows of C in whole microkernel tiles; each worker packs
		// all of op(B) and its share of op(A). (Sharing the packed op(B)
		// blocks between the workers, each packing half behind a barrier,
		// measured no better on a loaded 2-core machine: it saves ≤ 3% of
		// packing but stalls whenever the partner is descheduled.)
		ParallelGrain((m+kn.mr-1)/kn.mr, 1, gemmRowTiles)
	default:
		ParallelGrain((n+kn.nr-1)/kn.nr, 1, gemmColTiles)
	}
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

// SgemmBatched runs batch independent Sgemms, threaded over the batch:
// product i uses a[i*strideA:], b[i*strideB:] and c[i*strideC:] with the
// leading dimensions and op flags given. Each product runs on one
// goroutine, so results equal SgemmST's for any thread count.
func SgemmBatched(transA, transB bool, batch, m, n, k int, alpha float32, a []float32, lda, strideA int, b []float32, ldb, strideB int, beta float32, c []float32, ldc, strideC int) {
	if batch <= 0 || m == 0 || n == 0 {
		return
	}
	gemmBatchMu.Lock()
	gemmBatchJob = gemmBatchArgs{gemmArgs{transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, gemmK}, strideA, strideB, strideC}
	Parallel(batch, gemmBatchRange)
	gemmBatchJob = gemmBatchArgs{}
	gemmBatchMu.Unlock()
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
	kn             *gemmKernel
}

type gemmBatchArgs struct {
	gemmArgs
	strideA, strideB, strideC int
}

const (
	gemmRowGrain = 8
	// gemmParallelMin is the m·n·k below which Sgemm stays on one thread.
	gemmParallelMin = 64 * 64 * 64
)

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
		sgemmGeneric(g.transA, g.transB, hi-lo, g.n, g.k, g.alpha, a, g.lda, g.b, g.ldb, g.beta, g.c[lo*g.ldc:], g.ldc)
	}
	gemmScaleRows = func(lo, hi int) {
		g := &gemmJob
		scaleC(hi-lo, g.n, g.beta, g.c[lo*g.ldc:], g.ldc)
	}
	gemmRowTiles = func(lo, hi int) {
		g := &gemmJob
		lo, hi = lo*g.kn.mr, min(hi*g.kn.mr, g.m)
		var a []float32
		if g.transA {
			a = g.a[lo:]
		} else {
			a = g.a[lo*g.lda:]
		}
		sgemmBlocked(g.kn, g.transA, g.transB, hi-lo, g.n, g.k, g.alpha, a, g.lda, g.b, g.ldb, g.beta, g.c[lo*g.ldc:], g.ldc)
	}
	gemmColTiles = func(lo, hi int) {
		g := &gemmJob
		lo, hi = lo*g.kn.nr, min(hi*g.kn.nr, g.n)
		var b []float32
		if g.transB {
			b = g.b[lo*g.ldb:]
		} else {
			b = g.b[lo:]
		}
		sgemmBlocked(g.kn, g.transA, g.transB, g.m, hi-lo, g.k, g.alpha, g.a, g.lda, b, g.ldb, g.beta, g.c[lo:], g.ldc)
	}

	gemmBatchMu    sync.Mutex
	gemmBatchJob   gemmBatchArgs
	gemmBatchRange = func(lo, hi int) {
		g := &gemmBatchJob
		for i := lo; i < hi; i++ {
			c := g.c[i*g.strideC:]
			if g.k == 0 || g.alpha == 0 {
				scaleC(g.m, g.n, g.beta, c, g.ldc)
				continue
			}
			a, b := g.a[i*g.strideA:], g.b[i*g.strideB:]
			if g.kn == nil {
				sgemmGeneric(g.transA, g.transB, g.m, g.n, g.k, g.alpha, a, g.lda, b, g.ldb, g.beta, c, g.ldc)
			} else {
				sgemmBlocked(g.kn, g.transA, g.transB, g.m, g.n, g.k, g.alpha, a, g.lda, b, g.ldb, g.beta, c, g.ldc)
			}
		}
	}
)

// sgemm is the single-threaded driver: the blocked kernel of the current
// CPU level, or the pure-Go twin.
func sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if kn := gemmK; kn != nil {
		sgemmBlocked(kn, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
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
