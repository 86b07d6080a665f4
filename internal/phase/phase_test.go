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
	c := &Clock{}
	c.Start(nil)
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

// At two threads, a parallel region whose second chunk is empty leaves
// the worker idle while the caller works, and serial work leaves the
// worker idle throughout. (The worker's chunk does nothing, so a loaded
// machine that deschedules threads cannot make it look busy.)
func TestClockIdle(t *testing.T) {
	pool := asm.NewPool(2)
	defer pool.Close()
	c := &Clock{}
	c.Start(pool)
	c.Enter(Elementwise)
	pool.Parallel(2, func(lo, hi int) {
		if lo == 0 {
			spin(30 * time.Millisecond)
		}
	})
	c.Enter(GEMM)
	spin(20 * time.Millisecond) // serial: the worker waits
	c.Stop()
	for _, ph := range []Phase{Elementwise, GEMM} {
		if id, w := c.Idle[ph], c.Wall[ph]; id < w/2 || id > w+time.Millisecond {
			t.Errorf("%v: idle %v of wall %v, want most of it", ph, id, w)
		}
	}
	if c.Wall[Elementwise] < 30*time.Millisecond || c.Wall[GEMM] < 20*time.Millisecond {
		t.Errorf("wall %v", c.Wall)
	}
}
