package model

import (
	"fmt"

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
	return 32 * max(1, (n+4095)/4096)
}

// redBlocks is the number of partial blocks of n rows.
func redBlocks(n int) int {
	b := redRows(n)
	return (n + b - 1) / b
}

// partials is the scratch of row-blocked reductions: block b's partial
// of the reduction in slot [off, off+w) is buf[b·stride+off:][:w].
type partials struct {
	buf    []float32
	stride int
}

func newPartials(rows, width int) partials {
	return partials{buf: make([]float32, redBlocks(rows)*width), stride: width}
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
