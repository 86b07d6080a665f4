// Package phase splits the wall time of a training step into phases
// (large GEMMs, the attention core, element-wise and normalization
// kernels, the optimizer) and measures, per phase, how long the worker
// pool's threads sat idle. The model and the trainer switch phases on a
// Clock; a nil Clock costs one comparison per switch.
package phase

import (
	"time"

	"github.com/clinic-ml/clinic/asm"
)

// Phase is one kind of work in a training step.
type Phase int

// The phases. Other is everything not inside another phase (batch
// sampling, bookkeeping).
const (
	Other Phase = iota
	GEMM
	Attention
	Elementwise
	Optimizer
	Count
)

var names = [Count]string{"other", "gemm", "attention", "elementwise", "optimizer"}

func (p Phase) String() string { return names[p] }

// Clock accumulates wall time and idle thread time per phase. It is used
// from one goroutine (the one that calls the kernels).
type Clock struct {
	Wall [Count]time.Duration
	// Idle is thread time spent waiting: the pool's other threads while
	// they had no chunk to run, and the calling thread while it waited
	// for them. At one thread it is 0.
	Idle [Count]time.Duration

	pool       *asm.Pool
	threads    int
	cur        Phase
	t0         time.Time
	busy, wait time.Duration
}

// Start begins timing in phase Other and switches on pool's accounting
// (the pool the timed model runs on); Stop ends both.
func (c *Clock) Start(pool *asm.Pool) {
	c.pool = pool
	pool.SetTiming(true)
	c.threads = pool.Threads()
	c.cur, c.t0 = Other, time.Now()
	c.busy, c.wait = pool.Times()
}

// Stop charges the time since the last switch to the current phase and
// switches the pool's accounting off.
func (c *Clock) Stop() {
	c.Enter(Other)
	c.pool.SetTiming(false)
}

// Enter charges the time since the last switch to the current phase and
// makes p current. It returns the phase it left, so a caller can go
// back to it.
func (c *Clock) Enter(p Phase) Phase {
	if c == nil {
		return p
	}
	now := time.Now()
	busy, wait := c.pool.Times()
	wall := now.Sub(c.t0)
	prev := c.cur
	c.Wall[prev] += wall
	// The other threads were available for the whole interval and busy
	// for busy-c.busy of it; the caller waited wait-c.wait.
	c.Idle[prev] += time.Duration(c.threads-1)*wall - (busy - c.busy) + (wait - c.wait)
	c.cur, c.t0, c.busy, c.wait = p, now, busy, wait
	c.pool.SetTag(int(p))
	return prev
}

// Reset zeroes the totals.
func (c *Clock) Reset() {
	c.Wall, c.Idle = [Count]time.Duration{}, [Count]time.Duration{}
}

// Total is the wall time over all phases.
func (c *Clock) Total() time.Duration {
	var t time.Duration
	for _, w := range c.Wall {
		t += w
	}
	return t
}
