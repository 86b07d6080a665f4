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
	// bf16: the units are SgemmBF16's products (operands rounded to
	// bf16, fp32 sums), on the kernel bkn, or the pure-Go twin when nil.
	bf16 bool
	bkn  *bf16Kernel
}

// splitKUnit computes unit u of job j for the product in g: one cell of
// one group's partial (group 0's into C), packing into own (nil: the
// shared list's buffers).
func splitKUnit(own *gemmBuf, g *gemmArgs, j *splitKJob, u int) {
	mr, nr := j.tile(g)
	cells := j.rows * j.cols
	grp, cell := u/cells, u%cells
	ri, ci := cell/j.cols, cell%j.cols
	rowTiles, colTiles := ceilDiv(g.m, mr), ceilDiv(g.n, nr)
	r0, r1 := min(rowTiles*ri/j.rows*mr, g.m), min(rowTiles*(ri+1)/j.rows*mr, g.m)
	c0, c1 := min(colTiles*ci/j.cols*nr, g.n), min(colTiles*(ci+1)/j.cols*nr, g.n)
	if r0 == r1 || c0 == c1 {
		return
	}
	k0, k1 := splitKFrom(g.k, j.groups, grp), splitKFrom(g.k, j.groups, grp+1)
	dst, ld, beta := g.c, g.ldc, g.beta
	if grp > 0 {
		dst, ld, beta = j.part[(grp-1)*g.m*g.n:], g.n, 0
	}
	a, b, c := g.a[k0*g.lda+r0:], g.b[k0*g.ldb+c0:], dst[r0*ld+c0:]
	switch {
	case !j.bf16:
		sgemmBlockedIn(g.kn, own, true, false, r1-r0, c1-c0, k1-k0, g.alpha, a, g.lda, b, g.ldb, beta, c, ld, nil, 0)
	case j.bkn == nil:
		sgemmBF16Generic(true, false, r1-r0, c1-c0, k1-k0, g.alpha, a, g.lda, b, g.ldb, beta, c, ld)
	default:
		j.bkn.run(nil, true, false, r1-r0, c1-c0, k1-k0, g.alpha, a, g.lda, b, g.ldb, nil, nil, beta, c, ld)
	}
}

// tile is the microkernel tile the cells are cut in (the twin has
// none: the bf16 kernel's, which only sets the split).
func (j *splitKJob) tile(g *gemmArgs) (mr, nr int) {
	switch {
	case !j.bf16:
		return g.kn.mr, g.kn.nr
	case j.bkn != nil:
		return j.bkn.mr, j.bkn.nr
	}
	return 14, 32
}

// splitKFold adds the partials of groups 1.. into rows [lo, hi) of C,
// in group order.
func splitKFold(g *gemmArgs, j *splitKJob, lo, hi int) {
	mn := g.m * g.n
	for r := lo; r < hi; r++ {
		AxpyRows(g.c[r*g.ldc:r*g.ldc+g.n], splitKOnes[:j.groups-1], j.part[r*g.n:], mn)
	}
}

// sgemmSplitKST is the split-K product in g on the calling goroutine:
// the groups one after another, then the fold; the partials and the
// packing in own (nil: a buffer from the shared list).
func sgemmSplitKST(g *gemmArgs, j splitKJob, own *gemmBuf) {
	j.groups = splitKGroups(true, false, g.m, g.n, g.k)
	j.rows, j.cols = 1, 1
	buf := own
	if buf == nil {
		buf = getGemmBuf()
		defer putGemmBuf(buf)
	}
	buf.part = grow(buf.part, (j.groups-1)*g.m*g.n)
	j.part = buf.part
	for u := range j.groups {
		splitKUnit(buf, g, &j, u)
	}
	splitKFold(g, &j, 0, g.m)
}

// sgemmSplitK is the split-K product j (its precision set) of p.gemm
// (its splitKGroups > 1) on the acquired pool: one region computes the
// units, a second folds the partials by rows. Each group is cut into as
// many cells as make groups·cells a multiple of the workers (t/gcd(t,
// groups)), so every worker gets as many.
func (p *Pool) sgemmSplitK(j splitKJob) {
	g := &p.gemm
	j.groups = splitKGroups(g.transA, g.transB, g.m, g.n, g.k)
	t := p.Width()
	mr, nr := j.tile(g)
	j.rows, j.cols = bestGrid(ceilDiv(g.m, mr), ceilDiv(g.n, nr), t/gcd(t, j.groups), false)
	buf := getGemmBuf()
	buf.part = grow(buf.part, (j.groups-1)*g.m*g.n)
	j.part = buf.part
	j.shares = min(t, j.groups*j.rows*j.cols)
	p.splitK = j
	p.run(p.splitK.shares, 1, p.gemmFns.splitK)
	p.run(g.m, gemmRowGrain, p.gemmFns.splitKFold)
	p.splitK = splitKJob{}
	putGemmBuf(buf)
}

// sgemmBF16SplitK is SgemmBF16's weight gradient (op(A) = Aᵀ, op(B) = B,
// splitKGroups > 1) in token groups, as Sgemm's: each group's product is
// an SgemmBF16 over its tokens (k blocks of bf16KC pairs from the
// group's first token), on kn (nil: the twin), and the groups' sums are
// folded in order. Without it, the bf16 kernel split every k block over
// the workers in three regions (pack A, pack B, tiles): twelve short
// regions for a 2,048-token gradient. The profile predicted L6_d256's
// bf16 GEMM phase at 16 threads 15-21 ms with the groups against 21-25
// without, at 64 7-13 against 16-20 (AMD EPYC, two runs each); on two
// cores the step is the same either way (within 1%).
func (p *Pool) sgemmBF16SplitK(kn *bf16Kernel, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	j := splitKJob{bf16: true, bkn: kn}
	g := gemmArgs{true, false, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, nil, nil}
	if !p.acquire() {
		sgemmSplitKST(&g, j, nil)
		return
	}
	p.gemm = g
	p.sgemmSplitK(j)
	p.gemm = gemmArgs{}
	p.release()
}
