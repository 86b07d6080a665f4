package asm

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Pool is a fixed set of workers that the parallel kernels run on. It is
// a value: a model, a trainer or a translator holds the pool it was
// given, so two of them in one process can run at different widths, and
// nothing about threads is global. A nil *Pool is a pool of one thread:
// every method runs inline on the caller.
//
// Parallel splits [0,n) into one contiguous chunk per worker, so which
// element goes to which worker depends only on n and the thread count,
// never on scheduling. One call runs at a time; a call made while the
// pool is busy (from inside a chunk, or from another goroutine) runs
// inline on its caller, so kernels compose.
type Pool struct {
	mu      sync.Mutex // held for one call (a Parallel, a GEMM)
	threads int
	closed  bool // Close ran: the workers have exited

	// The current call, published to every worker at once: the caller
	// writes job, then stores call, a word holding the call's sequence
	// number and its number of chunks; a worker that sees a new word
	// runs its chunk if it has one. (The caller had sent each worker its
	// chunk on a channel of its own, one after another: 1.3 µs a worker
	// on this VM, 20 µs a region at 16 threads and the largest part of
	// the predicted burden, 7,580 regions a beam-search batch.)
	job     callJob
	call    atomic.Uint64
	seq     uint64 // the caller's count of calls published (under mu)
	workers []workerState
	done    sync.WaitGroup
	left    atomic.Int32 // chunks of the current call not yet finished
	// turn is the chunk whose turn it is in a staggered recording's call
	// (RecordStaggered): worker w waits for turn w, then passes it on.
	turn atomic.Int32
	// panicked holds the first panic of the current call's chunks on a
	// worker; the caller re-raises it, so a bug in a kernel reaches the
	// program's top-level recover instead of killing the process from a
	// goroutine nobody recovers.
	panicked atomic.Pointer[workerPanic]

	// Accounting (SetTiming): time the workers spent running chunks,
	// time the caller waited for them.
	timing     atomic.Bool
	busy, wait atomic.Int64 // nanoseconds

	// rec, when set, records every call's chunks (the work/span
	// profile); see Record.
	rec *Recording

	// The kernels' job slots, used under mu: a GEMM's arguments are
	// shared with the workers through them rather than through a
	// closure built per call (which would allocate).
	gemm    gemmArgs
	gemmFns gemmFuncs
	tiles   tileShares // the row tiles of a row-split GEMM, by worker
	// next unclaimed and packed pieces of a row-split GEMM's op(B)
	packNext, packDone atomic.Int64
	packed             packedJob
	packFn             func(lo, hi int) // SgemmPacked's chunk
	pack               packJob
	packBFn            func(lo, hi int) // packShared's chunk
	// gemmB is the operand a row-split GEMM packs once for all workers.
	gemmB  PackedB
	splitK splitKJob // a split-K product's split (gemm_splitk.go)
	bf16   bf16Job
}

type chunk struct {
	fn          func(lo, hi int)
	lo, hi, idx int
}

// callJob is a call's split: chunk i of t covers units [units·i/t,
// units·(i+1)/t) of grain elements each, clipped to n.
type callJob struct {
	fn              func(lo, hi int)
	n, grain, units int
	t               int
}

func (j *callJob) chunk(i int) chunk {
	b := func(i int) int { return min((j.units*i/j.t)*j.grain, j.n) }
	return chunk{j.fn, b(i), b(i + 1), i}
}

// The call word: the sequence number above callShift, then a bit for
// Close, then the call's number of chunks.
const (
	callShift  = 16
	callClosed = 1 << 15
	callChunks = callClosed - 1
)

// workerState is what the caller and one worker share to put the
// worker to sleep and wake it, on a cache line of its own.
type workerState struct {
	// sleeping is set by the worker before it blocks on wake; whoever
	// clears it (the caller, publishing a call the worker has a chunk
	// of, or the worker, seeing that call itself) decides whether a
	// token is sent on wake.
	sleeping atomic.Bool
	wake     chan struct{}
	_        [48]byte
}

type workerPanic struct{ v any }

