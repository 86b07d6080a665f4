package asm

import "fmt"

// PackedB is a right-hand operand op(B) (k×n) packed once, in the layout
// the blocked driver's microkernel reads, for products that reuse it many
// times with few rows of A: the decoder's weights during beam search,
// where packing them at every step cost a quarter of the time.
//
// It is packed for the CPU level current when PackB ran and must be used
// at that level (SgemmPacked panics otherwise): a level change means a
// new PackB.
type PackedB struct {
	k, n int
	// kn is the level's kernel; nil at the pure-Go level, where data is
	// B as given (Bᵀ if transB), compact, for sgemmGeneric, whose
	// summation order depends on the layout.
	kn     *gemmKernel
	transB bool
	data   []float32
	// off[jb*nkb+pb] is where the block (jc = jb·nc, pc = pb·kc) starts.
	off []int
	nkb int
}

// K and N are op(B)'s dimensions.
func (p *PackedB) K() int { return p.k }
func (p *PackedB) N() int { return p.n }

// PackB packs op(B), k×n, where op(B) is B (transB false) or Bᵀ, stored
// row-major with row stride ldb.
func PackB(transB bool, k, n int, b []float32, ldb int) *PackedB {
	return (*Pool)(nil).RepackB(nil, transB, k, n, b, ldb)
}

// RepackB packs op(B) as PackB does, into p's storage when p (which may
// be nil) was packed for the same shape at the current CPU level, so
// that weights which changed since (a model being trained) can be packed
// again without allocating. It returns the packed operand. The pieces
// are packed in parallel on the pool.
func (pool *Pool) RepackB(p *PackedB, transB bool, k, n int, b []float32, ldb int) *PackedB {
	if k < 0 || n < 0 {
		panic(fmt.Sprintf("asm: PackB of a %d×%d operand", k, n))
	}
	if p == nil || p.k != k || p.n != n || p.kn != cur.gemm || p.transB != transB {
		p = new(PackedB)
		p.layout(cur.gemm, transB, k, n)
	}
	if !pool.acquire() {
		p.packPieces(b, ldb, 0, p.pieces())
		return p
	}
	pool.packShared(p, b, ldb)
	pool.release()
	return p
}

// layout sets p up for op(B) k×n at kernel kn (nil: the pure-Go
// level), reusing p's storage: a pool packs every row-split GEMM's
// operand into one PackedB without allocating once it has grown.
func (p *PackedB) layout(kn *gemmKernel, transB bool, k, n int) {
	p.k, p.n, p.kn, p.transB = k, n, kn, transB
	p.off, p.nkb = p.off[:0], 0
	if kn == nil {
		p.data = grow(p.data, k*n)
		return
	}
	p.nkb = (k + kn.kc - 1) / kn.kc
	size := 0
	for jc := 0; jc < n; jc += kn.nc {
		nc := min(kn.nc, n-jc)
		for pc := 0; pc < k; pc += kn.kc {
			p.off = append(p.off, size)
			size += roundUp(nc, kn.nr) * min(kn.kc, k-pc)
		}
	}
	p.data = grow(p.data, size)
}

// piecePanels is the width, in nr-column panels, of the pieces op(B) is
// packed in. A piece had been a whole kc×nc block, and a weight of 256
// rows (kc) and up to 2,048 columns (nc) is one block: its packing was
// serial, 8 ms of a 37 ms L6_d256 step's span at 16 threads (the
// workers waiting for it at the GEMM's barrier). Two panels, 64 columns
// at AVX-512, make such a weight 16 pieces, each still 64 KiB of copying
// per claim.
const piecePanels = 2

// pieces is the number of independent units packPieces takes: slices
// of piecePanels panels of each kc×nc block (the last ones of the last
// column block may be empty), or for the pure-Go level rows of the
// stored operand.
func (p *PackedB) pieces() int {
	if p.k == 0 || p.n == 0 {
		return 0
	}
	if p.kn == nil {
		if p.transB {
			return p.n
		}
		return p.k
	}
	return len(p.off) * p.perBlock()
}

// perBlock is the number of pieces of a full kc×nc block.
func (p *PackedB) perBlock() int {
	return ceilDiv(p.kn.nc, piecePanels*p.kn.nr)
}

// packPieces packs pieces [lo, hi) of op(B) from b.
func (p *PackedB) packPieces(b []float32, ldb, lo, hi int) {
	kn := p.kn
	if kn == nil {
		// B as given (Bᵀ if transB), compact, for sgemmGeneric, whose
		// summation order depends on the layout.
		cols := p.n
		if p.transB {
			cols = p.k
		}
		for i := lo; i < hi; i++ {
			copy(p.data[i*cols:i*cols+cols], b[i*ldb:i*ldb+cols])
		}
		return
	}
	per, w := p.perBlock(), piecePanels*kn.nr
	for i := lo; i < hi; i++ {
		blk, j := i/per, i%per*w // the block, the piece's first column in it
		jc, pc := blk/p.nkb*kn.nc, blk%p.nkb*kn.kc
		nc, kc := min(kn.nc, p.n-jc), min(kn.kc, p.k-pc)
		if j < nc {
			// panels are kc·nr floats each, one after another
			packB(kn, p.data[p.off[blk]+j*kc:], p.transB, b, ldb, pc, kc, jc+j, min(w, nc-j))
		}
	}
}

