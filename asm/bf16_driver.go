package asm

import (
	"fmt"
	"sync"
	"unsafe"
)

// The bf16 GEMM's driver: operands rounded to bf16 pairs while they are
// packed, then microkernels over the packed panels.
//
// Layouts (a pair is a uint32: low half the even k index):
//
//   - B panels: panel jp of nr columns holds, pair after pair, its
//     columns' pairs side by side, zero past n: bpack[jp·nr·kcp + p·nr + x].
//   - op(A) = A, the row layout: the block's rows as they are, each a run
//     of pairs, every row bf16KC pairs from the next whatever the block's
//     depth: apack[r·bf16KC + p]. The row kernels read 14 rows in place at
//     displacements fixed when they are generated, so this pack is a plain
//     conversion, with no transposition.
//   - op(A) = Aᵀ, the panel layout: panel ip holds its rows' pairs side by
//     side, as many rows as it has: apack[ip·mr·kcp + p·rows + r]. A pair
//     of op(A) is two rows of A here, so this pack interleaves rows.
//
// Packing op(B) = B and op(A) = Aᵀ interleave two rows of the operand
// (packPairs); op(A) = A converts rows (packRows); op(B) = Bᵀ converts
// rows and deals the pairs out to the panels (the only pack that
// transposes; in training it is the weights' forward layout, packed once
// per step by PackBF16).
//
// Tiles run in blocks of bf16MCPanels row panels: within a block the row
// panels go fastest, so a B panel is read from L1 by every row panel of
// the block, and the block's A panels (about 250 KB) stay in L2.
//
// Every element's sum runs over its pairs in order, k block after k
// block, whatever the thread split: results are bit-identical for any
// thread count and equal the twin's (see bf16.go).

// bf16MCPanels is the row panels of a tile block.
const bf16MCPanels = 18

// bf16Kernel is a level's bf16 GEMM: microkernels over packed pair
// panels (mr rows × nr columns of C per call), and the packers.
type bf16Kernel struct {
	mr, nr int
	fn     bf16Func
	edge   []bf16Func // edge[r]: r < mr rows, panel layout
	// rows[r] (1 ≤ r ≤ mr) reads r rows of the row layout.
	rows []bf16Func
	// packRows and packPairs, if not nil, are the level's packers (see
	// packRowsGo and packPairsGo, their twins).
	packRows  func(dst *uint32, src *float32, ld, rows, n, dstStride int)
	packPairs func(dst *uint32, src *float32, ld, np, cols, width int, odd bool)
	// transpose, if not nil, is the level's fp32 transposing packer (see
	// transposeGo), which moves a pair's 32 bits as it moves a float's.
	transpose func(dst, src *float32, ld, kc, dstStride, rows, lanes int)
	peak      func(n int)
	// peakFlops is the flops of one peak iteration.
	peakFlops int
}

type bf16Func func(kp int, a, b *uint32, c *float32, ldc int, alpha, beta float32, mr, nr int, accum bool)

// packRowsGo converts rows rows of n values (row stride ld) into pairs,
// row r's at dst[r·dstStride:], the odd last value paired with 0.
func packRowsGo(dst []uint32, src []float32, ld, rows, n, dstStride int) {
	for r := 0; r < rows; r++ {
		s, d := src[r*ld:], dst[r*dstStride:]
		for q := 0; 2*q < n; q++ {
			hi := uint32(0)
			if 2*q+1 < n {
				hi = uint32(BF16(s[2*q+1]))
			}
			d[q] = uint32(BF16(s[2*q])) | hi<<16
		}
	}
}

// packPairsGo interleaves rows 2p and 2p+1 (row stride ld) of cols
// columns into dst[p·width+x], p < np, zero for cols ≤ x < width; with
// odd, one more pair from row 2np and 0.
func packPairsGo(dst []uint32, src []float32, ld, np, cols, width int, odd bool) {
	n := np
	if odd {
		n++
	}
	for p := 0; p < n; p++ {
		d := dst[p*width : p*width+width]
		for x := 0; x < cols; x++ {
			hi := uint32(0)
			if p < np {
				hi = uint32(BF16(src[(2*p+1)*ld+x]))
			}
			d[x] = uint32(BF16(src[2*p*ld+x])) | hi<<16
		}
		clear(d[cols:])
	}
}

