package asm

import (
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// After Pin every chunk runs on a thread bound to one CPU, the caller's
// on the first allowed CPU, and the pool still covers every index.
func TestPin(t *testing.T) {
	cpus, err := allowedCPUs()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { // a goroutine of its own: the binding lasts for its life
		defer close(done)
		p := NewPool(3)
		defer p.Close()
		if err := p.Pin(); err != nil {
			t.Error(err)
			return
		}
		var mu sync.Mutex
		bound, covered := map[int]bool{}, 0
		p.Parallel(3, func(lo, hi int) {
			var set unix.CPUSet
			if err := unix.SchedGetaffinity(0, &set); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			covered += hi - lo
			if set.Count() != 1 {
				t.Errorf("chunk %d runs on a thread allowed %d CPUs", lo, set.Count())
			}
			for c := range 1 << 12 {
				if set.IsSet(c) {
					bound[c] = true
				}
			}
		})
		if covered != 3 {
			t.Errorf("covered %d of 3", covered)
		}
		if want := min(3, len(cpus)); len(bound) != want {
			t.Errorf("chunks ran on CPUs %v, want %d distinct", bound, want)
		}
		var set unix.CPUSet
		unix.SchedGetaffinity(0, &set)
		if !set.IsSet(cpus[0]) || set.Count() != 1 {
			t.Errorf("the caller is not bound to CPU %d", cpus[0])
		}
	}()
	<-done
}
