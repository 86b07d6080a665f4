// Package checked multiplies buffer sizes without wrapping around.
//
// Sizes come from flags and files: a beam of 2^62+1 times a batch of 4
// wraps to 4 in int arithmetic, passes every check made on the product,
// and then indexes out of range. Products of such sizes are formed with
// Mul, which is either exact or says it is not.
package checked

import (
	"math"
	"math/bits"
)

// Mul returns the product of the factors and true, or 0 and false when
// a factor is negative or the product does not fit in an int. The
// product of no factors is 1.
func Mul(factors ...int) (int, bool) {
	p := uint64(1)
	for _, f := range factors {
		if f < 0 {
			return 0, false
		}
		hi, lo := bits.Mul64(p, uint64(f))
		if hi != 0 || lo > math.MaxInt {
			return 0, false
		}
		p = lo
	}
	return int(p), true
}

// MulAtMost is Mul that also fails when the product exceeds limit.
func MulAtMost(limit int, factors ...int) (int, bool) {
	p, ok := Mul(factors...)
	if !ok || p > limit {
		return 0, false
	}
	return p, true
}
