package asm

import "runtime"

//go:generate go run -C ../gen ./asmgen -pkg asm -out ../asm/gemm_amd64.s -stubs ../asm/gemm_stubs_amd64.go -tiles ../asm/gemm_tiles_amd64.go

// Sgemm computes C = alpha·op(A)·op(B) + beta·C for row-major matrices,
// where op(X) is X or Xᵀ. C is m×n, op(A) is m×k, op(B) is k×n; lda, ldb
// and ldc are the row strides of A, B and C as stored. beta = 0 ignores
// C's old contents (NaNs included). It runs on the calling goroutine;
// (*Pool).Sgemm is the same product on a pool.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	(*Pool)(nil).Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Sgemm is the package's Sgemm on the pool, split over rows or columns
// of C, or for a weight gradient's product over many tokens over groups
// of tokens too (gemm_splitk.go); every element is summed in the same
// order whatever the thread count, so results are bit-identical for any
// number of threads.
func (p *Pool) Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	p.SgemmEp(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, nil)
}

// An Epilogue finishes rows [r0, r1) of a GEMM's C once they hold their
// final value: an element-wise or row-wise pass (a bias, an activation,
// its dropout, a residual's LayerNorm) that would otherwise read C back
// from memory in a pass of its own. It is called for every row exactly
// once, in ranges whose bounds depend on the split (so what it computes
// must not), from the worker that computed the rows, right after it
// did, while they are in its cache; ranges of different workers run at
// once.
type Epilogue func(r0, r1 int)

// SgemmEp is Sgemm followed by ep on every row of C (nil: none). Where
// a split leaves a worker only some of a row's columns (a grid of row
// and column groups, columns split for m < n, token groups), the pool
// runs ep over the rows in a region of its own after the product.
func (p *Pool) SgemmEp(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, ep Epilogue) {
	if m == 0 || n == 0 {
		return
	}
	kn := cur.gemm
	if m*n*max(k, 1) < gemmParallelMin && kn != nil || !p.acquire() {
		sgemmST(nil, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, ep)
		return
	}
	g := &p.gemm
	*g = gemmArgs{transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, kn, ep}
	f := &p.gemmFns
	after := false // ep still to run, over the rows, after the product
	switch {
	case k == 0 || alpha == 0:
		// C = beta·C; A and B are not referenced (they may be empty).
		p.run(m, gemmRowGrain, f.scaleRows)
		after = true
	case kn == nil:
		p.run(m, gemmRowGrain, f.rows)
	case splitKGroups(transA, transB, m, n, k) > 1:
		p.sgemmSplitK(splitKJob{})
		after = true
	case m >= n && p.Width() < sharedBMin:
		// Split rows of C in whole microkernel tiles; on so few workers
		// each packs all of op(B) for itself (sgemmRowsOwnB): sharing
		// one copy measured 6-7% slower at two threads (T6_d256 and
		// L18_d256 steps, same run), where the copy is packed only
		// twice and the barrier before the tiles makes each worker
		// wait for the other.
		p.tiles.reset(ceilDiv(m, kn.mr), p.Width())
		p.run(p.Width(), 1, f.rowsOwnB)
	case p.Width() >= sharedBMin && (m >= n || ep == nil && gemmSplitGrid(kn, m, n, p.Width())):
		// Split rows of C in whole microkernel tiles. op(B) is packed
		// once, in the same region: the workers claim its pieces, wait
		// (spinning, in the region) until every block is packed, then
		// compute row tiles against the shared copy, packing only their
		// own rows of op(A). (Each worker had packed all of op(B) for
		// itself, (P−1)·|B| more work, the most for the weight
		// gradients, whose op(B) is a batch of activations; packing it
		// in a region of its own cost a join per GEMM.) Each worker
		// takes its own share of the row tiles first and then steals
		// from the others' (tileShares), so a worker slowed by the host
		// or by cache contention does not leave the others idle at the
		// end. When there are too few row tiles for every
		// worker to have several (a weight gradient, 256 rows, at 16
		// threads: 19 row tiles; the 2,048-token products at 64), the
		// tiles are split statically over a grid of row and column
		// groups instead (gemmGrid), as is a product of few rows whose
		// column split would leave workers idle.
		pb := &p.gemmB
		pb.layout(kn, transB, k, n)
		p.pack = packJob{pb, b, ldb}
		p.packNext.Store(0)
		p.packDone.Store(0)
		if p.rec != nil && p.rec.static() {
			// Simulated: the packing is timed as a region of its own,
			// whose end is the barrier inside the GEMM's region, not a
			// join.
			p.rec.inner = true
			p.run(pb.pieces(), 1, p.packBFn)
			p.packNext.Store(int64(pb.pieces()))
			p.packDone.Store(int64(pb.pieces()))
		}
		t := p.Width()
		rows, cols, grid := gemmSplit(kn, m, n, t)
		if !grid || ep != nil {
			// row claims, whose op(A) is decided for a static share;
			// with an epilogue, whose rows each claim completes
			rows, grid = t, false
		}
		p.packed = packedJob{transA: transA, m: m, alpha: alpha, beta: beta, a: a, lda: lda, b: pb, c: c, ldc: ldc, ep: ep,
			direct: kn.directR != nil && directA(transA, lda, rowShare(m, kn.mr, rows), min(kn.kc, k), n, kn.nr), rows: rows, cols: cols}
		if grid {
			p.run(rows*cols, 1, f.grid)
		} else {
			p.tiles.reset(ceilDiv(m, kn.mr), t)
			p.run(t, 1, f.rowsDyn)
		}
		p.packed, p.pack = packedJob{}, packJob{}
	default:
		p.run((n+kn.nr-1)/kn.nr, 1, f.colTiles)
		after = true
	}
	if after && ep != nil {
		p.run(m, gemmRowGrain, f.epRows)
	}
	*g = gemmArgs{}
	p.release()
}

