package asm

import "sync"

// Goto/BLIS-style blocked SGEMM over a generated microkernel.
//
// Loop nest for C (m×n) += op(A) (m×k) · op(B) (k×n):
//
//	for jc over n in steps of nc          (B̃ block: kc×nc, kept in L3)
//	  for pc over k in steps of kc        pack B̃ = op(B)[pc:, jc:] into nr-column panels
//	    for ic over m in steps of mc      pack Ã = op(A)[ic:, pc:] into mr-row panels (L2)
//	      for jr over nc in steps of nr   one B̃ panel (kc×nr) stays in L1
//	        for ir over mc in steps of mr microkernel: C[ic+ir:, jc+jr:] mr×nr tile
//
// Packing reads op(A) and op(B) through their transposes, so all four
// layouts run the same microkernel. Panels are zero-padded to full mr/nr;
// the microkernel masks its stores to the valid mr×nr corner, so edge
// tiles need no buffer and compute exactly like interior ones.
//
// Op(A) = A is never packed unless lda is a multiple of 1024 floats:
// the sgemmDirect512r kernels read the mc×kc block's rows in place (14
// sequential streams per call; the block stays in L2 as a packed one
// would), which saves the transposing pack.
//
// When the whole op(A) block is small (m·kc ≤ gemmDirectMaxA, so it stays
// in L2) and its stride suits (directLD), op(A) is not packed: the
// sgemmDirect512 kernels read it in place (the attention products of
// SgemmST, for example), running the same FMA sequence. On that path the
// full column panels of op(B) = B are read in place too when ldb suits.
//
// Every C element is summed over p in increasing order within each kc
// block, and the blocks are folded in increasing order:
// C = fma(acc₀, alpha, beta·C), then C = fma(accᵢ, alpha, C). That order
// depends only on k and kc, never on the thread split or tile position,
// so results are bit-identical for any thread count. (A weight
// gradient's product over many tokens is summed this way per group of
// tokens, and the groups' sums folded in order: gemm_splitk.go.)

// gemmKernel describes one level's generated SGEMM microkernel and its
// blocking.
type gemmKernel struct {
	mr, nr int // microkernel tile: rows × columns of C
	kc     int // depth of a packed block (k per microkernel call)
	mc     int // rows of op(A) packed per block (multiple of mr)
	nc     int // columns of op(B) packed per block (multiple of nr)

	fn kernelFunc
	// edge[r] (0 < r < mr) is the r-row variant of fn, which packs and
	// computes only r rows: used for the last rows of C.
	edge []kernelFunc
	// directC[r] and directR[r] (0 < r ≤ mr), if not nil, are r-row
	// kernels that read op(A) in place instead of from a packed panel:
	// op(A) = Aᵀ (C) or A (R). They run the same FMA sequence as fn.
	directC, directR []directFunc
	// packRows, if not nil, is the level's row-dealing packer (see
	// copyPanels, its pure-Go twin), used for op(A) = Aᵀ and op(B) = B.
	packRows func(dst, src *float32, ld, kc, nfull, tail, w, panel int)
	// transpose, if not nil, is the level's transposing packer (see
	// transposeGo, its pure-Go twin), used for op(A) = A and op(B) = Bᵀ.
	transpose func(dst, src *float32, ld, kc, dstStride, rows, lanes int)

	peak      func(n int) // FMA throughput probe
	peakFlops int         // flops per probe iteration
}

// kernelFunc is a microkernel: C[:mr, :nr] = alpha·(A panel)·(B panel)
// (+ beta·C if accum) over k packed steps.
type kernelFunc = func(k int, a, b, c *float32, ldc int, alpha, beta float32, mr, nr int, accum bool)

// directFunc is a microkernel reading A in place (see directC).
type directFunc = func(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, mr, nr int, accum bool)

// gemmBuf holds one worker's packing buffers. They grow to the largest
// block seen and are kept, so the steady state allocates nothing.
type gemmBuf struct {
	a, b []float32
	part []float32 // a split-K product's partials (gemm_splitk.go)
}

var (
	gemmBufMu   sync.Mutex
	gemmBufFree []*gemmBuf
)

func getGemmBuf() *gemmBuf {
	gemmBufMu.Lock()
	var g *gemmBuf
	if n := len(gemmBufFree); n > 0 {
		g = gemmBufFree[n-1]
		gemmBufFree = gemmBufFree[:n-1]
	}
	gemmBufMu.Unlock()
	if g == nil {
		g = new(gemmBuf)
	}
	return g
}

func putGemmBuf(g *gemmBuf) {
	gemmBufMu.Lock()
	gemmBufFree = append(gemmBufFree, g)
	gemmBufMu.Unlock()
}

func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