func (kn *bf16Kernel) rowsPack(dst []uint32, src []float32, ld, rows, n, dstStride int) {
	if kn.packRows == nil || rows == 0 || n == 0 {
		packRowsGo(dst, src, ld, rows, n, dstStride)
		return
	}
	_ = dst[(rows-1)*dstStride+(n-1)/2]
	_ = src[(rows-1)*ld+n-1]
	kn.packRows(&dst[0], &src[0], ld, rows, n, dstStride)
}

func (kn *bf16Kernel) pairsPack(dst []uint32, src []float32, ld, np, cols, width int, odd bool) {
	rows := 2 * np
	if odd {
		rows++
	}
	if kn.packPairs == nil || rows == 0 || cols == 0 {
		packPairsGo(dst, src, ld, np, cols, width, odd)
		return
	}
	_ = dst[(rows+1)/2*width-1]
	_ = src[(rows-1)*ld+cols-1]
	kn.packPairs(&dst[0], &src[0], ld, np, cols, width, odd)
}

// blockFloats is the k values of the block of kcp pairs from pair p0:
// its full pairs and whether a last odd value is left.
func blockFloats(k, p0, kcp int) (np int, odd bool) {
	kf := min(2*kcp, k-2*p0)
	return kf / 2, kf%2 == 1
}

// PackedBF16 is a right-hand operand op(B) (k×n) rounded to bf16 and
// packed once, for products that reuse it: a weight matrix, used by the
// forward and the backward GEMMs of a training step, is packed once a
// step in each of its two layouts (op(B) = Wᵀ and op(B) = W).
//
// It is packed for the CPU level current when PackBF16 ran and must be
// used at that level (SgemmBF16Packed panics otherwise).
type PackedBF16 struct {
	k, n int
	// kn is the level's kernel; nil at the pure-Go level, where ref is
	// op(B) as given, k×n compact, for the twin.
	kn   *bf16Kernel
	data []uint32 // k block at pair p0: from p0·nPanels·nr, its panels
	ref  []float32
}

// K and N are op(B)'s dimensions.
func (p *PackedBF16) K() int { return p.k }
func (p *PackedBF16) N() int { return p.n }

// PackBF16 packs op(B), k×n (B, or Bᵀ with transB, row-major with row
// stride ldb) for SgemmBF16Packed, into dst's storage when dst (which
// may be nil) has the room, on the pool. It returns the packed operand.
func (pool *Pool) PackBF16(dst *PackedBF16, transB bool, k, n int, b []float32, ldb int) *PackedBF16 {
	if k < 0 || n < 0 {
		panic(fmt.Sprintf("asm: PackBF16 of a %d×%d operand", k, n))
	}
	if k > 0 && n > 0 {
		_ = b[opIndex(transB, k-1, n-1, ldb)]
	}
	if dst == nil {
		dst = new(PackedBF16)
	}
	dst.k, dst.n, dst.kn = k, n, cur.bf16
	if dst.kn == nil {
		dst.ref = growF32(dst.ref, k*n)
		for p := 0; p < k; p++ {
			for j := 0; j < n; j++ {
				dst.ref[p*n+j] = b[opIndex(transB, p, j, ldb)]
			}
		}
		return dst
	}
	kn := dst.kn
	nPanels, kp := (n+kn.nr-1)/kn.nr, (k+1)/2
	dst.data = growU32(dst.data, nPanels*kn.nr*kp)
	if k == 0 || n == 0 {
		return dst
	}
	j := bf16Job{kn: kn, transB: transB, n: n, k: k, b: b, ldb: ldb, nPanels: nPanels}
	// One unit per (k block, column panel).
	blocks := (kp + bf16KC - 1) / bf16KC
	fn := func(lo, hi int) {
		// The transposing pack's scratch is a free job's B buffer: a
		// weight is packed every pass, and a fresh 32 KB a chunk would
		// be garbage on the training path.
		scratch := takeBF16Job()
		tmp := scratch.bbuf
		for u := lo; u < hi; u++ {
			p0 := u / nPanels * bf16KC
			jj := j
			jj.p0, jj.kcp = p0, min(bf16KC, kp-p0)
			jj.bpack = dst.data[p0*nPanels*kn.nr:]
			tmp = jj.packBPanel(u%nPanels, tmp)
		}
		scratch.bbuf = tmp
		putBF16Job(scratch)
	}
	pool.Parallel(blocks*nPanels, fn)
	return dst
}

