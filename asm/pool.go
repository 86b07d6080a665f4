package asm

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// The pool is a fixed set of workers. Parallel splits [0,n) into one
// contiguous chunk per worker, so which element goes to which worker
// depends only on n and the thread count, never on scheduling.

type chunk struct {
	fn     func(lo, hi int)
	lo, hi int
}

type pool struct {
	mu      sync.Mutex // one Parallel at a time; nested calls run inline
	threads int
	closed  bool // replaced by SetThreads: its workers have exited
	work    []chan chunk
	done    sync.WaitGroup
	left    atomic.Int32 // chunks of the current call not yet finished
}

// The workers and the caller spin before they block. A decoding step
// makes some sixty Parallel calls with serial work between them, and a
// worker blocked in the kernel took 10–50 µs to wake each time (on a
// shared VM): the caller sat waiting for a quarter of beam search's
// time. A worker polls its channel (a non-blocking receive) and the
// caller the count of unfinished chunks, spinLoads times, before they
// block on the channel and the WaitGroup as before: the spinning is only
// a shortcut, the channel and the WaitGroup still carry every hand-off,
// so it cannot lose one. spinLoads polls take some 25–100 µs, longer
// than most serial stretches of a step, short enough that an idle pool
// costs nothing.
const spinLoads = 1 << 15

var thePool = newPool(runtime.GOMAXPROCS(0))

func newPool(n int) *pool {
	if n < 1 {
		n = 1
	}
	p := &pool{threads: n}
	p.work = make([]chan chunk, n-1)
	for i := range p.work {
		ch := make(chan chunk, 1)
		p.work[i] = ch
		go p.worker(ch)
	}
	return p
}

// worker runs the chunks sent on ch until it is closed.
func (p *pool) worker(ch chan chunk) {
	for {
		c, ok := poll(ch)
		if !ok {
			return
		}
		if poolTiming.Load() {
			t0 := time.Now()
			c.fn(c.lo, c.hi)
			poolBusy.Add(int64(time.Since(t0)))
		} else {
			c.fn(c.lo, c.hi)
		}
		if p.left.Add(-1) == 0 {
			if h := testHookLastChunk.Load(); h != nil {
				(*h)()
			}
		}
		p.done.Done()
	}
}

// poll receives from ch, spinning on non-blocking receives before it
// blocks.
func poll(ch chan chunk) (chunk, bool) {
	for spin := 0; spin < spinLoads; spin++ {
		select {
		case c, ok := <-ch:
			return c, ok
		default:
		}
		if spin&1023 == 1023 {
			runtime.Gosched()
		}
	}
	c, ok := <-ch
	return c, ok
}

// testHookLastChunk, when set (by tests), runs in the worker that
// finished a call's last chunk, before it reports it done: a delay
// there is a worker descheduled at the worst moment.
var testHookLastChunk atomic.Pointer[func()]

// wait returns once every chunk of the current call has finished,
// spinning on the count first, then blocking on the WaitGroup (which
// returns at once when the count has already reached zero and every
// worker has reported).
func (p *pool) wait() {
	for spin := 0; spin < spinLoads && p.left.Load() != 0; spin++ {
		if spin&1023 == 1023 {
			runtime.Gosched()
		}
	}
	p.done.Wait()
}

// SetThreads sets the number of workers used by parallel kernels.
// n < 1 means one per usable CPU (GOMAXPROCS, as at start-up). It must
// not be called while a kernel is running.
func SetThreads(n int) {
	if n < 1 {
		n = runtime.GOMAXPROCS(0)
	}
	thePool.mu.Lock()
	old := thePool
	if old.threads == n {
		old.mu.Unlock()
		return
	}
	for _, ch := range old.work {
		close(ch)
	}
	old.closed = true
	thePool = newPool(n)
	old.mu.Unlock()
}

// Threads reports the number of workers.
func Threads() int { return thePool.threads }

// Parallel runs fn over [0,n) split into at most Threads() contiguous
// chunks, the calling goroutine taking the first. A Parallel called from
// inside another runs inline on the caller, so kernels compose.
// fn should be created once and reused: a closure built per call
// allocates.
func Parallel(n int, fn func(lo, hi int)) {
	ParallelGrain(n, 1, fn)
}

// ParallelGrain is Parallel with chunk bounds rounded to multiples of
// grain (the last chunk takes the remainder).
func ParallelGrain(n, grain int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	p := thePool
	if grain < 1 {
		grain = 1
	}
	units := (n + grain - 1) / grain
	t := p.threads
	if t > units {
		t = units
	}
	if t <= 1 || !p.mu.TryLock() {
		fn(0, n)
		return
	}
	if p.closed {
		// a caller that loaded the pool just before SetThreads
		// replaced it
		p.mu.Unlock()
		fn(0, n)
		return
	}
	bounds := func(i int) int {
		b := (units * i / t) * grain
		if b > n {
			b = n
		}
		return b
	}
	p.done.Add(t - 1)
	p.left.Store(int32(t - 1))
	for i := 1; i < t; i++ {
		p.work[i-1] <- chunk{fn, bounds(i), bounds(i + 1)}
	}
	fn(0, bounds(1))
	if poolTiming.Load() {
		t0 := time.Now()
		p.wait()
		poolWait.Add(int64(time.Since(t0)))
	} else {
		p.wait()
	}
	p.mu.Unlock()
}

// The pool's accounting, for the step-time breakdown: while on, the time
// workers spend running chunks and the time callers spend waiting for
// them are summed.
var (
	poolTiming         atomic.Bool
	poolBusy, poolWait atomic.Int64 // nanoseconds
)

// SetPoolTiming switches the pool's accounting on or off.
func SetPoolTiming(on bool) { poolTiming.Store(on) }

// PoolTimes returns the time the pool's workers (not counting the
// calling goroutine) have spent running chunks, and the time callers of
// Parallel have spent waiting for them, while accounting was on.
func PoolTimes() (busy, wait time.Duration) {
	return time.Duration(poolBusy.Load()), time.Duration(poolWait.Load())
}
