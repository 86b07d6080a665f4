package asm

import (
	"fmt"
	"sync"
	"testing"
)

// epCheck is an epilogue under test: it counts the calls on every row
// and finishes C's rows with a function that is not linear (so that a
// call before a row's last k block would show in the bits) and depends
// on the row.
type epCheck struct {
	mu     sync.Mutex
	c      []float32
	n, ldc int
	calls  []int
	widest int
}

func (e *epCheck) rows(r0, r1 int) {
	for r := r0; r < r1; r++ {
		finishRow(e.c[r*e.ldc:r*e.ldc+e.n], r)
	}
	e.mu.Lock()
	for r := r0; r < r1; r++ {
		e.calls[r]++
	}
	e.widest = max(e.widest, r1-r0)
	e.mu.Unlock()
}

func finishRow(row []float32, r int) {
	for j, v := range row {
		row[j] = v*v*0.5 - v + float32(r%7)
	}
}

// TestSgemmEpilogue checks SgemmEp at every CPU level, on one thread,
// real pools of 1-4 threads and simulated widths up to 64, on shapes
// that cross the blocking (kc, mc, nc), the parallel threshold, the
// token groups of weight gradients and the column split (m < n): the
// epilogue runs exactly once on every row, after its last k block (C
// equals SgemmST's followed by the epilogue, bit for bit), with guards
// around C; and a row-split product calls it per block of rows, not
// once over all of them.
func TestSgemmEpilogue(t *testing.T) {
	shapes := [][4]int{ // m, n, k, layout (bit 1: transA, bit 0: transB)
		{1, 1, 1, 0}, {7, 5, 3, 1}, {33, 17, 65, 2}, {129, 65, 100, 3},
		{700, 300, 600, 0}, {1000, 64, 300, 1}, {500, 130, 17, 2},
		{60, 2100, 40, 0}, {20, 300, 257, 0}, {300, 90, 2048, 2}, {0, 5, 5, 0}, {5, 5, 0, 0},
	}
	if testing.Short() {
		shapes = append(shapes[:4], shapes[4:6]...)
	}
	for _, level := range SupportedLevels() {
		withLevel(t, level, func() { sgemmEpilogueCheck(t, level, shapes) })
	}
}

func sgemmEpilogueCheck(t *testing.T, level string, shapes [][4]int) {
	for i, sh := range shapes {
		p := newRefGemm(uint64(9100+i), sh[3]&2 != 0, sh[3]&1 != 0, sh[0], sh[1], sh[2], i%3*2)
		for _, ab := range []alphaBeta{{1, 0}, {1, 1}, {-0.5, 0.3}} {
			label := fmt.Sprintf("%s %v alpha=%v beta=%v", level, p, ab.alpha, ab.beta)
			want := p.run(SgemmST, ab.alpha, ab.beta)
			for r := range p.m {
				finishRow(want.s()[r*p.ldc:r*p.ldc+p.n], r)
			}
			try := func(how string, pool *Pool) *epCheck {
				c := p.initC(ab.beta)
				e := &epCheck{c: c.s(), n: p.n, ldc: p.ldc, calls: make([]int, p.m)}
				pool.SgemmEp(p.ta, p.tb, p.m, p.n, p.k, ab.alpha, p.a.s(), p.lda, p.b.s(), p.ldb, ab.beta, c.s(), p.ldc, e.rows)
				checkGuards(t, label+" "+how, c)
				if d := firstBitDiff(c.full, want.full); d >= 0 {
					t.Errorf("%s %s: element %d = %v, want %v", label, how, d-guardLen, c.full[d], want.full[d])
				}
				for r, n := range e.calls {
					if n != 1 {
						t.Errorf("%s %s: row %d finished %d times", label, how, r, n)
						break
					}
				}
				return e
			}
			try("one thread", nil)
			for th := 1; th <= 4; th++ { // 4: shared op(B), claimed rows
				withThreads(t, th, func(pool *Pool) {
					e := try(fmt.Sprintf("threads=%d", th), pool)
					// A large row-split product finishes rows block by
					// block, while they are in cache.
					if kn := cur.gemm; kn != nil && th == 2 && p.m >= p.n && p.m > kn.mc && p.m*p.n*p.k >= gemmParallelMin && splitKGroups(p.ta, p.tb, p.m, p.n, p.k) < 2 && e.widest > kn.mc {
						t.Errorf("%s threads=2: an epilogue call over %d rows, more than a block's %d", label, e.widest, kn.mc)
					}
				})
			}
			withThreads(t, 2, func(pool *Pool) {
				for _, w := range []int{4, 5, 16, 64} {
					pool.Record(w)
					try(fmt.Sprintf("width=%d", w), pool)
					pool.Stop()
				}
			})
		}
	}
}
