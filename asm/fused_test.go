package asm

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Each fused kernel must give bit-for-bit its unfused sequence.
func TestFusedMatchesUnfused(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 7, 16, 33, 100, 257} {
		for _, p := range []float32{0, 0.1, 0.5} {
			x, dy := make([]float32, n), make([]float32, n)
			for i := range x {
				x[i], dy[i] = float32(r.NormFloat64()), float32(r.NormFloat64())
			}
			key, base := uint64(0xfeed)+uint64(n), uint32(n*3)
			a, b := make([]float32, n), make([]float32, n)
			same := func(what string) {
				t.Helper()
				for i := range a {
					if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
						t.Fatalf("%s n=%d p=%v: element %d fused %v, unfused %v", what, n, p, i, a[i], b[i])
					}
				}
			}
			ReLUDropout(a, x, p, key, base)
			ReLU(b, x)
			Dropout(b, b, p, key, base)
			same("ReLUDropout")
			GELUDropout(a, x, p, key, base)
			GELU(b, x)
			Dropout(b, b, p, key, base)
			same("GELUDropout")
			copy(a, dy)
			ReLUDropoutBackward(a, a, x, p, key, base)
			Dropout(b, dy, p, key, base)
			reluBackward(b, b, x)
			same("ReLUDropoutBackward")
			copy(a, dy)
			GELUDropoutBackward(a, a, x, p, key, base)
			Dropout(b, dy, p, key, base)
			geluBackward(b, b, x)
			same("GELUDropoutBackward")
			for _, d := range []int{1, 3, 8} {
				rows := n / d
				m := rows * d
				w := make([]float32, d)
				for j := range w {
					w[j] = float32(1 + r.Float64())
				}
				a, b := a[:m], b[:m]
				DropoutScaleAddRows(a, w, x[:m], dy[:m], d, p, key, base)
				Dropout(b, dy[:m], p, key, base)
				ScaleAddRows(b, w, x[:m], b, d)
				same("DropoutScaleAddRows")
			}
		}
	}
}