// scaleC sets C = beta·C (beta = 0 clears, NaNs included).
func scaleC(m, n int, beta float32, c []float32, ldc int) {
	if beta == 1 {
		return
	}
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}

// sgemmBlocked runs the blocked algorithm with kernel kn on the calling
// goroutine. m, n > 0.
func sgemmBlocked(kn *gemmKernel, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemmBlockedIn(kn, nil, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, nil, 0)
}

// sgemmBlockedIn is sgemmBlocked packing into own, or (nil) into
// buffers taken from the package's shared list.
func sgemmBlockedIn(kn *gemmKernel, own *gemmBuf, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, ep Epilogue, base int) {
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		if ep != nil {
			ep(base, base+m)
		}
		return
	}
	mr, nr := kn.mr, kn.nr
	kc0 := min(kn.kc, k)
	mc0 := min(kn.mc, roundUp(m, mr))
	nc0 := min(kn.nc, roundUp(n, nr))
	// Small op(A) blocks are read in place: the whole m×kc block stays in
	// L2 across the column panels, so packing it would only add work.
	direct := kn.directR != nil && directA(transA, lda, m, kc0, n, nr)
	directB := direct && !transB && directPanel(ldb, kc0)
	if direct {
		mc0 = 0
		if transA {
			_ = a[(k-1)*lda+m-1]
		} else {
			_ = a[(m-1)*lda+k-1]
		}
	}
	// Nothing to pack (op(A) and every panel of op(B) read in place, as
	// in the small products of attention): no buffer, no lock.
	var g, shared *gemmBuf
	var pa, pb []float32
	if !directB || n%nr != 0 {
		if g = own; g == nil {
			g = getGemmBuf()
			shared = g
		}
		g.a = grow(g.a, mc0*kc0)
		g.b = grow(g.b, nc0*kc0)
		pa, pb = g.a, g.b
	}
	for jc := 0; jc < n; jc += kn.nc {
		nc := min(kn.nc, n-jc)
		for pc := 0; pc < k; pc += kn.kc {
			kc := min(kn.kc, k-pc)
			accum, bt := beta != 0, beta
			if pc > 0 {
				accum, bt = true, 1
			}
			// With op(B) = B and op(A) in place, the full column panels
			// of B are read in place too (row p of a panel at b[p*ldb]);
			// only the last, partial one is packed.
			nb := 0
			if directB && nc >= nr {
				nb = nc / nr * nr
				_ = b[(pc+kc-1)*ldb+jc+nb-1]
			}
			if nb < nc {
				packB(kn, pb, transB, b, ldb, pc, kc, jc+nb, nc-nb)
			}
			rowsBlock(kn, direct, transA, a, lda, m, pc, kc, pa, pb, b[min(pc*ldb+jc, len(b)):], ldb, nb, nc, c[jc:], ldc, alpha, bt, accum,
				lastBlock(kn, n, k, jc, pc, ep), base)
		}
	}
	if shared != nil {
		putGemmBuf(shared)
	}
}

// lastBlock is ep for the block (jc, pc) of an m×n×k product that
// leaves its rows final (the last k block of the last column block),
// nil for the others.
func lastBlock(kn *gemmKernel, n, k, jc, pc int, ep Epilogue) Epilogue {
	if jc+kn.nc >= n && pc+kn.kc >= k {
		return ep
	}
	return nil
}