// The workers and the caller spin before they block. A decoding step
// makes some sixty Parallel calls with serial work between them, and a
// worker blocked in the kernel took 10–50 µs to wake each time (on a
// shared VM): the caller sat waiting for a quarter of beam search's
// time. A worker loads the call word and the caller the count of
// unfinished chunks for spinFor before they block (on the worker's wake
// channel, on the WaitGroup). The spin is timed, not counted: 32,768
// loads of the call word took some 30 µs, and a worker that finished
// its chunk early fell asleep before the next call, which then waited
// 80–130 µs for it to wake (8% of a 2-thread L6_d256 step on the AMD
// EPYC VM). 200 µs covers a step's gaps and costs an idle pool nothing.
const spinFor = 200 * time.Microsecond

// spinner paces a spin: more reports whether to poll once more, until
// spinFor has passed since its first call, yielding the processor every
// 1,024 polls (to the runtime's own goroutines: the pool's fill the
// CPUs).
type spinner struct {
	n        int
	deadline time.Time
}

func (s *spinner) more() bool {
	s.n++
	if s.n&255 != 0 {
		return true
	}
	now := time.Now()
	if s.deadline.IsZero() {
		s.deadline = now.Add(spinFor)
	}
	if s.n&1023 == 0 {
		runtime.Gosched()
	}
	return now.Before(s.deadline)
}

// MaxThreads bounds a pool's width; a larger request is an error of the
// caller's (clinic refuses more than four threads per CPU before this).
const MaxThreads = 4096

// NewPool starts a pool of n threads: the caller of each call and n-1
// workers. n < 1 means one per usable CPU (GOMAXPROCS). Close stops the
// workers.
func NewPool(n int) *Pool {
	if n < 1 {
		n = runtime.GOMAXPROCS(0)
	}
	if n > MaxThreads {
		panic(fmt.Sprintf("asm: a pool of %d threads (at most %d)", n, MaxThreads))
	}
	p := &Pool{threads: n}
	p.workers = make([]workerState, n-1)
	for i := range p.workers {
		p.workers[i].wake = make(chan struct{}, 1)
		go p.worker(i + 1)
	}
	p.gemmFns.init(p)
	p.packFn = p.packedChunk
	p.packBFn = func(lo, hi int) { p.pack.pb.packPieces(p.pack.b, p.pack.ldb, lo, hi) }
	p.bf16.init()
	return p
}

// NewPoolOnCPUs is NewPool for a user's --threads: no wider than the
// process can run at once (GOMAXPROCS: the CPUs it may use). Results do
// not depend on the width, and workers beyond the CPUs only take turns
// on them: each region then waits for chunks that have no CPU to run on
// (--threads 16 on 2 CPUs ran an L6_d256 step 1.36× slower than --threads 2, on a busy AMD EPYC VM).
// With pin, its threads are bound to CPUs (Pin); a failure to bind
// closes the pool and is returned.
func NewPoolOnCPUs(n int, pin bool) (*Pool, error) {
	if cpus := runtime.GOMAXPROCS(0); n > cpus {
		n = cpus
	}
	p := NewPool(n)
	if pin {
		if err := p.Pin(); err != nil {
			p.Close()
			return nil, err
		}
	}
	return p, nil
}

// Close stops the workers. Calls after Close run inline. It must not be
// called while a call is running.
func (p *Pool) Close() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.publish(callClosed | callChunks)
	p.closed = true
}

// Pin locks the caller's goroutine and each worker to an OS thread of
// its own, bound to one CPU: the caller to the first of the process's
// CPUs, worker i to the (i+1)-th (wrapping around). A chunk then always
// runs on the same core, and memory a worker first touches (its rows of
// the activations, which it writes first) is placed on that core's node
// of a multi-socket server. Call it from the goroutine that will make
// the calls, before the first and outside a recording; the binding
// lasts for the goroutine's life. It is off by default ('clinic train --pin-threads').
func (p *Pool) Pin() error {
	cpus, err := allowedCPUs()
	if err != nil {
		return err
	}
	if p == nil {
		return pinSelf(cpus[0])
	}
	// one chunk per thread (chunk i of run's split goes to worker i−1,
	// chunk 0 to the caller), each pinning the thread it runs on
	errs := make([]error, p.threads)
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return fmt.Errorf("asm: Pin on a closed pool")
	}
	p.run(p.threads, 1, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			errs[i] = pinSelf(cpus[i%len(cpus)])
		}
	})
	p.release()
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// Threads reports the pool's width (1 for a nil pool).
func (p *Pool) Threads() int {
	if p == nil {
		return 1
	}
	return p.threads
}

