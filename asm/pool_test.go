package asm

import (
	"bytes"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// goid returns the current goroutine's id, parsed from its stack header
// ("goroutine 7 [running]:"). Test use only.
func goid() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	b = b[:bytes.IndexByte(b, ' ')]
	id, _ := strconv.ParseUint(string(b), 10, 64)
	return id
}

type span struct{ lo, hi int }

// runChunks calls p.ParallelGrain(n, grain) and returns the chunks seen,
// sorted, after checking each index ran exactly once and the first chunk
// ran on the caller.
func runChunks(t *testing.T, p *Pool, n, grain int) []span {
	t.Helper()
	hits := make([]atomic.Int32, max(n, 0))
	var mu sync.Mutex
	var spans []span
	caller := goid()
	firstOnCaller := true
	p.ParallelGrain(n, grain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			hits[i].Add(1)
		}
		mu.Lock()
		spans = append(spans, span{lo, hi})
		if lo == 0 && goid() != caller {
			firstOnCaller = false
		}
		mu.Unlock()
	})
	for i := range hits {
		if h := hits[i].Load(); h != 1 {
			t.Fatalf("n=%d grain=%d threads=%d: index %d ran %d times", n, grain, p.Threads(), i, h)
		}
	}
	if !firstOnCaller {
		t.Errorf("n=%d grain=%d threads=%d: first chunk not run by the caller", n, grain, p.Threads())
	}
	slices.SortFunc(spans, func(a, b span) int { return a.lo - b.lo })
	return spans
}

func TestParallelCoversOnce(t *testing.T) {
	ns := []int{-3, 0, 1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 63, 64, 65, 100, 1000, 1023}
	for th := 1; th <= 4; th++ {
		withThreads(t, th, func(p *Pool) {
			if p.Threads() != th {
				t.Fatalf("Threads() = %d for NewPool(%d)", p.Threads(), th)
			}
			for _, n := range ns {
				for _, grain := range []int{0, 1, 2, 3, 8, 16, 100} {
					spans := runChunks(t, p, n, grain)
					g := max(grain, 1)
					units := (max(n, 0) + g - 1) / g
					if want := min(th, units); len(spans) != want {
						t.Errorf("n=%d grain=%d threads=%d: %d chunks, want %d", n, grain, th, len(spans), want)
					}
					for i, s := range spans {
						if s.lo >= s.hi {
							t.Errorf("n=%d grain=%d threads=%d: empty chunk %v", n, grain, th, s)
						}
						if s.lo%g != 0 || (s.hi%g != 0 && s.hi != n) {
							t.Errorf("n=%d grain=%d threads=%d: chunk %v not on grain boundaries", n, grain, th, s)
						}
						if i > 0 && spans[i-1].hi != s.lo {
							t.Errorf("n=%d grain=%d threads=%d: chunks %v %v not contiguous", n, grain, th, spans[i-1], s)
						}
					}
					// The split is static: a second call sees the same chunks.
					if again := runChunks(t, p, n, grain); !slices.Equal(again, spans) {
						t.Errorf("n=%d grain=%d threads=%d: chunks %v then %v", n, grain, th, spans, again)
					}
				}
			}
		})
	}
}

