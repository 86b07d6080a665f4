//go:build amd64 && !purego

package asm

import (
	"math"
	"slices"
	"testing"
)

// ulpDiff is the distance in float32 units in the last place between a
// finite float32 and the float64 x (rounded to float32 first).
func ulpDiff(got float32, want float64) float64 {
	w := float32(want)
	if got == w {
		return 0
	}
	ulp := math.Nextafter32(w, float32(math.Inf(1))) - w
	if ulp == 0 || math.IsInf(float64(ulp), 0) {
		ulp = w - math.Nextafter32(w, float32(math.Inf(-1)))
	}
	return math.Abs(float64(got)-want) / float64(ulp)
}

// TestExpULP sweeps the vectorized exp of the softmax and GELU kernels
// over [-87, 88] (every 2^-10, plus random points) at each level: at
// most 2 ulp from the correctly rounded result, where that result is a
// normal float32.
func TestExpULP(t *testing.T) {
	var xs []float32
	for v := -87.0; v <= 88; v += 1.0 / 1024 {
		xs = append(xs, float32(v))
	}
	r := newRand(5)
	for range 1 << 16 {
		xs = append(xs, float32(-87+175*r.Float64()))
	}
	xs = append(xs, 0, float32(math.Copysign(0, -1)), 1e-10, -1e-10, 88, -87)
	y := make([]float32, len(xs))
	for _, l := range []struct {
		name string
		fn   func(y, x *float32, n int)
	}{{LevelAVX512, exp512}, {LevelAVX2, exp256}} {
		if !slices.Contains(SupportedLevels(), l.name) {
			continue
		}
		l.fn(&y[0], &xs[0], len(xs))
		worst, at := 0.0, float32(0)
		for i, x := range xs {
			want := math.Exp(float64(x))
			if want < 0x1p-126 {
				continue // denormal results: relative accuracy not promised
			}
			if d := ulpDiff(y[i], want); d > worst {
				worst, at = d, x
			}
		}
		t.Logf("%s: worst %.2f ulp at x = %v", l.name, worst, at)
		if worst > 2 {
			t.Errorf("%s: exp is %.2f ulp off at x = %v (want ≤ 2)", l.name, worst, at)
		}
	}
	// Clamped arguments give finite results.
	if !slices.Contains(SupportedLevels(), LevelAVX2) {
		return
	}
	for _, x := range []float32{-1000, float32(math.Inf(-1)), 1000} {
		exp256(&y[0], &x, 1)
		if math.IsNaN(float64(y[0])) || math.IsInf(float64(y[0]), 0) {
			t.Errorf("exp256(%v) = %v", x, y[0])
		}
	}
}
