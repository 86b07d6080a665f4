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
	work    []chan chunk
	done    sync.WaitGroup
}

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
		go func() {
			for c := range ch {
				if poolTiming.Load() {
					t0 := time.Now()
					c.fn(c.lo, c.hi)
					poolBusy.Add(int64(time.Since(t0)))
				} else {
					c.fn(c.lo, c.hi)
				}
				p.done.Done()
			}
		}()
	}
	return p
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
	bounds := func(i int) int {
		b := (units * i / t) * grain
		if b > n {
			b = n
		}
		return b
	}
	p.done.Add(t - 1)
	for i := 1; i < t; i++ {
		p.work[i-1] <- chunk{fn, bounds(i), bounds(i + 1)}
	}
	fn(0, bounds(1))
	if poolTiming.Load() {
		t0 := time.Now()
		p.done.Wait()
		poolWait.Add(int64(time.Since(t0)))
	} else {
		p.done.Wait()
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
