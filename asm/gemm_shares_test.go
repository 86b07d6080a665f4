package asm

import (
	"sync"
	"testing"
)

// TestTileShares checks the row tiles' claims: with t workers taking at
// once, every tile goes to exactly one claim; a worker first takes its
// own share from the front, in order; and a worker alone takes its own
// share, then the others' from the back, until none is left.
func TestTileShares(t *testing.T) {
	var s tileShares
	for _, tiles := range []int{0, 1, 3, 7, 8, 9, 64, 147, 1171} {
		for workers := 1; workers <= 5; workers++ {
			s.reset(tiles, workers)
			owner := make([]int, tiles)
			for i := range owner {
				owner[i] = -1
			}
			var mu sync.Mutex
			var wg sync.WaitGroup
			bad := ""
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						lo, hi, ok := s.next(w, workers)
						if !ok {
							return
						}
						mu.Lock()
						for i := lo; i < hi; i++ {
							if owner[i] >= 0 {
								bad = "a tile claimed twice"
							}
							owner[i] = w
						}
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			if bad != "" {
				t.Fatalf("tiles=%d workers=%d: %s", tiles, workers, bad)
			}
			for i, o := range owner {
				if o < 0 {
					t.Fatalf("tiles=%d workers=%d: tile %d never claimed", tiles, workers, i)
				}
			}
		}
	}
	// Workers taking in turn each take their own share, in order, while
	// it lasts.
	for _, workers := range []int{2, 3, 4} {
		const tiles = 147
		s.reset(tiles, workers)
		next := make([]int, workers)
		for w := range next {
			next[w] = tiles * w / workers
		}
		for round := 0; round < 3; round++ {
			for w := range workers {
				lo, hi, ok := s.next(w, workers)
				if !ok || lo != next[w] || hi > tiles*(w+1)/workers {
					t.Fatalf("workers=%d: worker %d took [%d, %d) %v, want its share's front %d", workers, w, lo, hi, ok, next[w])
				}
				next[w] = hi
			}
		}
	}
	// One worker of three alone: its share in order, then worker 2's
	// and worker 0's from the back.
	s.reset(30, 3)
	var got [][2]int
	for {
		lo, hi, ok := s.next(1, 3)
		if !ok {
			break
		}
		got = append(got, [2]int{lo, hi})
	}
	want := [][2]int{{10, 18}, {18, 20}, {26, 30}, {22, 26}, {20, 22}, {6, 10}, {2, 6}, {0, 2}}
	if len(got) != len(want) {
		t.Fatalf("claims %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("claims %v, want %v", got, want)
		}
	}
}
