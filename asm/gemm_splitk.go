package asm

// Products over many tokens: weight gradients.
//
// A weight's gradient is C = Aᵀ·B (m×n) with k the batch's tokens: A is
// the output gradients [k, m], B the inputs [k, n]. Split over rows or
// columns of C, every worker needs every token of one operand and packs
// all of it for itself: at two threads each of them packs 2 MB of
// activations for a 256-row share of a 2,048-token L6_d256 gradient,
// the redundant work that kept these products near 1.6-1.7x on two
// cores while the others reached 1.8-1.9x, and the operand is half in
// the other core's cache (the activations' rows were written by the
// worker that owned them).
//
// So such products are summed in fixed groups of tokens: group g's
// partial product over its tokens, computed from zero (group 0 straight
// into C, with beta), and the partials folded into C in group order,
// C = ((P₀ + P₁) + P₂) + …. The groups depend only on k (and m·n, which
// bounds the partials' memory), never on the thread count, so the bits
// do not either; on one thread the fold is the only extra work (one
// read and write of each partial, 1-2% of the product). Each group's
// product is split over a grid of row and column cells like any other;
// the workers take (group, cell) units in order, so at two threads of
// a 2,048-token batch each computes one group over its own tokens and
// packs only those.

const (
	// splitKMin is the fewest tokens in a group: a partial must be
	// worth its fold (its m·n floats written, read and added once
	// against 2·m·n·1024 flops).
	splitKMin = 1024
	// splitKMaxGroups bounds the groups of a long batch (B128's 16,384
	// tokens: 16 groups, one per worker of a 16-core server).
	splitKMaxGroups = 16
	// splitKBudget is the most floats the partials of one product take
	// (16 MB): wider products get fewer groups, ones past it none.
	splitKBudget = 1 << 22
)

// splitKGroups is the number of token groups an m×n product over k
// sums in: 1 (an ordinary product) unless it is a weight gradient's
// layout, op(A) = Aᵀ and op(B) = B, over at least 2·splitKMin tokens.
func splitKGroups(transA, transB bool, m, n, k int) int {
	if !transA || transB || k < 2*splitKMin {
		return 1
	}
	return max(1, min(k/splitKMin, splitKMaxGroups, 1+splitKBudget/(m*n)))
}

// splitKFrom is the first token of group g of groups over k.
func splitKFrom(k, groups, g int) int { return g * k / groups }

// splitKOnes are the weights of the fold's AxpyRows: adding 1·P is adding P,
// exactly, with or without a fused multiply-add.
var splitKOnes = [splitKMaxGroups]float32{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}

// splitKJob is a split-K product's split: groups × rows × cols units,
// group-major, in shares of units split evenly.
type splitKJob struct {
	groups, rows, cols, shares int
	part                       []float32 // partials of groups 1.., m×n each
}

// splitKUnit computes unit u of job j for the product in g: one cell of
// one group's partial (group 0's into C), packing into own (nil: the
// shared list's buffers).
func splitKUnit(own *gemmBuf, g *gemmArgs, j *splitKJob, u int) {
	kn := g.kn
	cells := j.rows * j.cols
	grp, cell := u/cells, u%cells
	ri, ci := cell/j.cols, cell%j.cols
	rowTiles, colTiles := ceilDiv(g.m, kn.mr), ceilDiv(g.n, kn.nr)
	r0, r1 := min(rowTiles*ri/j.rows*kn.mr, g.m), min(rowTiles*(ri+1)/j.rows*kn.mr, g.m)
	c0, c1 := min(colTiles*ci/j.cols*kn.nr, g.n), min(colTiles*(ci+1)/j.cols*kn.nr, g.n)
	if r0 == r1 || c0 == c1 {
		return
	}
	k0, k1 := splitKFrom(g.k, j.groups, grp), splitKFrom(g.k, j.groups, grp+1)
	dst, ld, beta := g.c, g.ldc, g.beta
	if grp > 0 {
		dst, ld, beta = j.part[(grp-1)*g.m*g.n:], g.n, 0
	}
	sgemmBlockedIn(kn, own, true, false, r1-r0, c1-c0, k1-k0, g.alpha, g.a[k0*g.lda+r0:], g.lda, g.b[k0*g.ldb+c0:], g.ldb, beta, dst[r0*ld+c0:], ld)
}

// splitKFold adds the partials of groups 1.. into rows [lo, hi) of C,
// in group order.
func splitKFold(g *gemmArgs, j *splitKJob, lo, hi int) {
	mn := g.m * g.n
	for r := lo; r < hi; r++ {
		AxpyRows(g.c[r*g.ldc:r*g.ldc+g.n], splitKOnes[:j.groups-1], j.part[r*g.n:], mn)
	}
}

// sgemmSplitKST is a split-K product on the calling goroutine: the
// groups one after another, then the fold; the partials and the packing
// in own (nil: a buffer from the shared list).
func sgemmSplitKST(kn *gemmKernel, own *gemmBuf, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	g := gemmArgs{true, false, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, kn}
	groups := splitKGroups(true, false, m, n, k)
	buf := own
	if buf == nil {
		buf = getGemmBuf()
		defer putGemmBuf(buf)
	}
	buf.part = grow(buf.part, (groups-1)*m*n)
	j := splitKJob{groups: groups, rows: 1, cols: 1, part: buf.part}
	for u := range groups {
		splitKUnit(buf, &g, &j, u)
	}
	splitKFold(&g, &j, 0, m)
}

// sgemmSplitK is a split-K product on the pool (p.gemm set, its
// splitKGroups > 1): one region computes the units, a second folds the
// partials by rows. Each group is cut into as many cells as make
// groups·cells a multiple of the workers (t/gcd(t, groups)), so every
// worker gets as many.
func (p *Pool) sgemmSplitK() {
	g := &p.gemm
	groups := splitKGroups(g.transA, g.transB, g.m, g.n, g.k)
	t := p.Width()
	rows, cols := bestGrid(ceilDiv(g.m, g.kn.mr), ceilDiv(g.n, g.kn.nr), t/gcd(t, groups), false)
	buf := getGemmBuf()
	buf.part = grow(buf.part, (groups-1)*g.m*g.n)
	units := groups * rows * cols
	p.splitK = splitKJob{groups: groups, rows: rows, cols: cols, shares: min(t, units), part: buf.part}
	p.run(p.splitK.shares, 1, p.gemmFns.splitK)
	p.run(g.m, gemmRowGrain, p.gemmFns.splitKFold)
	p.splitK = splitKJob{}
	putGemmBuf(buf)
}