// within fails the test if f does not return in time (a deadlock).
func within(t *testing.T, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { f(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not finish within %v (deadlock?)", what, d)
	}
}

func TestParallelNested(t *testing.T) {
	for th := 1; th <= 3; th++ {
		withThreads(t, th, func(p *Pool) {
			const outer, inner = 7, 50
			var hits [outer][inner]atomic.Int32
			within(t, 20*time.Second, "nested Parallel", func() {
				p.Parallel(outer, func(lo, hi int) {
					for o := lo; o < hi; o++ {
						gid := goid()
						p.ParallelGrain(inner, 4, func(ilo, ihi int) {
							// A nested call runs inline, on the caller.
							if goid() != gid {
								t.Errorf("threads=%d: nested chunk ran on another goroutine", th)
							}
							for i := ilo; i < ihi; i++ {
								hits[o][i].Add(1)
							}
						})
					}
				})
			})
			for o := range hits {
				for i := range hits[o] {
					if h := hits[o][i].Load(); h != 1 {
						t.Fatalf("threads=%d: nested index (%d,%d) ran %d times", th, o, i, h)
					}
				}
			}
		})
	}
}

// TestParallelConcurrentCallers: Parallel called from several
// goroutines at once (one gets the pool, the others run inline) still
// covers each range exactly once and never deadlocks.
func TestParallelConcurrentCallers(t *testing.T) {
	withThreads(t, 3, func(p *Pool) {
		const callers, rounds, n = 4, 50, 257
		hits := make([][]atomic.Int32, callers)
		for c := range hits {
			hits[c] = make([]atomic.Int32, n)
		}
		within(t, 20*time.Second, "concurrent Parallel", func() {
			var wg sync.WaitGroup
			for c := 0; c < callers; c++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for r := 0; r < rounds; r++ {
						p.Parallel(n, func(lo, hi int) {
							for i := lo; i < hi; i++ {
								hits[c][i].Add(1)
							}
						})
					}
				}()
			}
			wg.Wait()
		})
		for c := range hits {
			for i := range hits[c] {
				if h := hits[c][i].Load(); h != rounds {
					t.Fatalf("caller %d index %d ran %d times, want %d", c, i, h, rounds)
				}
			}
		}
	})
}

func TestNewPool(t *testing.T) {
	for _, n := range []int{1, 2, 3, 5} {
		p := NewPool(n)
		if p.Threads() != n {
			t.Errorf("NewPool(%d): Threads() = %d", n, p.Threads())
		}
		var sum atomic.Int64
		p.Parallel(100, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				sum.Add(int64(i))
			}
		})
		if sum.Load() != 4950 {
			t.Errorf("threads=%d: Parallel sum %d, want 4950", n, sum.Load())
		}
		p.Close()
		// A closed pool runs calls inline.
		sum.Store(0)
		p.Parallel(100, func(lo, hi int) { sum.Add(int64(hi - lo)) })
		if sum.Load() != 100 {
			t.Errorf("threads=%d: closed pool covered %d of 100", n, sum.Load())
		}
	}
	for _, n := range []int{0, -1} {
		p := NewPool(n)
		if want := runtime.GOMAXPROCS(0); p.Threads() != want {
			t.Errorf("NewPool(%d): Threads() = %d, want GOMAXPROCS = %d", n, p.Threads(), want)
		}
		p.Close()
	}
	var nilPool *Pool
	ran := 0
	nilPool.Parallel(10, func(lo, hi int) { ran += hi - lo })
	if nilPool.Threads() != 1 || ran != 10 {
		t.Errorf("nil pool: %d threads, ran %d of 10", nilPool.Threads(), ran)
	}
}

// A panic in a chunk on a worker thread reaches the caller of Parallel,
// where the program's recover can report it, and the pool stays usable.
// It had killed the process from the worker's goroutine.
func TestParallelWorkerPanic(t *testing.T) {
	p := NewPool(3)
	defer p.Close()
	for round := 0; round < 3; round++ {
		got := func() (r any) {
			defer func() { r = recover() }()
			p.Parallel(3, func(lo, hi int) {
				if lo == round%3 { // a worker's chunk, then the caller's
					panic("boom")
				}
			})
			return nil
		}()
		if s, ok := got.(string); !ok || !strings.Contains(s, "boom") {
			t.Fatalf("round %d: the caller recovered %v, want the worker's panic", round, got)
		}
		var n atomic.Int64
		p.Parallel(3, func(lo, hi int) { n.Add(int64(hi - lo)) })
		if n.Load() != 3 {
			t.Fatalf("round %d: after a panic the pool covered %d of 3", round, n.Load())
		}
	}
}

