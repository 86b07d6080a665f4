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
	slots   []*slot
	pending atomic.Int32 // chunks posted to workers and not yet finished
	waiting atomic.Bool  // the caller parked on done
	done    chan struct{}
	park    *parker // the caller's (one Parallel at a time)
}

// slot is one worker's mailbox. The caller writes c, then bumps seq;
// the worker spins on seq for a while after each chunk and only then
// parks on wake. A decoding step makes some sixty Parallel calls with
// serial work between them, and a worker parked in the kernel took
// 10–50 µs to wake each time (on a shared VM): the caller sat waiting
// for a quarter of beam search's time.
type slot struct {
	c        chunk
	seq      atomic.Uint64
	sleeping atomic.Bool
	wake     chan struct{}
	_        [64]byte // keep slots on separate cache lines
}

// spinLoads is how many times a worker polls its slot (and the caller
// the pending count) before parking: some 25–100 µs (2^15 loads took
// 25 µs here, plus the yields), longer than most serial stretches of a
// decoding or training step, short enough that an idle pool costs
// nothing.
const spinLoads = 1 << 15

var thePool = newPool(runtime.GOMAXPROCS(0))

func newPool(n int) *pool {
	if n < 1 {
		n = 1
	}
	p := &pool{threads: n, done: make(chan struct{}, 1), park: newParker()}
	for range n - 1 {
		s := &slot{wake: make(chan struct{}, 1)}
		p.slots = append(p.slots, s)
		go p.worker(s)
	}
	return p
}

// worker runs the chunks posted to s until it gets one without fn.
func (p *pool) worker(s *slot) {
	var last uint64
	park := newParker()
	for {
		for spin := 0; s.seq.Load() == last; spin++ {
			if spin < spinLoads {
				if spin&1023 == 1023 {
					runtime.Gosched()
				}
				continue
			}
			// Park until post wakes us, re-checking seq after every
			// wake-up and at least every few milliseconds: a wake-up
			// is only a hint, so neither a lost nor a stale one can
			// stall the pool or run a chunk twice.
			s.sleeping.Store(true)
			if s.seq.Load() == last {
				park.wait(s.wake)
			}
			s.sleeping.Store(false)
		}
		park.reset()
		last = s.seq.Load()
		c := s.c
		if c.fn == nil {
			return
		}
		if poolTiming.Load() {
			t0 := time.Now()
			c.fn(c.lo, c.hi)
			poolBusy.Add(int64(time.Since(t0)))
		} else {
			c.fn(c.lo, c.hi)
		}
		// the last chunk wakes a parked caller (the handshake of
		// worker and post, mirrored)
		if p.pending.Add(-1) == 0 {
			if h := testHookLastChunk.Load(); h != nil {
				(*h)()
			}
			if p.waiting.Load() {
				wake(p.done)
			}
		}
	}
}

// testHookLastChunk, when set (by tests), runs in the worker that
// finished a call's last chunk, before it looks for a parked caller: a
// delay there is a worker descheduled at the worst moment.
var testHookLastChunk atomic.Pointer[func()]

// post hands c to worker s.
func (s *slot) post(c chunk) {
	s.c = c
	s.seq.Add(1)
	if s.sleeping.Load() {
		wake(s.wake)
	}
}

// wake leaves a token in ch unless one is already there.
func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// parker parks a goroutine on a channel with a timeout that grows while
// nothing arrives (1 ms up to 100 ms), so that a parked pool costs a few
// wake-ups a second and a lost wake-up at most a millisecond.
type parker struct {
	t *time.Timer
	d time.Duration
}

func newParker() *parker {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &parker{t: t, d: time.Millisecond}
}

func (k *parker) wait(ch chan struct{}) {
	k.t.Reset(k.d)
	select {
	case <-ch:
	case <-k.t.C:
		k.d = min(2*k.d, 100*time.Millisecond)
	}
	k.t.Stop()
}

// reset is called when work arrived: the next park starts short again.
func (k *parker) reset() { k.d = time.Millisecond }

// wait returns once every posted chunk has finished. It spins first
// (the chunks of one call are about equal, so the last one is usually
// close), then parks: with more threads than free cores (another
// process, or --threads above the CPU count) a worker may be off its
// core for a whole time slice, and a caller spinning on it would hold
// the core it needs. A wake-up is only a hint (one from a worker that
// finished the previous call late may arrive now): the caller re-checks
// pending after each one and at least every few milliseconds.
func (p *pool) wait() {
	for spin := 0; p.pending.Load() != 0; spin++ {
		if spin < spinLoads {
			if spin&1023 == 1023 {
				runtime.Gosched()
			}
			continue
		}
		p.waiting.Store(true)
		if p.pending.Load() != 0 {
			p.park.wait(p.done)
		}
		p.waiting.Store(false)
	}
	p.park.reset()
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
	for _, s := range old.slots {
		s.post(chunk{})
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
	p.pending.Store(int32(t - 1))
	for i := 1; i < t; i++ {
		p.slots[i-1].post(chunk{fn, bounds(i), bounds(i + 1)})
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
