package asm

// Dropout masks come from a counter-based generator: element i of a
// tensor draws Hash(key, i), so a mask is never stored — the backward
// pass regenerates it — and any split of the tensor over workers draws
// the same bits. The mixer is two keyed rounds of a 32-bit
// multiply-xorshift finalizer (Wellons' lowbias32), which vectorizes
// with 32-bit integer lanes.

// Mix64 is SplitMix64's finalizer; it turns (seed, step, site) tuples
// into dropout keys.
func Mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func lowbias32(x uint32) uint32 {
	x ^= x >> 16
	x *= 0x7feb352d
	x ^= x >> 15
	x *= 0x846ca68b
	x ^= x >> 16
	return x
}

// Hash32 returns the random bits for counter i under key.
func Hash32(key uint64, i uint32) uint32 {
	return lowbias32(lowbias32(i^uint32(key)) + uint32(key>>32))
}

// DropThreshold is the integer threshold for drop probability p:
// an element is kept when Hash32 >= threshold.
func DropThreshold(p float32) uint32 {
	if p <= 0 {
		return 0
	}
	if p >= 1 {
		return ^uint32(0)
	}
	return uint32(float64(p) * 4294967296.0)
}