// packJob is a parallel packing, shared with the workers.
type packJob struct {
	pb  *PackedB
	b   []float32
	ldb int
}

// packShared packs b into pb on the acquired pool, the pieces shared out.
func (p *Pool) packShared(pb *PackedB, b []float32, ldb int) {
	p.pack = packJob{pb, b, ldb}
	p.run(pb.pieces(), 1, p.packBFn)
	p.pack = packJob{}
}

// SgemmPacked computes C = alpha·op(A)·op(B) + beta·C with op(B) packed
// by PackB: op(A) is m×k, C m×n (k and n those of b). Its bits equal
// Sgemm's on the same operands, for any thread count.
func SgemmPacked(transA bool, m int, alpha float32, a []float32, lda int, b *PackedB, beta float32, c []float32, ldc int) {
	(*Pool)(nil).sgemmPacked(transA, m, alpha, a, lda, b, nil, beta, c, ldc)
}

// SgemmPacked is the package's SgemmPacked on the pool.
func (p *Pool) SgemmPacked(transA bool, m int, alpha float32, a []float32, lda int, b *PackedB, beta float32, c []float32, ldc int) {
	p.sgemmPacked(transA, m, alpha, a, lda, b, nil, beta, c, ldc)
}

// SgemmPackedBias computes C = op(A)·op(B) + bias, bias (n) added to
// every row: the bits of BroadcastRows(c, bias) then Sgemm with alpha =
// beta = 1, without the serial pass over C.
func SgemmPackedBias(transA bool, m int, a []float32, lda int, b *PackedB, bias, c []float32, ldc int) {
	(*Pool)(nil).SgemmPackedBias(transA, m, a, lda, b, bias, c, ldc)
}

// SgemmPackedBias is the package's SgemmPackedBias on the pool.
func (p *Pool) SgemmPackedBias(transA bool, m int, a []float32, lda int, b *PackedB, bias, c []float32, ldc int) {
	if len(bias) < b.n {
		panic(fmt.Sprintf("asm: SgemmPackedBias: bias of %d for %d columns", len(bias), b.n))
	}
	p.sgemmPacked(transA, m, 1, a, lda, b, bias, 1, c, ldc)
}

// packedJob is one SgemmPacked call, shared with its workers.
type packedJob struct {
	transA      bool
	m           int
	alpha, beta float32
	a           []float32
	lda         int
	b           *PackedB
	bias, c     []float32
	ldc         int
	direct      bool
	// ep finishes rows computed over all columns (Pool.SgemmEp); a
	// chunk of some of the columns leaves its rows to the caller.
	ep Epilogue
	// The split: chunk i computes row group i/cols (of rows groups of
	// row tiles) and column group i%cols (of cols groups of column
	// tiles).
	rows, cols int
}

// packedChunk is a pool's SgemmPacked chunk over its job slot.
func (p *Pool) packedChunk(lo, hi int) {
	j := &p.packed
	kn := j.b.kn
	rowTiles, colTiles := (j.m+kn.mr-1)/kn.mr, (j.b.n+kn.nr-1)/kn.nr
	for i := lo; i < hi; i++ {
		r, c := i/j.cols, i%j.cols
		packedRange(j, rowTiles*r/j.rows*kn.mr, min(rowTiles*(r+1)/j.rows*kn.mr, j.m),
			colTiles*c/j.cols*kn.nr, min(colTiles*(c+1)/j.cols*kn.nr, j.b.n))
	}
}

// gemmGrid splits a product of rowTiles × colTiles microkernel tiles
// among at most t chunks: rows groups of row tiles times cols groups of
// column tiles. A product with enough column tiles (decoding: a few
// rows against a weight) or row tiles for every worker is split along
// that one dimension, whole column panels first, so each worker's share
// of B streams once and A stays in cache. Otherwise (a decoding step's
// 160 hypotheses against a 256-column weight at 16 threads: 12 × 8
// tiles, split by rows into 12 chunks) it takes the grid whose largest
// chunk has the fewest tiles, more column groups on a tie.
func gemmGrid(rowTiles, colTiles, t int) (rows, cols int) {
	switch {
	case colTiles >= 2*t || colTiles >= rowTiles && colTiles >= t:
		return 1, min(colTiles, t)
	case rowTiles >= 2*t:
		return min(rowTiles, t), 1
	}
	return bestGrid(rowTiles, colTiles, t, true)
}

