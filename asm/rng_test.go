package asm

import (
	"math"
	"math/bits"
	"testing"
)

func TestMix64(t *testing.T) {
	// SplitMix64 seeded with 0 yields 0xe220a8397b1dcdaf first.
	if got := Mix64(0); got != 0xe220a8397b1dcdaf {
		t.Errorf("Mix64(0) = %#x, want 0xe220a8397b1dcdaf", got)
	}
}

func TestDropThreshold(t *testing.T) {
	cases := []struct {
		p    float32
		want uint32
	}{{-1, 0}, {0, 0}, {0.5, 1 << 31}, {0.25, 1 << 30}, {1, math.MaxUint32}, {2, math.MaxUint32}}
	for _, c := range cases {
		if got := DropThreshold(c.p); got != c.want {
			t.Errorf("DropThreshold(%v) = %#x, want %#x", c.p, got, c.want)
		}
	}
	// Monotone up to the largest float32 below 1.
	prev := uint32(0)
	for _, p := range []float32{1e-9, 1e-3, 0.1, 0.3, 0.9, 0.999, math.Nextafter32(1, 0)} {
		th := DropThreshold(p)
		if th < prev || th == math.MaxUint32 {
			t.Errorf("DropThreshold(%v) = %#x after %#x", p, th, prev)
		}
		prev = th
	}
}

// TestHash32Golden pins the generator: dropout masks must not change
// across versions or implementations (assembly twins included), or a
// resumed run would draw different masks.
func TestHash32Golden(t *testing.T) {
	got := map[uint64]uint64{}
	for key := range goldenHash32 {
		var h uint64 = 14695981039346656037
		for i := uint32(0); i < 4096; i++ {
			h = (h ^ uint64(Hash32(key, i))) * 1099511628211
		}
		got[key] = h
	}
	for key, w := range goldenHash32 {
		if got[key] != w {
			t.Errorf("Hash32 key %#x: checksum %#x, want %#x", key, got[key], w)
		}
	}
}

var goldenHash32 = map[uint64]uint64{
	0x0:                0x3d7322f4c169437f,
	0x1:                0xbffbbacfed637077,
	0x0123456789abcdef: 0x59d58ad31aa5225f,
}

func TestDropoutKeepFraction(t *testing.T) {
	n := 1 << 20
	if testing.Short() {
		n = 1 << 18
	}
	x := make([]float32, n)
	for i := range x {
		x[i] = 1
	}
	y := make([]float32, n)
	for _, p := range []float32{0.1, 0.3, 0.5} {
		for _, key := range []uint64{0, 1, Mix64(7), Mix64(8)} {
			Dropout(y, x, p, key, 0)
			kept := 0
			for _, v := range y {
				if v != 0 {
					kept++
				}
			}
			q := float64(1 - p)
			sd := math.Sqrt(float64(n) * q * (1 - q))
			if d := float64(kept) - q*float64(n); math.Abs(d) > 5*sd {
				t.Errorf("p=%v key=%#x: kept %d of %d, expected %.0f ± %.0f", p, key, kept, n, q*float64(n), sd)
			}
		}
	}
}

// TestDropoutKeysIndependent: masks under different keys differ and
// look independent: the fraction kept under both is near (1−p)².
func TestDropoutKeysIndependent(t *testing.T) {
	const n = 1 << 18
	const p = 0.3
	x := make([]float32, n)
	for i := range x {
		x[i] = 1
	}
	keys := []uint64{0, 1, 2, 1 << 32, 2 << 32, Mix64(1), Mix64(2), Mix64(3)}
	masks := make([][]float32, len(keys))
	for k, key := range keys {
		masks[k] = make([]float32, n)
		Dropout(masks[k], x, p, key, 0)
	}
	q := 1.0 - p
	both := q * q
	sd := math.Sqrt(n * both * (1 - both))
	for a := range keys {
		for b := a + 1; b < len(keys); b++ {
			k := 0
			for i := 0; i < n; i++ {
				if masks[a][i] != 0 && masks[b][i] != 0 {
					k++
				}
			}
			if math.Abs(float64(k)-both*n) > 5*sd {
				t.Errorf("keys %#x, %#x: kept under both %d of %d, expected %.0f ± %.0f", keys[a], keys[b], k, n, both*n, sd)
			}
		}
	}
}

