package checked

import (
	"math"
	"testing"
)

func TestMul(t *testing.T) {
	for _, c := range []struct {
		in   []int
		want int
		ok   bool
	}{
		{nil, 1, true},
		{[]int{0}, 0, true},
		{[]int{3, 5, 7}, 105, true},
		{[]int{math.MaxInt, 1}, math.MaxInt, true},
		{[]int{1 << 31, 1 << 31}, 1 << 62, true},
		// The reproducer of issue 23: 4 × (2^62+1) wraps to 4.
		{[]int{4, 1<<62 + 1}, 0, false},
		{[]int{2, math.MaxInt}, 0, false},
		{[]int{1 << 32, 1 << 32}, 0, false},
		{[]int{1 << 20, 1 << 20, 1 << 20, 1 << 20}, 0, false},
		{[]int{-1, 5}, 0, false},
		{[]int{0, -1}, 0, false},
		// A zero after an overflow does not rescue it.
		{[]int{1 << 40, 1 << 40, 0}, 0, false},
	} {
		got, ok := Mul(c.in...)
		if got != c.want || ok != c.ok {
			t.Errorf("Mul(%v) = %d, %v; want %d, %v", c.in, got, ok, c.want, c.ok)
		}
	}
	if _, ok := MulAtMost(100, 10, 10); !ok {
		t.Error("MulAtMost(100, 10, 10) refused")
	}
	if _, ok := MulAtMost(99, 10, 10); ok {
		t.Error("MulAtMost(99, 10, 10) accepted")
	}
}