// bestGrid is the split of rowTiles × colTiles tiles into at most t
// chunks of rows × cols groups whose largest chunk has the fewest
// tiles; on a tie, the one with the most column groups (moreCols) or
// the fewest.
func bestGrid(rowTiles, colTiles, t int, moreCols bool) (rows, cols int) {
	best := 0
	for c := 1; c <= min(colTiles, t); c++ {
		r := min(rowTiles, t/c)
		cost := ceilDiv(rowTiles, r) * ceilDiv(colTiles, c)
		if best == 0 || cost < best || cost == best && moreCols {
			best, rows, cols = cost, r, c
		}
	}
	return rows, cols
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

func (p *Pool) sgemmPacked(transA bool, m int, alpha float32, a []float32, lda int, b *PackedB, bias []float32, beta float32, c []float32, ldc int) {
	k, n := b.k, b.n
	if m < 0 {
		panic(fmt.Sprintf("asm: SgemmPacked with m = %d", m))
	}
	if m == 0 || n == 0 {
		return
	}
	if b.kn != cur.gemm {
		panic("asm: SgemmPacked: operand packed at another CPU level")
	}
	// Bounds, once: the last element of op(A) and of C.
	if k > 0 {
		if transA {
			_ = a[(k-1)*lda+m-1]
		} else {
			_ = a[(m-1)*lda+k-1]
		}
	}
	_ = c[(m-1)*ldc+n-1]
	kn := b.kn
	if kn == nil || k == 0 || alpha == 0 {
		if bias != nil {
			fillRows(c, m, ldc, bias[:n])
		}
		if kn == nil && k > 0 && alpha != 0 {
			ldb := n
			if b.transB {
				ldb = k
			}
			sgemmGeneric(transA, b.transB, m, n, k, alpha, a, lda, b.data, ldb, beta, c, ldc)
			return
		}
		if bias == nil {
			scaleC(m, n, beta, c, ldc)
		}
		return
	}
	job := packedJob{transA: transA, m: m, alpha: alpha, beta: beta, a: a, lda: lda, b: b, bias: bias, c: c, ldc: ldc,
		direct: kn.directR != nil && directA(transA, lda, m, min(kn.kc, k), n, kn.nr)}
	if m*n*k < gemmParallelMin || !p.acquire() {
		packedRange(&job, 0, m, 0, n)
		return
	}
	j := &p.packed
	*j = job
	j.rows, j.cols = gemmGrid((m+kn.mr-1)/kn.mr, (n+kn.nr-1)/kn.nr, p.Width())
	p.run(j.rows*j.cols, 1, p.packFn)
	*j = packedJob{}
	p.release()
}

// packedRange computes rows [r0, r1) and columns [c0, c1) of C (c0 a
// multiple of nr) block by block, in the order sgemmBlocked sums them.
func packedRange(j *packedJob, r0, r1, c0, c1 int) {
	b := j.b
	kn := b.kn
	nr := kn.nr
	m := r1 - r0
	if m <= 0 || c1 <= c0 {
		return
	}
	a := rowsFrom(j.transA, j.a, j.lda, r0)
	c := j.c[r0*j.ldc:]
	if j.bias != nil {
		fillRows(c[c0:], m, j.ldc, j.bias[c0:c1])
	}
	var g *gemmBuf
	var pa []float32
	if !j.direct {
		g = getGemmBuf()
		g.a = grow(g.a, min(kn.mc, roundUp(m, kn.mr))*min(kn.kc, b.k))
		pa = g.a
	}
	for jb, jc := 0, 0; jc < b.n; jb, jc = jb+1, jc+kn.nc {
		nc := min(kn.nc, b.n-jc)
		lo, hi := max(c0, jc), min(c1, jc+nc)
		if lo >= hi {
			continue
		}
		for pb, pc := 0, 0; pc < b.k; pb, pc = pb+1, pc+kn.kc {
			kc := min(kn.kc, b.k-pc)
			accum, bt := j.beta != 0, j.beta
			if pc > 0 {
				accum, bt = true, 1
			}
			panels := b.data[b.off[jb*b.nkb+pb]+(lo-jc)/nr*nr*kc:]
			var ep Epilogue
			if c0 == 0 && c1 == b.n {
				ep = lastBlock(kn, b.n, b.k, jc, pc, j.ep)
			}
			rowsBlock(kn, j.direct, j.transA, a, j.lda, m, pc, kc, pa, panels, nil, 0, 0, hi-lo, c[lo:], j.ldc, j.alpha, bt, accum, ep, r0)
		}
	}
	if g != nil {
		putGemmBuf(g)
	}
}

// fillRows sets each of the m rows of c (stride ldc) to v.
func fillRows(c []float32, m, ldc int, v []float32) {
	for i := 0; i < m; i++ {
		copy(c[i*ldc:i*ldc+len(v)], v)
	}
}