// BenchmarkParallel measures what one Parallel call costs beyond its
// work: the hand-off to the workers and the wait for the last one, paid
// tens of times per decoding step. Each chunk does spin units of
// busy work (one unit ≈ a few ns), so work=0 is the bare overhead.
func BenchmarkParallel(b *testing.B) {
	var sink atomic.Int64
	for _, work := range []int{0, 2000, 20000} {
		for _, threads := range []int{1, 2, 8} {
			b.Run(fmt.Sprintf("work=%d/threads=%d", work, threads), func(b *testing.B) {
				p := NewPool(threads)
				defer p.Close()
				fn := func(lo, hi int) {
					s := int64(0)
					for i := lo; i < hi; i++ {
						for k := 0; k < work; k++ {
							s += int64(k ^ i)
						}
					}
					sink.Add(s)
				}
				// a serial stretch between calls, as between a step's kernels
				serial := func() {
					s := int64(0)
					for k := 0; k < 2*work; k++ {
						s += int64(k)
					}
					sink.Add(s)
				}
				for b.Loop() {
					p.Parallel(threads, fn)
					serial()
				}
			})
		}
	}
}

// Every chunk of a Parallel call runs before the call returns, and none
// after, also when the worker that finished a call's last chunk is held
// up before it reports it (the next call is then posted while that
// worker is still busy with the last one).
func TestParallelChunksNeverOutliveTheirCall(t *testing.T) {
	var slow atomic.Int64
	hook := func() {
		if slow.Add(1)%5 == 0 {
			time.Sleep(2 * time.Millisecond)
		}
	}
	p := NewPool(3)
	testHookLastChunk.Store(&hook)
	defer func() {
		testHookLastChunk.Store(nil)
		p.Close()
	}()
	var live, late, done atomic.Int64
	missed := 0
	for call := int64(1); call <= 1000; call++ {
		live.Store(call)
		done.Store(0)
		p.Parallel(3, func(lo, hi int) {
			if lo > 0 {
				// a worker's chunk outlasts the caller's spin
				time.Sleep(50 * time.Microsecond)
			}
			if live.Load() != call {
				late.Add(1)
			}
			done.Add(int64(hi - lo))
		})
		if done.Load() != 3 {
			missed++
		}
		live.Store(0)
	}
	if n := late.Load(); n != 0 || missed != 0 {
		t.Fatalf("%d chunks ran after their Parallel call returned; %d calls returned before all their chunks had run", n, missed)
	}
}

// Under a recording that simulates a width, every GEMM path gives the
// bits of the single-threaded product, and a row-split GEMM over
// sharedBMin or more workers records its packing of op(B) as an inner
// region (ended by a barrier, not a join) followed by its row tiles
// split as that many workers split them (row tiles, or a grid of row
// and column groups of at most that many cells).
func TestRecordedGEMMs(t *testing.T) {
	for _, level := range SupportedLevels() {
		withLevel(t, level, func() {
			for _, sh := range [][3]int{{700, 90, 300}, {60, 500, 200}, {300, 300, 70}} {
				m, n, k := sh[0], sh[1], sh[2]
				r := newRand(uint64(m + n + k))
				a, b := randSlice(r, m*k, -1, 1), randSlice(r, k*n, -1, 1)
				want := make([]float32, m*n)
				SgemmST(false, false, m, n, k, 1, a, k, b, n, 0, want, n)
				for _, w := range []int{2, 3, 16} {
					p := NewPool(1)
					rec := p.Record(w)
					got := make([]float32, m*n)
					p.Sgemm(false, false, m, n, k, 1, a, k, b, n, 0, got, n)
					p.Stop()
					p.Close()
					if d := firstBitDiff(got, want); d >= 0 {
						t.Fatalf("%s %v width %d: element %d differs", level, sh, w, d)
					}
					if level == LevelGeneric {
						continue
					}
					if m >= n && w >= sharedBMin {
						// w chunks of row tiles, or a grid of at most w cells
						if c := len(rec.Regions[len(rec.Regions)-1].Chunks); len(rec.Regions) != 2 || !rec.Regions[0].Inner || rec.Regions[1].Inner || c > w || c < w*3/4 {
							t.Errorf("%s %v width %d: regions %+v", level, sh, w, rec.Regions)
						}
					} else if len(rec.Regions) != 1 || rec.Regions[0].Inner {
						t.Errorf("%s %v width %d: regions %+v", level, sh, w, rec.Regions)
					}
				}
			}
		})
	}
}