// rowsBlock computes C[:m, :nc] (+)= alpha·op(A)[:m, pc:pc+kc]·B̃ for
// one packed block B̃ of op(B) (kc×nc in panels of nr at pb), op(A) read
// in place (direct) or packed mc rows at a time into pa. The first nb
// columns of B̃ are instead read in place from bIn (row stride ldb; a
// direct-only option). ep, when not nil (the block that leaves its
// rows final), finishes rows base+i as soon as row i is done: after
// each mc-row block, or after all m rows when op(A) is read in place
// column panel by column panel.
func rowsBlock(kn *gemmKernel, direct, transA bool, a []float32, lda, m, pc, kc int, pa, pb, bIn []float32, ldb, nb, nc int, c []float32, ldc int, alpha, bt float32, accum bool, ep Epilogue, base int) {
	mr, nr := kn.mr, kn.nr
	if direct {
		dfn := kn.directR
		if transA {
			dfn = kn.directC
		}
		for jr := 0; jr < nc; jr += nr {
			nrr := min(nr, nc-jr)
			var bp *float32
			ldp := nr
			if jr < nb {
				bp, ldp = &bIn[jr], ldb
			} else {
				bp = &pb[(jr-nb)*kc]
			}
			for ir := 0; ir < m; ir += mr {
				mrr := min(mr, m-ir)
				var ap *float32
				if transA {
					ap = &a[pc*lda+ir]
				} else {
					ap = &a[ir*lda+pc]
				}
				dfn[mrr](kc, ap, lda, bp, ldp, &c[ir*ldc+jr], ldc, alpha, bt, mrr, nrr, accum)
			}
		}
		if ep != nil {
			ep(base, base+m)
		}
		return
	}
	fn := kn.fn
	// Op(A) = A in big blocks: the rows of an mc×kc block are read in
	// place (they stay in L2 as a packed block would) unless lda is a
	// multiple of 1024 floats (4 KiB aliasing).
	inplace := !transA && kn.directR != nil && lda%1024 != 0
	for ic := 0; ic < m; ic += kn.mc {
		mc := min(kn.mc, m-ic)
		if inplace {
			for jr := 0; jr < nc; jr += nr {
				nrr := min(nr, nc-jr)
				bp := &pb[jr*kc]
				for ir := ic; ir < ic+mc; ir += mr {
					mrr := min(mr, ic+mc-ir)
					kn.directR[mrr](kc, &a[ir*lda+pc], lda, bp, nr, &c[ir*ldc+jr], ldc, alpha, bt, mrr, nrr, accum)
				}
			}
			if ep != nil {
				ep(base+ic, base+ic+mc)
			}
			continue
		}
		packA(kn, pa, transA, a, lda, ic, mc, pc, kc)
		for jr := 0; jr < nc; jr += nr {
			nrr := min(nr, nc-jr)
			bp := &pb[jr*kc]
			ir := 0
			for ; ir+mr <= mc; ir += mr {
				fn(kc, &pa[ir*kc], bp, &c[(ic+ir)*ldc+jr], ldc, alpha, bt, mr, nrr, accum)
			}
			if mrr := mc - ir; mrr > 0 {
				kn.edge[mrr](kc, &pa[ir*kc], bp, &c[(ic+ir)*ldc+jr], ldc, alpha, bt, mrr, nrr, accum)
			}
		}
		if ep != nil {
			ep(base+ic, base+ic+mc)
		}
	}
}

// gemmDirectMaxA is the largest op(A) block (m·kc floats) read in place.
var gemmDirectMaxA = 64 * 1024

// directA reports whether the m×kc block of op(A) is read in place. When
// op(B) has at most two column panels (n ≤ 2·nr: the attention products
// with n = dh), each A element is read at most twice, so packing it can
// only cost more (at 5-10 Gelem/s it was up to 40% of a 256×256×32 TN
// product). Otherwise the block must stay in L2 across the column
// panels: m·kc ≤ gemmDirectMaxA for op(A) = A (14 sequential row streams
// per kernel call), half that for op(A) = Aᵀ, whose micro-panels are
// walked one strided row per k step (which the prefetchers follow less
// well than a packed panel). Always packed: op(A) = Aᵀ with lda > 512
// (every k step a new page: TN 256×256×64 with lda = 1536 ran at 0.55 of
// peak in place, 0.70 packed) and op(A) = A with lda a multiple of 1024
// floats (its 14 rows would alias in L1, 4 KiB apart).
func directA(transA bool, lda, m, kc, n, nr int) bool {
	if transA && lda > 512 || !transA && lda%1024 == 0 {
		return false
	}
	if n <= 2*nr {
		return true
	}
	if transA {
		return 2*m*kc <= gemmDirectMaxA
	}
	return m*kc <= gemmDirectMaxA
}