// SgemmST is Sgemm on the calling goroutine only, for use inside a
// Parallel body (attention heads, for example).
func SgemmST(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	SgemmSTIn(nil, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// GemmBuf is packing room for SgemmSTIn. SgemmST packs into buffers it
// takes from a list the whole package shares, under a lock: cheap for
// one large product, but the workers of a pool running attention's
// small per-head products (24 a unit of an L6_d256 layer, 1,536 a
// layer) took turns at that lock for every one, and on two cores whose
// caches share nothing the lock's line moved between them each time:
// the attention core ran 11-17% slower on two threads than with a
// buffer per worker (L6_d256's, forward and backward, AMD EPYC). A
// goroutine that runs many products keeps a GemmBuf of its own. The
// zero value is ready; it grows to the largest product seen.
type GemmBuf struct{ g gemmBuf }

// SgemmSTIn is SgemmST packing into buf (nil: the shared list's
// buffers, as SgemmST), which the caller does not share with another
// goroutine while the call runs. The bits are SgemmST's.
func SgemmSTIn(buf *GemmBuf, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	var own *gemmBuf
	if buf != nil {
		own = &buf.g
	}
	sgemmST(own, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, nil)
}

// sgemmST is the single-threaded product (m, n > 0), packing into own
// (nil: buffers from the shared list): the blocked kernel of the
// current CPU level (in token groups for a weight gradient's product
// over many tokens), or the pure-Go twin; then ep on its rows.
func sgemmST(own *gemmBuf, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, ep Epilogue) {
	kn := cur.gemm
	switch {
	case k == 0 || alpha == 0:
		scaleC(m, n, beta, c, ldc)
	case kn == nil:
		sgemmGeneric(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	case splitKGroups(transA, transB, m, n, k) > 1:
		sgemmSplitKST(&gemmArgs{true, false, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, kn, nil}, splitKJob{}, own)
	default:
		sgemmBlockedIn(kn, own, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, ep, 0)
		return
	}
	if ep != nil {
		ep(0, m)
	}
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
	ep             Epilogue
}

const (
	gemmRowGrain = 8
	// gemmParallelMin is the m·n·k below which Sgemm stays on one thread.
	gemmParallelMin = 64 * 64 * 64
)

// sharedBMin is the fewest workers among which a row-split GEMM shares
// one packed copy of op(B); fewer each pack their own.
const sharedBMin = 4

// gemmFuncs are a pool's GEMM chunk functions, bound once to its job
// slot (a closure per call would allocate).
type gemmFuncs struct {
	rows, scaleRows, rowsDyn, rowsOwnB, colTiles, grid func(lo, hi int)
	splitK, splitKFold, epRows                         func(lo, hi int)
}

func (f *gemmFuncs) init(p *Pool) {
	g := &p.gemm
	f.rows = func(lo, hi int) {
		sgemmGeneric(g.transA, g.transB, hi-lo, g.n, g.k, g.alpha, rowsFrom(g.transA, g.a, g.lda, lo), g.lda, g.b, g.ldb, g.beta, g.c[lo*g.ldc:], g.ldc)
		if g.ep != nil {
			g.ep(lo, hi)
		}
	}
	f.epRows = func(lo, hi int) { g.ep(lo, hi) }
	f.scaleRows = func(lo, hi int) { scaleC(hi-lo, g.n, g.beta, g.c[lo*g.ldc:], g.ldc) }
	f.splitK = func(lo, hi int) {
		j := &p.splitK
		units := j.groups * j.rows * j.cols
		for w := lo; w < hi; w++ {
			for u := units * w / j.shares; u < units*(w+1)/j.shares; u++ {
				splitKUnit(nil, g, j, u)
			}
		}
	}
	f.splitKFold = func(lo, hi int) { splitKFold(g, &p.splitK, lo, hi) }
	f.rowsDyn = func(w, _ int) {
		j := &p.packed
		mr := j.b.kn.mr
		tiles, t := ceilDiv(j.m, mr), p.Width()
		if !p.packShare() {
			return // another chunk panicked
		}
		if p.rec != nil && p.rec.static() {
			// Simulated: worker w takes its static share, as it does
			// on an even machine.
			t0, t1 := staticShare(tiles, w, t)
			packedRange(j, t0*mr, min(t1*mr, j.m), 0, j.b.n)
			return
		}
		for {
			t0, t1, ok := p.tiles.next(w, t)
			if !ok {
				return
			}
			packedRange(j, t0*mr, min(t1*mr, j.m), 0, j.b.n)
		}
	}
	f.grid = func(lo, hi int) {
		if p.packShare() { // false: another chunk panicked
			p.packedChunk(lo, hi)
		}
	}
	f.rowsOwnB = func(lo, hi int) {
		if p.rec != nil && p.rec.static() {
			// Simulated: chunk lo of width takes a static share, as a
			// greedy claim would leave it on an even machine.
			sgemmRowsOwnB(g, nil, p.Width(), lo)
			return
		}
		sgemmRowsOwnB(g, &p.tiles, p.Width(), lo)
	}
	f.colTiles = func(lo, hi int) {
		lo, hi = lo*g.kn.nr, min(hi*g.kn.nr, g.n)
		var b []float32
		if g.transB {
			b = g.b[lo*g.ldb:]
		} else {
			b = g.b[lo:]
		}
		sgemmBlocked(g.kn, g.transA, g.transB, g.m, hi-lo, g.k, g.alpha, g.a, g.lda, b, g.ldb, g.beta, g.c[lo:], g.ldc)
	}
}

// gemmSplit is how an m×n product is split on t ≥ sharedBMin workers:
// over bestGrid's rows × cols cells (grid) when its largest cell has
// over 10% fewer tiles than the largest chunk of the one-dimensional
// split the product takes otherwise (row tiles claimed for m ≥ n,
// column tiles for m < n).
func gemmSplit(kn *gemmKernel, m, n, t int) (rows, cols int, grid bool) {
	rowTiles, colTiles := ceilDiv(m, kn.mr), ceilDiv(n, kn.nr)
	rows, cols = bestGrid(rowTiles, colTiles, t, false)
	oneDim := rowTiles * ceilDiv(colTiles, min(colTiles, t))
	if m >= n {
		oneDim = ceilDiv(rowTiles, t) * colTiles
	}
	return rows, cols, ceilDiv(rowTiles, rows)*ceilDiv(colTiles, cols)*11 < oneDim*10
}

// gemmSplitGrid reports whether gemmSplit takes the grid.
func gemmSplitGrid(kn *gemmKernel, m, n, t int) bool {
	_, _, grid := gemmSplit(kn, m, n, t)
	return grid
}

// rowsFrom is op(A) from its row lo on: A's row lo, or Aᵀ's column lo.
func rowsFrom(transA bool, a []float32, lda, lo int) []float32 {
	if transA {
		return a[lo:]
	}
	return a[lo*lda:]
}

// gemmMinChunk is how many row tiles a worker steals at a time from
// another's share (tileShares).
const gemmMinChunk = 4

// packShare is a row-split GEMM worker's part of packing op(B): it
// claims pieces until none is left, then waits until every piece is
// packed. It reports false if a chunk of the call panicked meanwhile
// (the block it held will never be packed).
func (p *Pool) packShare() bool {
	pb := p.pack.pb
	nb := int64(pb.pieces())
	for {
		i := p.packNext.Add(1) - 1
		if i >= nb {
			break
		}
		pb.packPieces(p.pack.b, p.pack.ldb, int(i), int(i)+1)
		p.packDone.Add(1)
	}
	for spin := 0; p.packDone.Load() < nb; spin++ {
		if p.panicked.Load() != nil {
			return false
		}
		if spin&255 == 255 {
			runtime.Gosched()
		}
	}
	return true
}

// sgemmRowsOwnB is one worker's part of a row-split Sgemm (g.m, g.n > 0,
// k > 0, alpha ≠ 0) over t workers. It packs all of op(B) once (every
// kc×nc block, in loop order), then takes mr-row tiles of C from
// shares (its own first; nil: only the static share of worker, for a
// simulation) and computes them block by block exactly as sgemmBlocked
// would: every C element is summed in the same order whichever worker
// computes it.
func sgemmRowsOwnB(g *gemmArgs, shares *tileShares, t, worker int) {
	kn := g.kn
	mr, nr := kn.mr, kn.nr
	m, n, k := g.m, g.n, g.k
	tiles := ceilDiv(m, mr)
	kc0 := min(kn.kc, k)
	direct := kn.directR != nil && directA(g.transA, g.lda, rowShare(m, mr, t), kc0, n, nr)
	bf := getGemmBuf()
	bf.b = grow(bf.b, roundUp(n, nr)*k)
	pb := bf.b
	off := 0
	for jc := 0; jc < n; jc += kn.nc {
		nc := min(kn.nc, n-jc)
		for pc := 0; pc < k; pc += kn.kc {
			kc := min(kn.kc, k-pc)
			packB(kn, pb[off:], g.transB, g.b, g.ldb, pc, kc, jc, nc)
			off += roundUp(nc, nr) * kc
		}
	}
	static := shares == nil
	for {
		var t0, t1 int
		if static {
			// worker's share of the tiles, once
			t0, t1 = staticShare(tiles, worker, t)
			if t0 == t1 {
				break
			}
		} else {
			var ok bool
			if t0, t1, ok = shares.next(worker, t); !ok {
				break
			}
		}
		lo, hi := t0*mr, min(t1*mr, m)
		mm := hi - lo
		a := rowsFrom(g.transA, g.a, g.lda, lo)
		c := g.c[lo*g.ldc:]
		mc0 := 0
		if !direct {
			mc0 = min(kn.mc, roundUp(mm, mr))
		}
		bf.a = grow(bf.a, mc0*kc0)
		off := 0
		for jc := 0; jc < n; jc += kn.nc {
			nc := min(kn.nc, n-jc)
			for pc := 0; pc < k; pc += kn.kc {
				kc := min(kn.kc, k-pc)
				accum, bt := g.beta != 0, g.beta
				if pc > 0 {
					accum, bt = true, 1
				}
				rowsBlock(kn, direct, g.transA, a, g.lda, mm, pc, kc, bf.a, pb[off:], nil, g.ldb, 0, nc, c[jc:], g.ldc, g.alpha, bt, accum,
					lastBlock(kn, n, k, jc, pc, g.ep), lo)
				off += roundUp(nc, nr) * kc
			}
		}
		if static {
			break
		}
	}
	putGemmBuf(bf)
}

// rowShare is the rows of a static share of m rows among t workers in
// mr-row tiles. Whether op(A) is read in place is decided for such a
// share, not per claimed chunk: small chunks of op(A) = Aᵀ would
// otherwise take the strided in-place path, slower than packing for
// them (TN 512³: 190 -> 168 GFLOP/s).
func rowShare(m, mr, t int) int {
	tiles := (m + mr - 1) / mr
	return min(m, (tiles+t-1)/t*mr)
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