// Calls are published to all workers at once, and a worker with no
// chunk of a call sleeps on: calls of every width, with pauses long
// enough for the workers to stop spinning and block, each cover their
// range once (a sleeping worker is woken exactly when a call has a chunk
// for it, never misses one, and never runs one twice), and Close ends
// every worker, asleep or not.
func TestParallelWakesSleepingWorkers(t *testing.T) {
	before := runtime.NumGoroutine()
	p := NewPool(6)
	for call := range 400 {
		n := 1 + call*7%9 // widths 1 to 9: some workers idle for several calls
		runChunks(t, p, n, 1)
		if call%10 == 0 {
			time.Sleep(300 * time.Microsecond) // past the spin: workers block
		}
	}
	p.Close()
	for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > before; {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after Close, %d before NewPool", runtime.NumGoroutine(), before)
		}
		time.Sleep(time.Millisecond)
	}
}

// A user's pool is no wider than the CPUs the process may use.
func TestNewPoolOnCPUs(t *testing.T) {
	cpus := runtime.GOMAXPROCS(0)
	for _, c := range []struct{ n, want int }{{1, 1}, {cpus, cpus}, {cpus + 5, cpus}, {4 * cpus, cpus}, {0, cpus}} {
		p, err := NewPoolOnCPUs(c.n, false)
		if err != nil {
			t.Fatal(err)
		}
		if p.Threads() != c.want {
			t.Errorf("NewPoolOnCPUs(%d) on %d CPUs: %d threads, want %d", c.n, cpus, p.Threads(), c.want)
		}
		p.Close()
	}
}

// A staggered recording runs each call's chunks one at a time, in split
// order, on the real workers: no two chunks of a call overlap, every
// chunk is recorded, and every GEMM path (own op(B) per worker at 2,
// shared and packed in a region of its own from sharedBMin workers on)
// gives the single-threaded product's bits.
func TestRecordStaggered(t *testing.T) {
	for _, th := range []int{2, 3, sharedBMin, 7} {
		p := NewPool(th)
		rec := p.RecordStaggered()
		var running, overlaps atomic.Int32
		var order []int
		var mu sync.Mutex
		p.Parallel(10*th, func(lo, hi int) {
			if running.Add(1) != 1 {
				overlaps.Add(1)
			}
			time.Sleep(200 * time.Microsecond)
			mu.Lock()
			order = append(order, lo)
			mu.Unlock()
			running.Add(-1)
		})
		if overlaps.Load() != 0 || !slices.IsSorted(order) || len(order) != th {
			t.Errorf("%d threads: %d overlaps, chunks ran at %v", th, overlaps.Load(), order)
		}
		if len(rec.Regions) != 1 || len(rec.Regions[0].Chunks) != th || slices.Min(rec.Regions[0].Chunks) < 200*time.Microsecond {
			t.Errorf("%d threads: recorded %+v", th, rec.Regions)
		}
		for _, sh := range [][3]int{{700, 90, 300}, {60, 500, 200}, {300, 300, 70}} {
			m, n, k := sh[0], sh[1], sh[2]
			r := newRand(uint64(m + n + k))
			a, b := randSlice(r, m*k, -1, 1), randSlice(r, k*n, -1, 1)
			want, got := make([]float32, m*n), make([]float32, m*n)
			SgemmST(false, false, m, n, k, 1, a, k, b, n, 0, want, n)
			p.Sgemm(false, false, m, n, k, 1, a, k, b, n, 0, got, n)
			if d := firstBitDiff(got, want); d >= 0 {
				t.Fatalf("%d threads %v: element %d differs", th, sh, d)
			}
		}
		p.Stop()
		p.Close()
	}
}
