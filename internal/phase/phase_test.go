package phase

import (
	"testing"
	"time"

	"github.com/clinic-ml/clinic/asm"
)

func spin(d time.Duration) {
	for t0 := time.Now(); time.Since(t0) < d; {
	}
}

// Time goes to the phase that is current, Enter returns the phase it
// left, and a nil Clock is a no-op.
func TestClockPhases(t *testing.T) {
	var nilClock *Clock
	if nilClock.Enter(GEMM) != GEMM {
		t.Fatal("nil clock")
	}
	asm.SetThreads(1)
	defer asm.SetThreads(0)
	c := &Clock{}
	c.Start()
	spin(2 * time.Millisecond)
	if prev := c.Enter(GEMM); prev != Other {
		t.Fatalf("left %v, want other", prev)
	}
	spin(20 * time.Millisecond)
	c.Enter(Optimizer)
	spin(5 * time.Millisecond)
	c.Stop()
	if c.Wall[GEMM] < 20*time.Millisecond || c.Wall[Optimizer] < 5*time.Millisecond || c.Wall[Other] < 2*time.Millisecond {
		t.Fatalf("wall %v", c.Wall)
	}
	if c.Wall[Attention] != 0 || c.Wall[Elementwise] != 0 {
		t.Fatalf("untouched phases got time: %v", c.Wall)
	}
	for ph, v := range c.Idle {
		if v != 0 {
			t.Errorf("one thread, idle %v in %v", v, Phase(ph))
		}
	}
	c.Reset()
	if c.Total() != 0 {
		t.Fatal("reset")
	}
}

// At two threads, a parallel region whose chunks are unequal leaves a
// thread idle for about the difference, and serial work leaves the
// other thread idle throughout.
func TestClockIdle(t *testing.T) {
	asm.SetThreads(2)
	defer asm.SetThreads(0)
	c := &Clock{}
	c.Start()
	c.Enter(Elementwise)
	asm.Parallel(2, func(lo, hi int) {
		if lo == 0 {
			spin(30 * time.Millisecond)
		} else {
			spin(5 * time.Millisecond)
		}
	})
	c.Enter(GEMM)
	spin(20 * time.Millisecond) // serial: the worker waits
	c.Stop()
	// Elementwise: the worker ran 5 of ≥30 ms: ≥ 20 ms idle (slack for
	// a descheduled thread).
	if id := c.Idle[Elementwise]; id < 20*time.Millisecond || id > c.Wall[Elementwise] {
		t.Errorf("elementwise idle %v of wall %v", id, c.Wall[Elementwise])
	}
	if id := c.Idle[GEMM]; id < 20*time.Millisecond || id > c.Wall[GEMM]+time.Millisecond {
		t.Errorf("serial idle %v of wall %v", id, c.Wall[GEMM])
	}
}