// publish makes word (a number of chunks, or callClosed) the current
// call and wakes the sleeping workers that have a chunk of it; the
// others sleep on.
func (p *Pool) publish(word uint64) {
	p.seq++
	p.call.Store(p.seq<<callShift | word)
	if p.rec != nil && p.rec.cur != nil {
		p.rec.published()
	}
	t := int(word & callChunks)
	for i := range p.workers[:min(t-1, len(p.workers))] {
		// A plain load first: the flag's line stays in this core's
		// cache while its worker is awake, so an awake worker costs
		// the caller no cache miss. (A worker that sets the flag after
		// this load sees the call stored above and does not sleep.)
		if w := &p.workers[i]; w.sleeping.Load() && w.sleeping.CompareAndSwap(true, false) {
			w.wake <- struct{}{}
		}
	}
}

// worker runs chunk w of each call that has one, until Close.
func (p *Pool) worker(w int) {
	me := &p.workers[w-1]
	var seen uint64
	for {
		word := p.await(me, seen)
		seen = word >> callShift
		if word&callClosed != 0 {
			return
		}
		if w >= int(word&callChunks) {
			continue // no chunk of this call: the caller will not wait for us
		}
		// The caller waits for this chunk, so job stays as it was
		// published until we report it done.
		c := p.job.chunk(w)
		staggered := p.rec != nil && p.rec.staggered
		for staggered && p.turn.Load() != int32(w) {
			runtime.Gosched()
		}
		if p.timing.Load() || p.rec != nil {
			t0 := time.Now()
			p.runChunk(c)
			d := time.Since(t0)
			p.busy.Add(int64(d))
			if p.rec != nil {
				p.rec.chunkDone(c.idx, d)
			}
		} else {
			p.runChunk(c)
		}
		if staggered {
			p.turn.Store(int32(w + 1))
		}
		if p.left.Add(-1) == 0 {
			if h := testHookLastChunk.Load(); h != nil {
				(*h)()
			}
		}
		p.done.Done()
	}
}

// runChunk runs one chunk, keeping a panic for the caller to re-raise.
func (p *Pool) runChunk(c chunk) {
	defer func() {
		if r := recover(); r != nil {
			p.panicked.CompareAndSwap(nil, &workerPanic{r})
		}
	}()
	c.fn(c.lo, c.hi)
}

// await returns the first call word whose sequence number is not seen:
// it spins on the word, then sleeps until a caller wakes it.
func (p *Pool) await(me *workerState, seen uint64) uint64 {
	var s spinner
	for s.more() {
		if c := p.call.Load(); c>>callShift != seen {
			return c
		}
	}
	for {
		me.sleeping.Store(true)
		if c := p.call.Load(); c>>callShift != seen {
			// A call came as we fell asleep. If its caller cleared our
			// flag first, it is sending a token: take it, so that the
			// next sleep does not wake on a stale one.
			if !me.sleeping.CompareAndSwap(true, false) {
				<-me.wake
			}
			return c
		}
		<-me.wake
	}
}

// testHookLastChunk, when set (by tests), runs in the worker that
// finished a call's last chunk, before it reports it done: a delay
// there is a worker descheduled at the worst moment.
var testHookLastChunk atomic.Pointer[func()]

// waitWorkers returns once every chunk of the current call has
// finished, spinning on the count first, then blocking on the WaitGroup
// (which returns at once when the count has already reached zero and
// every worker has reported).
func (p *Pool) waitWorkers() {
	for s := (spinner{}); p.left.Load() != 0 && s.more(); {
	}
	p.done.Wait()
}