// TestDropoutSlicing: element i draws counter base+i whatever the
// slicing, so splitting a call (with the base advanced) changes nothing,
// including across the uint32 wrap.
func TestDropoutSlicing(t *testing.T) {
	r := newRand(21)
	const n = 1000
	x := randSlice(r, n, -1, 1)
	for _, base := range []uint32{0, 77, math.MaxUint32 - 500} {
		whole := make([]float32, n)
		Dropout(whole, x, 0.4, 0xfeed, base)
		for _, cut := range []int{0, 1, 7, 16, 333, 999, n} {
			parts := make([]float32, n)
			Dropout(parts[:cut], x[:cut], 0.4, 0xfeed, base)
			Dropout(parts[cut:], x[cut:], 0.4, 0xfeed, base+uint32(cut))
			if d := firstBitDiff(parts, whole); d >= 0 {
				t.Errorf("base=%d cut=%d: element %d differs", base, cut, d)
			}
		}
	}
}

// chiSquare256 returns the chi-square statistic of counts over 256
// equiprobable buckets.
func chiSquare256(counts *[256]int, total int) float64 {
	e := float64(total) / 256
	var c float64
	for _, k := range counts {
		d := float64(k) - e
		c += d * d / e
	}
	return c
}

// TestHash32Uniform is a crude uniformity check: chi-square over 256
// buckets of the top and bottom 8 bits, for consecutive and strided
// counters. With 255 degrees of freedom the statistic is 255 ± 23; the
// threshold 400 (over 6σ) flags only gross bias.
func TestHash32Uniform(t *testing.T) {
	const n = 1 << 18
	for _, key := range []uint64{0, 1, Mix64(5)} {
		for _, stride := range []uint32{1, 256, 1 << 16} {
			// Distinct counters only: i·stride must not wrap.
			cnt := min(n, 1<<32/int(stride))
			var top, low [256]int
			for i := uint32(0); i < uint32(cnt); i++ {
				h := Hash32(key, i*stride)
				top[h>>24]++
				low[h&255]++
			}
			if c := chiSquare256(&top, cnt); c > 400 {
				t.Errorf("key=%#x stride=%d: top byte chi-square %.1f", key, stride, c)
			}
			if c := chiSquare256(&low, cnt); c > 400 {
				t.Errorf("key=%#x stride=%d: low byte chi-square %.1f", key, stride, c)
			}
		}
	}
}

// TestHash32Avalanche: flipping one input bit flips about half the
// output bits, for the counter and for the key's two halves.
func TestHash32Avalanche(t *testing.T) {
	r := newRand(22)
	const trials = 2000
	for bit := 0; bit < 32; bit++ {
		var fi, fkl, fkh int
		for j := 0; j < trials; j++ {
			key, i := r.Uint64(), r.Uint32()
			h := Hash32(key, i)
			fi += bits.OnesCount32(h ^ Hash32(key, i^1<<bit))
			fkl += bits.OnesCount32(h ^ Hash32(key^1<<bit, i))
			fkh += bits.OnesCount32(h ^ Hash32(key^1<<(bit+32), i))
		}
		for what, f := range map[string]int{"counter": fi, "key low": fkl, "key high": fkh} {
			// Mean 16 bits; over 2000 trials its sd is ~0.05.
			if m := float64(f) / trials; math.Abs(m-16) > 0.5 {
				t.Errorf("%s bit %d: flips %.2f output bits on average, want ~16", what, bit, m)
			}
		}
	}
}