func growF32(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

func growU32(s []uint32, n int) []uint32 {
	if cap(s) < n {
		return make([]uint32, n)
	}
	return s[:n]
}

// SgemmBF16Packed computes C = alpha·op(A)·op(B) + beta·C as SgemmBF16
// does, with op(B) packed by PackBF16: op(A) is m×k, C m×n (k and n
// those of b). Its bits equal SgemmBF16's on the same operands.
func (p *Pool) SgemmBF16Packed(transA bool, m int, alpha float32, a []float32, lda int, b *PackedBF16, beta float32, c []float32, ldc int) {
	k, n := b.k, b.n
	if m < 0 {
		panic(fmt.Sprintf("asm: SgemmBF16Packed with m = %d", m))
	}
	if b.kn != cur.bf16 {
		panic("asm: SgemmBF16Packed: operand packed at another CPU level")
	}
	if m == 0 || n == 0 {
		return
	}
	_ = c[(m-1)*ldc+n-1]
	if k > 0 {
		_ = a[opIndex(transA, m-1, k-1, lda)]
	}
	if b.kn == nil || k == 0 || alpha == 0 {
		ref := b.ref
		if b.kn != nil {
			ref = nil // k == 0 or alpha == 0: the twin reads no B
		}
		sgemmBF16Generic(transA, false, m, n, k, alpha, a, lda, ref, n, beta, c, ldc)
		return
	}
	b.kn.run(p, transA, false, m, n, k, alpha, a, lda, nil, 0, b, nil, beta, c, ldc)
}

// SgemmBF16PackedBias computes C = op(A)·op(B) + bias, bias (n) added to
// every row: the bits of filling C's rows with bias, then
// SgemmBF16Packed with alpha = beta = 1 (a linear layer's forward). Each
// tile of C is filled just before its first product, while it is in
// cache, instead of in a pass of its own over all of C: at the step's
// shapes C's traffic is what the bf16 kernel waits for.
func (p *Pool) SgemmBF16PackedBias(transA bool, m int, a []float32, lda int, b *PackedBF16, bias, c []float32, ldc int) {
	n := b.n
	if len(bias) < n {
		panic(fmt.Sprintf("asm: SgemmBF16PackedBias: bias of %d for %d columns", len(bias), n))
	}
	if b.kn == nil || b.k == 0 || m <= 0 || n == 0 {
		if m > 0 && n > 0 {
			_ = c[(m-1)*ldc+n-1]
			for i := 0; i < m; i++ {
				copy(c[i*ldc:i*ldc+n], bias[:n])
			}
		}
		p.SgemmBF16Packed(transA, m, 1, a, lda, b, 1, c, ldc)
		return
	}
	if b.kn != cur.bf16 {
		panic("asm: SgemmBF16Packed: operand packed at another CPU level")
	}
	_ = c[(m-1)*ldc+n-1]
	_ = a[opIndex(transA, m-1, b.k-1, lda)]
	b.kn.run(p, transA, false, m, n, b.k, 1, a, lda, nil, 0, b, bias[:n], 1, c, ldc)
}

// bf16Job is one SgemmBF16 call, shared with its workers.
type bf16Job struct {
	kn                   *bf16Kernel
	transA, transB       bool
	m, n, k, lda, ldb    int
	a, b, c              []float32
	ldc                  int
	alpha, beta          float32
	p0, kcp              int // the k block: pairs [p0, p0+kcp)
	mPanels, nPanels     int
	apack, bpack         []uint32  // packed operands (bpack: in bbuf or a PackedBF16)
	bbuf                 []uint32  // the job's own B storage, kept between calls
	bias                 []float32 // C's rows start as bias (beta 1), or nil
	packAFn, packBFn, fn func(lo, hi int)
}

func (j *bf16Job) init() {
	j.packAFn = j.packA
	j.packBFn = j.packB
	j.fn = j.tiles
}

// run computes the product on pool p, in its job slot, or inline in a
// job of its own when p is nil or busy. With pb, op(B) is pb's and b is
// not read. With bias, each C tile is filled with it before its first
// product (beta must be 1).
func (kn *bf16Kernel) run(p *Pool, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, pb *PackedBF16, bias []float32, beta float32, c []float32, ldc int) {
	var j *bf16Job
	par := p.acquire()
	if par {
		j = &p.bf16
		defer p.release()
	} else {
		j = takeBF16Job()
		defer putBF16Job(j)
	}
	j.kn, j.transA, j.transB, j.m, j.n, j.k, j.lda, j.ldb = kn, transA, transB, m, n, k, lda, ldb
	j.a, j.b, j.c, j.ldc, j.alpha, j.beta, j.bias = a, b, c, ldc, alpha, beta, bias
	j.mPanels, j.nPanels = (m+kn.mr-1)/kn.mr, (n+kn.nr-1)/kn.nr
	kp := (k + 1) / 2 // ≥ 1: SgemmBF16 sends k = 0 to the twin
	kc := min(kp, bf16KC)
	if transA {
		j.apack = growU32(j.apack, j.mPanels*kn.mr*kc)
	} else {
		j.apack = growU32(j.apack, j.mPanels*kn.mr*bf16KC)
	}
	if pb == nil {
		j.bbuf = growU32(j.bbuf, j.nPanels*kn.nr*kc)
		j.bpack = j.bbuf
	}
	for p0 := 0; p0 < kp; p0 += bf16KC {
		j.p0, j.kcp = p0, min(bf16KC, kp-p0)
		if pb != nil {
			j.bpack = pb.data[p0*j.nPanels*kn.nr:]
		}
		if par {
			p.run(j.mPanels, 1, j.packAFn)
			if pb == nil {
				p.run(j.nPanels, 1, j.packBFn)
			}
			p.run(j.mPanels*j.nPanels, 1, j.fn)
		} else {
			j.packA(0, j.mPanels)
			if pb == nil {
				j.packB(0, j.nPanels)
			}
			j.tiles(0, j.mPanels*j.nPanels)
		}
	}
	j.a, j.b, j.c, j.bpack, j.bias = nil, nil, nil, nil, nil
}

// bf16Free holds the jobs of finished calls made without a pool (or
// with a busy one), so that their packing buffers are reused: a fresh
// 2 MB buffer a call costs its page faults, a tenth of a step's GEMM.
var (
	bf16Mu   sync.Mutex
	bf16Free []*bf16Job
)

func takeBF16Job() *bf16Job {
	bf16Mu.Lock()
	defer bf16Mu.Unlock()
	if n := len(bf16Free); n > 0 {
		j := bf16Free[n-1]
		bf16Free = bf16Free[:n-1]
		return j
	}
	j := new(bf16Job)
	j.init()
	return j
}

func putBF16Job(j *bf16Job) {
	bf16Mu.Lock()
	bf16Free = append(bf16Free, j)
	bf16Mu.Unlock()
}

// packA packs row panels lo..hi-1 of the k block.
func (j *bf16Job) packA(lo, hi int) {
	mr := j.kn.mr
	np, odd := blockFloats(j.k, j.p0, j.kcp)
	if j.transA {
		// op(A)[i][p] = A[p][i]: a pair is two rows of A.
		j.kn.pairPanels(j.apack, j.a[2*j.p0*j.lda:], j.lda, np, odd, lo, hi, mr, j.m, false)
		return
	}
	for ip := lo; ip < hi; ip++ {
		i0 := ip * mr
		rows := min(mr, j.m-i0)
		switch {
		case j.kn.rows == nil:
			// No row kernels: the panel layout, pair by pair.
			dst := j.apack[i0*j.kcp:]
			for p := 0; p < j.kcp; p++ {
				for r := 0; r < rows; r++ {
					dst[p*rows+r] = pairAt(j.a, false, false, i0+r, j.p0+p, j.k, j.lda)
				}
			}
		default:
			j.kn.rowsPack(j.apack[i0*bf16KC:], j.a[i0*j.lda+2*j.p0:], j.lda, rows, 2*np+b2i(odd), bf16KC)
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// packB packs column panels lo..hi-1 of the k block.
func (j *bf16Job) packB(lo, hi int) {
	if !j.transB {
		np, odd := blockFloats(j.k, j.p0, j.kcp)
		j.kn.pairPanels(j.bpack, j.b[2*j.p0*j.ldb:], j.ldb, np, odd, lo, hi, j.kn.nr, j.n, true)
		return
	}
	var tmp []uint32
	for jp := lo; jp < hi; jp++ {
		tmp = j.packBPanel(jp, tmp)
	}
}

// pairPanels packs panels lo..hi-1 of an operand whose pairs are two
// rows of src (row stride ld, from the block's first row): panel q
// holds columns q·w.. (ncols in all), pair p of column x at
// dst[q·w·kcp + p·width + x], width w when pad (zero past ncols: B
// panels), else the panel's columns (A panels). The pairs go a chunk at
// a time across all the panels, so the chunk's rows are read from
// memory once and stay in cache while every panel takes its columns:
// panel by panel, the walk down each panel's columns would read a new
// page at every pair.
func (kn *bf16Kernel) pairPanels(dst []uint32, src []float32, ld, np int, odd bool, lo, hi, w, ncols int, pad bool) {
	const chunk = 8 // pairs: 16 rows
	kcp := np + b2i(odd)
	for p0 := 0; p0 < kcp; p0 += chunk {
		end := min(p0+chunk, kcp)
		full, oddHere := max(min(end, np)-p0, 0), odd && end == kcp
		for q := lo; q < hi; q++ {
			cols := min(w, ncols-q*w)
			width := w
			if !pad {
				width = cols
			}
			kn.pairsPack(dst[q*w*kcp+p0*width:], src[2*p0*ld+q*w:], ld, full, cols, width, oddHere)
		}
	}
}

// packBPanel packs column panel jp of the k block into j.bpack; tmp is
// scratch for op(B) = Bᵀ, returned for reuse.
func (j *bf16Job) packBPanel(jp int, tmp []uint32) []uint32 {
	nr := j.kn.nr
	dst := j.bpack[jp*nr*j.kcp:]
	x0 := jp * nr
	cols := min(nr, j.n-x0)
	np, odd := blockFloats(j.k, j.p0, j.kcp)
	if !j.transB {
		j.kn.pairsPack(dst, j.b[2*j.p0*j.ldb+x0:], j.ldb, np, cols, nr, odd)
		return tmp
	}
	// op(B)[p][x] = B[x][p]: column x's pairs are a row of B; convert
	// the panel's rows, then transpose the pairs into the panel, 16
	// columns at a time, as the fp32 packer transposes floats (the bits
	// are moved, never computed on: a NaN pair stays as it is).
	kcp := j.kcp
	tmp = growU32(tmp, nr*kcp)
	j.kn.rowsPack(tmp, j.b[x0*j.ldb+2*j.p0:], j.ldb, cols, 2*np+b2i(odd), kcp)
	d, src := asFloats(dst[:kcp*nr]), asFloats(tmp)
	for g := 0; g < nr; g += 16 {
		rows := min(max(cols-g, 0), 16)
		if j.kn.transpose != nil {
			j.kn.transpose(&d[g], &src[g*kcp], kcp, kcp, nr, rows, 16)
			continue
		}
		transposeGo(d[g:], src[g*kcp:], kcp, kcp, nr, rows, 16)
	}
	return tmp
}

// asFloats is s's words seen as float32s, for the packers that move
// 32-bit values without computing on them.
func asFloats(s []uint32) []float32 {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&s[0])), len(s))
}

// tiles runs the microkernel over tiles lo..hi-1: blocks of
// bf16MCPanels row panels, within a block the row panels fastest.
func (j *bf16Job) tiles(lo, hi int) {
	kn := j.kn
	accum, bt := j.beta != 0, j.beta
	if j.p0 > 0 {
		accum, bt = true, 1
	}
	mcp := min(bf16MCPanels, j.mPanels)
	for t := lo; t < hi; t++ {
		blk := t / (mcp * j.nPanels)
		rem := t - blk*mcp*j.nPanels
		bp := min(mcp, j.mPanels-blk*mcp)
		ip, jp := blk*mcp+rem%bp, rem/bp
		i0 := ip * kn.mr
		rows, cols := min(kn.mr, j.m-i0), min(kn.nr, j.n-jp*kn.nr)
		b := &j.bpack[jp*kn.nr*j.kcp]
		if j.bias != nil && j.p0 == 0 {
			x0 := jp * kn.nr
			for r := 0; r < rows; r++ {
				copy(j.c[(i0+r)*j.ldc+x0:(i0+r)*j.ldc+x0+cols], j.bias[x0:x0+cols])
			}
		}
		c := &j.c[i0*j.ldc+jp*kn.nr]
		if j.transA || kn.rows == nil {
			f := kn.fn
			if rows < kn.mr {
				f = kn.edge[rows]
			}
			f(j.kcp, &j.apack[i0*j.kcp], b, c, j.ldc, j.alpha, bt, rows, cols, accum)
		} else {
			kn.rows[rows](j.kcp, &j.apack[i0*bf16KC], b, c, j.ldc, j.alpha, bt, rows, cols, accum)
		}
	}
}