// directPanel reports whether a kc×32 panel of op(B) = B with row stride
// ldb is read in place: its 2·kc lines must fit in the L1 sets they map
// to (12 ways; rows ldb floats apart cycle through 1024/gcd(ldb, 1024)
// set positions), with a quarter spare for the A stream and C.
func directPanel(ldb, kc int) bool {
	g := 16
	if ldb%16 == 0 {
		g = gcd(ldb, 1024)
	}
	return ldb <= 512 && kc <= 12*1024/g*3/4
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func roundUp(x, m int) int { return (x + m - 1) / m * m }

// packA packs op(A)[i0:i0+mc, p0:p0+kc] into dst as ⌈mc/mr⌉ panels of
// kc×mr (panel element (p, r) at p*mr+r); the last panel, of rows < mr
// rows, is kc×rows (element (p, r) at p*rows+r) for the rows-row kernel.
func packA(kn *gemmKernel, dst []float32, transA bool, a []float32, lda, i0, mc, p0, kc int) {
	mr := kn.mr
	if transA {
		// op(A)[i][p] = a[p*lda+i]: rows of a are contiguous in i, so
		// deal them into the panels, the last one at its own width.
		src := a[p0*lda+i0:]
		full, rem := mc/mr, mc%mr
		if full > 0 {
			packRows(kn, dst, src, lda, kc, full, 0, mr, kc*mr)
		}
		if rem > 0 {
			packRows(kn, dst[full*kc*mr:], src[full*mr:], lda, kc, 1, 0, rem, kc*rem)
		}
		return
	}
	// op(A)[i][p] = a[i*lda+p]: transpose mr rows into each panel.
	for ir := 0; ir < mc; ir += mr {
		rows := min(mr, mc-ir)
		d := dst[ir*kc : ir*kc+kc*rows]
		src := a[(i0+ir)*lda+p0:]
		if kn.transpose != nil {
			kn.transpose(&d[0], &src[0], lda, kc, rows, rows, rows)
			continue
		}
		transposeGo(d, src, lda, kc, rows, rows, rows)
	}
}

// packB packs op(B)[p0:p0+kc, j0:j0+nc] into dst as ⌈nc/nr⌉ panels of
// kc×nr (panel element (p, j) at p*nr+j), zero-padding the last panel.
func packB(kn *gemmKernel, dst []float32, transB bool, b []float32, ldb, p0, kc, j0, nc int) {
	nr := kn.nr
	if !transB {
		// op(B)[p][j] = b[p*ldb+j]: deal the rows of b into the panels.
		packRows(kn, dst, b[p0*ldb+j0:], ldb, kc, nc/nr, nc%nr, nr, kc*nr)
		return
	}
	// op(B)[p][j] = b[j*ldb+p]: transpose rows of b into the panels, 16
	// at a time.
	for jr := 0; jr < nc; jr += nr {
		cols := min(nr, nc-jr)
		d := dst[jr*kc : jr*kc+kc*nr]
		for g := 0; g < nr; g += 16 {
			rows := min(max(cols-g, 0), 16)
			src := b[:1]
			if rows > 0 {
				src = b[(j0+jr+g)*ldb+p0:]
			}
			if kn.transpose != nil {
				kn.transpose(&d[g], &src[0], ldb, kc, nr, rows, 16)
				continue
			}
			transposeGo(d[g:], src, ldb, kc, nr, rows, min(16, nr))
		}
	}
}

// packRows deals kc rows of src (row stride ld), nfull·w + tail floats
// each, into panels of width w: dst[p*w + (q/w)*panel + q%w] =
// src[p*ld+q], the partial last panel zero-padded to w. It uses the
// level's packer when there is one, else copyPanels.
func packRows(kn *gemmKernel, dst, src []float32, ld, kc, nfull, tail, w, panel int) {
	n := nfull*w + tail
	// Bounds: the last row read and the last panel written.
	_ = src[(kc-1)*ld+n-1]
	_ = dst[(nfull+min(tail, 1)-1)*panel+kc*w-1]
	if kn.packRows != nil {
		kn.packRows(&dst[0], &src[0], ld, kc, nfull, tail, w, panel)
		return
	}
	for p := 0; p < kc; p++ {
		copyPanels(dst[p*w:], src[p*ld:p*ld+n], w, panel)
	}
}

// copyPanels deals src into consecutive panels of width w: src[jr:jr+w]
// goes to dst[jr/w*panel:], the last one zero-padded to w.
func copyPanels(dst, src []float32, w, panel int) {
	n := len(src)
	o, j := 0, 0
	switch w {
	case 32:
		for ; j+32 <= n; j, o = j+32, o+panel {
			*(*[32]float32)(dst[o:]) = *(*[32]float32)(src[j:])
		}
	case 16:
		for ; j+16 <= n; j, o = j+16, o+panel {
			*(*[16]float32)(dst[o:]) = *(*[16]float32)(src[j:])
		}
	case 14:
		for ; j+14 <= n; j, o = j+14, o+panel {
			*(*[14]float32)(dst[o:]) = *(*[14]float32)(src[j:])
		}
	case 6:
		for ; j+6 <= n; j, o = j+6, o+panel {
			*(*[6]float32)(dst[o:]) = *(*[6]float32)(src[j:])
		}
	default:
		for ; j+w <= n; j, o = j+w, o+panel {
			copy(dst[o:o+w], src[j:j+w])
		}
	}
	if j < n {
		d := dst[o : o+w]
		copy(d, src[j:])
		clear(d[n-j:])
	}
}

// transposeGo is the pure-Go transposing packer: dst[p*stride+r] =
// src[r*ld+p] for p < kc, r < rows, and 0 for rows ≤ r < lanes.
func transposeGo(dst, src []float32, ld, kc, stride, rows, lanes int) {
	for r := 0; r < rows; r++ {
		transposeInto(dst[r:], src[r*ld:r*ld+kc], stride)
	}
	for r := rows; r < lanes; r++ {
		for p := 0; p < kc; p++ {
			dst[p*stride+r] = 0
		}
	}
}

// transposeInto writes src[p] to d[p*stride] for every p.
func transposeInto(d, src []float32, stride int) {
	if len(src) == 0 {
		return
	}
	_ = d[(len(src)-1)*stride]
	for p, v := range src {
		d[p*stride] = v
	}
}