// Parallel runs fn over [0,n) split into at most Threads() contiguous
// chunks, the calling goroutine taking the first. A Parallel called from
// inside another runs inline on the caller, so kernels compose.
// fn should be created once and reused: a closure built per call
// allocates.
func (p *Pool) Parallel(n int, fn func(lo, hi int)) {
	p.ParallelGrain(n, 1, fn)
}

// ParallelGrain is Parallel with chunk bounds rounded to multiples of
// grain (the last chunk takes the remainder).
func (p *Pool) ParallelGrain(n, grain int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if !p.acquire() {
		fn(0, n)
		return
	}
	p.run(n, grain, fn)
	p.release()
}

// acquire takes the pool for one call. It fails for a nil or closed
// pool, for one of width 1 (so that a simulated width 1 runs what one
// thread runs) and while another call holds it; the caller then runs
// inline.
func (p *Pool) acquire() bool {
	if p == nil || p.Width() == 1 || !p.mu.TryLock() {
		return false
	}
	if p.closed {
		p.mu.Unlock()
		return false
	}
	return true
}

// release ends a call taken with acquire, re-raising on the caller a
// panic that a worker recovered.
func (p *Pool) release() {
	wp := p.panicked.Swap(nil)
	p.mu.Unlock()
	if wp != nil {
		panic(fmt.Sprintf("in a parallel kernel: %v", wp.v))
	}
}

// run is ParallelGrain with the pool acquired.
func (p *Pool) run(n, grain int, fn func(lo, hi int)) {
	if grain < 1 {
		grain = 1
	}
	units := (n + grain - 1) / grain
	t := min(p.Width(), units)
	j := callJob{fn: fn, n: n, grain: grain, units: units, t: t}
	if p.rec != nil {
		p.rec.begin(t)
		if p.rec.width > 0 {
			// Simulating another width: the chunks run one after another
			// on the caller, each timed alone.
			for i := 0; i < t; i++ {
				t0 := time.Now()
				p.runChunk(j.chunk(i))
				p.rec.chunkDone(i, time.Since(t0))
			}
			p.rec.end()
			return
		}
	}
	if t <= 1 {
		p.timedInline(fn, 0, n)
		if p.rec != nil {
			p.rec.end()
		}
		return
	}
	p.job = j
	p.turn.Store(0)
	p.done.Add(t - 1)
	p.left.Store(int32(t - 1))
	p.publish(uint64(t))
	if p.rec != nil {
		p.rec.posted()
	}
	c := j.chunk(0)
	p.timedInline(fn, c.lo, c.hi)
	p.turn.Store(1)
	if p.timing.Load() {
		t0 := time.Now()
		p.waitWorkers()
		p.wait.Add(int64(time.Since(t0)))
	} else {
		p.waitWorkers()
	}
	if p.rec != nil {
		p.rec.end()
	}
}

// Width is the number of chunks a call over at least that many units is
// split into: the pool's threads, or the width a recording simulates.
// Work split by hand into Width() shares is split as the pool splits.
func (p *Pool) Width() int {
	if p == nil {
		return 1
	}
	if p.rec != nil && p.rec.width > 0 {
		return p.rec.width
	}
	return p.threads
}

// timedInline runs the caller's chunk (timed for a recording). A panic
// in it is kept like a worker's, so that the caller still waits for the
// workers and releases the pool before re-raising it.
func (p *Pool) timedInline(fn func(lo, hi int), lo, hi int) {
	if p.rec == nil {
		p.runChunk(chunk{fn, lo, hi, 0})
		return
	}
	t0 := time.Now()
	p.runChunk(chunk{fn, lo, hi, 0})
	p.rec.chunkDone(0, time.Since(t0))
}

// SetTiming switches the pool's accounting on or off.
func (p *Pool) SetTiming(on bool) {
	if p != nil {
		p.timing.Store(on)
	}
}

// Times returns the time the pool's workers (not counting the calling
// goroutine) have spent running chunks, and the time callers have spent
// waiting for them, while accounting was on.
func (p *Pool) Times() (busy, wait time.Duration) {
	if p == nil {
		return 0, 0
	}
	return time.Duration(p.busy.Load()), time.Duration(p.wait.Load())
}
