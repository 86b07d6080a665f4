package model

import (
	"fmt"
	"sync/atomic"

	"github.com/clinic-ml/clinic/asm"
)

// Column reductions over rows (the LayerNorm γ and β gradients, the
// bias and ω gradients: Σ over a batch's rows of a row-major [rows, w]
// operand) are summed in fixed blocks of rows. Each block is summed
// down its rows into a partial of its own by whichever worker has the
// block, in the row region that produced the operand (its rows are
// still in that worker's cache), and the caller then adds the partials
// into the gradient in block order. The blocks depend only on the
// number of rows, so the sums are the same for any thread count.
//
// They had been split by columns, each worker summing all the rows of
// its columns: a region of its own that read every operand again, half
// of it written by other cores (on the 2-core AMD EPYC VM, where a line
// takes about 230 ns from one core to the other, those regions ran 1.35×
// slower beside each other than alone), and that at 64 threads would
// give each worker 4 of d = 256 columns.

// redRows is the rows of one partial block of a column reduction over n
// rows: 32, and more for large batches so that there are at most about
// 128 partials to add (at least 64 blocks, one per thread of a 64-thread
// server, for n ≥ 2048).
func redRows(n int) int {
	return 32 * max(1, (n+redGrow-1)/redGrow)
}

// redGrow is the row count past which the blocks grow beyond 32 rows
// (128 blocks).
const redGrow = 4096

// redBlocks is the number of partial blocks of n rows.
func redBlocks(n int) int {
	b := redRows(n)
	return (n + b - 1) / b
}

// maxBlocks is the most partial blocks of any row count up to rows:
// redBlocks grows up to 128 at 4,096 rows and then, its blocks growing,
// stays at most 128 (4,097 rows are 65 blocks of 64, 4,096 are 128 of
// 32).
func maxBlocks(rows int) int {
	return redBlocks(min(rows, redGrow))
}

// partials is the scratch of row-blocked reductions: block b's partial
// of the reduction in slot [off, off+w) is buf[b·stride+off:][:w].
type partials struct {
	buf    []float32
	stride int
	// done counts, per block, the rows a producer whose row ranges need
	// not follow the blocks (a GEMM's epilogue) has finished (complete).
	done []atomic.Int32
}

// newPartials is the scratch of reductions over up to rows rows and
// width columns.
func newPartials(rows, width int) partials {
	nb := maxBlocks(rows)
	return partials{buf: make([]float32, nb*width), stride: width, done: make([]atomic.Int32, nb)}
}

// reset clears the blocks' counts before a producer of n rows starts.
func (p *partials) reset(n int) {
	for i := range p.done[:redBlocks(n)] {
		p.done[i].Store(0)
	}
}

// complete records rows [r0, r1) of n as produced and calls sum(b, a, z)
// for each block b, rows [a, z), whose last rows they are. Each block is
// thus summed once, whole and in row order, by whichever worker finishes
// it, however the producer's ranges cut the blocks (a GEMM's epilogue
// gets rows in the kernel's tiles, 14 at a time, not in the blocks), so
// the sums are those of a region split on the blocks, for any split.
// The producer writes a range's rows before it records them: the atomic
// add orders them before the sum that reads them on another worker.
func (p *partials) complete(n, r0, r1 int, sum func(b, a, z int)) {
	rb := redRows(n)
	eachBlock(n, r0, r1, func(b, a, z int, _ bool) {
		end := min(n, (b+1)*rb)
		if int(p.done[b].Add(int32(z-a))) == end-b*rb {
			sum(b, b*rb, end)
		}
	})
}

// colSum writes block b's partial of the column sum of a's rows [r0,
// r1) (w wide) into the slot at off: the one way a block of a bias
// gradient is summed, in a region split on the blocks or in a GEMM's
// epilogue alike.
func (p *partials) colSum(b, off int, a []float32, r0, r1, w int) {
	dst := p.at(b, off, w)
	clear(dst)
	asm.ColSum(dst, a[r0*w:r1*w], r1-r0, w)
}

// at is block b's partial of the slot at off, w wide.
func (p *partials) at(b, off, w int) []float32 {
	if off+w > p.stride {
		// it would overlap the next block's partials
		panic(fmt.Sprintf("model: a reduction of %d columns at %d in partials of %d", w, off, p.stride))
	}
	return p.buf[b*p.stride+off : b*p.stride+off+w]
}

// fold adds the partials of the slot at off of the blocks of n rows into
// dst (len(dst) wide), in block order.
func (p *partials) fold(dst []float32, off, n int) {
	_ = p.at(0, off, len(dst)) // the slot fits a block
	asm.ColSum(dst, p.buf[off:], redBlocks(n), p.stride)
}

// eachBlock calls f for the pieces of rows [r0, r1) cut at the block
// boundaries of n rows: piece [a, z) lies in block b, and fresh reports
// that it starts the block (its partial is to be cleared first). A
// region whose chunks start on block boundaries (ParallelGrain with
// redRows(n)) thus sums each block's rows in order, in one chunk, even
// when it walks them in row blocks of another size.
func eachBlock(n, r0, r1 int, f func(b, a, z int, fresh bool)) {
	rb := redRows(n)
	for a := r0; a < r1; {
		b := a / rb
		z := min(r1, (b+1)*rb)
		f(b, a, z, a == b*rb)
		a = z
	}
}
