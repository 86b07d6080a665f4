package asm

import (
	"fmt"
	"math"
	"testing"
)

// Tolerances for comparing an implementation with its twin. Kernels
// made of one rounding per element must match bit for bit; those an
// implementation may legitimately evaluate differently (FMA, another
// summation order, a polynomial exp or tanh) get a small relative slack.
// The assembly keeps the twin's operations and order where it can, so
// ScaleAddRows, the column reductions (running sums down rows, as
// in the twins) and SumSq (fixed blocked order) are held to tolExact.
// Adam is bit-exact too with the default GOAMD64, but with GOAMD64=v3 the
// compiler fuses the twin's multiply-adds, so it keeps a slack.
const (
	tolExact  = 0
	tolFMA    = 2e-7 // one fused multiply-add instead of two roundings
	tolReduce = 1e-5 // a reassociated float32 reduction of ≤ 257 terms
	tolTransc = 2e-6 // a vectorized exp/tanh
	tolGELU   = 1e-6 // GELU via a vectorized exp: |Δ| ≤ 1e-6·(1+|twin|)
)

var rw = fmt.Sprintf

func TestImplSumSq(t *testing.T) {
	r := newRand(101)
	impls := adapt(sumSqImpls, func(f func(x []float32) float64, o [][]float32) float64 { return f(o[0]) })
	for _, n := range sizes {
		checkImpls(t, rw("SumSq n=%d", n), []gbuf{randGuarded(r, n, -1, 1)}, []bool{false}, impls, tolExact)
	}
}

func TestImplScale(t *testing.T) {
	r := newRand(103)
	impls := adapt(scaleImpls, func(f func(float32, []float32), o [][]float32) float64 { f(0.3, o[0]); return 0 })
	for _, n := range sizes {
		checkImpls(t, rw("Scale n=%d", n), []gbuf{randGuarded(r, n, -1, 1)}, []bool{true}, impls, tolExact)
	}
}

func TestImplElementwise(t *testing.T) {
	r := newRand(105)
	type ew struct {
		name  string
		impls []implRun
		tol   float64
	}
	unary := func(list []named[func(y, x []float32)]) []implRun {
		return adapt(list, func(f func(y, x []float32), o [][]float32) float64 { f(o[0], o[1]); return 0 })
	}
	binary := func(list []named[func(dx, dy, x []float32)]) []implRun {
		return adapt(list, func(f func(dx, dy, x []float32), o [][]float32) float64 { f(o[0], o[1], o[2]); return 0 })
	}
	for _, k := range []ew{
		{"ReLU", unary(reluImpls), tolExact},
		{"GELU", unary(geluImpls), tolGELU},
	} {
		for _, n := range sizes {
			x := randGuarded(r, n, -4, 4)
			if n > 2 {
				x.s()[1] = 0
			}
			ops := []gbuf{newGuarded(n), x}
			checkImpls(t, rw("%s n=%d", k.name, n), ops, []bool{true, false}, k.impls, k.tol)
		}
	}
	for _, k := range []ew{
		{"ReLUBackward", binary(reluBackwardImpls), tolExact},
		{"GELUBackward", binary(geluBackwardImpls), tolGELU},
	} {
		for _, n := range sizes {
			x := randGuarded(r, n, -4, 4)
			if n > 2 {
				x.s()[1] = 0
			}
			ops := []gbuf{newGuarded(n), randGuarded(r, n, -1, 1), x}
			checkImpls(t, rw("%s n=%d", k.name, n), ops, []bool{true, false, false}, k.impls, k.tol)
		}
	}
}

func TestImplDropout(t *testing.T) {
	r := newRand(106)
	for _, p := range []float32{0, 0.1, 0.5} {
		for _, base := range []uint32{0, 1000, 0xfffffff0} { // the last wraps
			impls := adapt(dropoutImpls, func(f func([]float32, []float32, float32, uint64, uint32), o [][]float32) float64 {
				f(o[0], o[1], p, 0x0123456789abcdef, base)
				return 0
			})
			for _, n := range sizes {
				ops := []gbuf{newGuarded(n), randGuarded(r, n, -1, 1)}
				checkImpls(t, rw("Dropout p=%v base=%#x n=%d", p, base, n), ops, []bool{true, false}, impls, tolExact)
			}
		}
	}
}

func TestImplRowOps(t *testing.T) {
	r := newRand(107)
	for _, d := range sizes {
		bc := adapt(broadcastRowsImpls, func(f func([]float32, []float32, int), o [][]float32) float64 { f(o[0], o[1], d); return 0 })
		sa := adapt(scaleAddRowsImpls, func(f func(y, w, x, b []float32, d int), o [][]float32) float64 {
			f(o[0], o[1], o[2], o[3], d)
			return 0
		})
		for _, rows := range rowCounts {
			n := rows * d
			lbl := rw("d=%d rows=%d", d, rows)
			checkImpls(t, "BroadcastRows "+lbl, []gbuf{newGuarded(n), randGuarded(r, d, -1, 1)}, []bool{true, false}, bc, tolExact)
			checkImpls(t, "ScaleAddRows "+lbl,
				[]gbuf{newGuarded(n), randGuarded(r, d, -1, 1), randGuarded(r, n, -1, 1), randGuarded(r, n, -1, 1)},
				[]bool{true, false, false, false}, sa, tolExact)
		}
	}
}

// strided is a guarded rows×stride matrix whose first w columns hold
// data and whose padding columns (and the elements after the last row's
// window) are guard NaNs. The returned operand starts at column 0 and
// ends after the last row's w-th column, as the column kernels index it.
func strided(r interface{ Float64() float64 }, rows, w, stride int) gbuf {
	n := 0
	if rows > 0 {
		n = (rows-1)*stride + w
	}
	b := newGuarded(n)
	s := b.s()
	for i := 0; i < rows; i++ {
		for j := 0; j < w; j++ {
			s[i*stride+j] = float32(2*r.Float64() - 1)
		}
	}
	return b
}

func TestImplColumnOps(t *testing.T) {
	r := newRand(108)
	for _, w := range sizes {
		for _, pad := range []int{0, 5} {
			stride := w + pad
			cs := adapt(colSumImpls, func(f func([]float32, []float32, int, int), o [][]float32) float64 {
				f(o[0], o[1], len(o[2]), stride)
				return 0
			})
			cd := adapt(colDotImpls, func(f func([]float32, []float32, []float32, int, int), o [][]float32) float64 {
				f(o[0], o[1], o[2], len(o[3]), stride)
				return 0
			})
			pg := adapt(layerNormParamGradImpls, func(f func(dg, db, dy, x, mean, rstd []float32, rows, stride int), o [][]float32) float64 {
				f(o[0], o[1], o[2], o[3], o[4], o[5], len(o[4]), stride)
				return 0
			})
			for _, rows := range rowCounts {
				lbl := rw("w=%d stride=%d rows=%d", w, stride, rows)
				// The row count travels as the length of an extra operand.
				rowsOp := newGuarded(rows)
				checkImpls(t, "ColSum "+lbl, []gbuf{randGuarded(r, w, -1, 1), strided(r, rows, w, stride), rowsOp},
					[]bool{true, false, false}, cs, tolExact)
				checkImpls(t, "ColDot "+lbl, []gbuf{randGuarded(r, w, -1, 1), strided(r, rows, w, stride), strided(r, rows, w, stride), rowsOp},
					[]bool{true, false, false, false}, cd, tolExact)
				checkImpls(t, "LayerNormParamGrad "+lbl,
					[]gbuf{randGuarded(r, w, -1, 1), randGuarded(r, w, -1, 1), strided(r, rows, w, stride), strided(r, rows, w, stride),
						randGuarded(r, rows, -0.5, 0.5), randGuarded(r, rows, 0.5, 2)},
					[]bool{true, true, false, false, false, false}, pg, tolExact)
			}
		}
	}
}

// TestImplLogSoftmax runs LogSoftmax out of place and in place, on
// logits of small and large spread.
func TestImplLogSoftmax(t *testing.T) {
	r := newRand(117)
	for _, n := range append(sizes, 8003) {
		for _, spread := range []float64{1, 30} {
			out := adapt(logSoftmaxImpls, func(f func(y, x []float32), o [][]float32) float64 { f(o[0], o[1]); return 0 })
			checkImpls(t, rw("LogSoftmax n=%d spread=%v", n, spread), []gbuf{randGuarded(r, n, -1, 1), randGuarded(r, n, -spread, spread)},
				[]bool{true, false}, out, tolTransc)
			in := adapt(logSoftmaxImpls, func(f func(y, x []float32), o [][]float32) float64 { f(o[0], o[0]); return 0 })
			checkImpls(t, rw("LogSoftmax in place n=%d spread=%v", n, spread), []gbuf{randGuarded(r, n, -spread, spread)},
				[]bool{true}, in, tolTransc)
		}
	}
}

// TestImplAttendRows checks DotRows and AxpyRows on windows of rows
// (stride ≥ width, padding NaN), as incremental decoding reads its
// caches: AxpyRows bit for bit, DotRows within a reassociated sum.
func TestImplAttendRows(t *testing.T) {
	r := newRand(116)
	for _, w := range sizes {
		for _, pad := range []int{0, 5} {
			stride := w + pad
			dr := adapt(dotRowsImpls, func(f func([]float32, []float32, []float32, int, int), o [][]float32) float64 {
				f(o[0], o[1], o[2], len(o[0]), stride)
				return 0
			})
			ax := adapt(axpyRowsImpls, func(f func([]float32, []float32, []float32, int), o [][]float32) float64 {
				f(o[0], o[1], o[2], stride)
				return 0
			})
			for _, rows := range append(rowCounts, 17, 64) {
				lbl := rw("w=%d stride=%d rows=%d", w, stride, rows)
				checkImpls(t, "DotRows "+lbl, []gbuf{randGuarded(r, rows, -1, 1), randGuarded(r, w, -1, 1), strided(r, rows, w, stride)},
					[]bool{true, false, false}, dr, tolReduce)
				checkImpls(t, "AxpyRows "+lbl, []gbuf{randGuarded(r, w, -1, 1), randGuarded(r, rows, 0, 1), strided(r, rows, w, stride)},
					[]bool{true, false, false}, ax, tolExact)
			}
		}
	}
}

func TestImplLayerNorm(t *testing.T) {
	r := newRand(109)
	for _, d := range sizes {
		fw := adapt(layerNormImpls, func(f func(y, mean, rstd, x, gamma, beta []float32, d int, eps float32), o [][]float32) float64 {
			f(o[0], o[1], o[2], o[3], o[4], o[5], d, 1e-5)
			return 0
		})
		bw := adapt(layerNormBackwardImpls, func(f func(dx, dy, x, mean, rstd, gamma []float32, d int), o [][]float32) float64 {
			f(o[0], o[1], o[2], o[3], o[4], o[5], d)
			return 0
		})
		for _, rows := range rowCounts {
			n := rows * d
			lbl := rw("d=%d rows=%d", d, rows)
			checkImpls(t, "LayerNorm "+lbl,
				[]gbuf{newGuarded(n), newGuarded(rows), newGuarded(rows), randGuarded(r, n, -2, 3), randGuarded(r, d, 0.5, 1.5), randGuarded(r, d, -1, 1)},
				[]bool{true, true, true, false, false, false}, fw, tolReduce)
			checkImpls(t, "LayerNormBackward "+lbl,
				[]gbuf{newGuarded(n), randGuarded(r, n, -1, 1), randGuarded(r, n, -2, 3), randGuarded(r, rows, -0.5, 0.5), randGuarded(r, rows, 0.5, 2), randGuarded(r, d, 0.5, 1.5)},
				[]bool{true, false, false, false, false, false}, bw, tolReduce)
		}
	}
}

func TestImplSoftmax(t *testing.T) {
	r := newRand(110)
	for _, n := range sizes {
		for _, row0 := range []int{0, 3, n} {
			const scale = 0.125
			fw := adapt(softmaxCausalImpls, func(f func(p, s []float32, n int, scale float32, row0 int), o [][]float32) float64 {
				f(o[0], o[1], n, scale, row0)
				return 0
			})
			bw := adapt(softmaxBackwardImpls, func(f func(ds, dp, p []float32, n int, scale float32), o [][]float32) float64 {
				f(o[0], o[1], o[2], n, scale)
				return 0
			})
			for _, rows := range rowCounts {
				m := rows * n
				lbl := rw("n=%d rows=%d row0=%d", n, rows, row0)
				s := randGuarded(r, m, -20, 20)
				// Masked scores are never read: make them NaN.
				for i := range s.s() {
					if i%n > row0+i/n {
						s.s()[i] = guardVal
					}
				}
				checkImpls(t, "SoftmaxCausal "+lbl, []gbuf{newGuarded(m), s}, []bool{true, false}, fw, tolTransc)
				p := newGuarded(m)
				SoftmaxCausal(p.s(), randSlice(r, m, -3, 3), n, scale, row0)
				checkImpls(t, "SoftmaxBackward "+lbl, []gbuf{newGuarded(m), randGuarded(r, m, -1, 1), p}, []bool{true, false, false}, bw, tolReduce)
			}
		}
	}
}

func TestImplSoftmaxCrossEntropy(t *testing.T) {
	r := newRand(111)
	for _, V := range sizes[1:] {
		for _, eps := range []float32{0, 0.1} {
			for _, rows := range rowCounts {
				targets := make([]int32, rows)
				for i := range targets {
					targets[i] = int32(r.IntN(V))
					if i%3 == 1 {
						targets[i] = -1
					}
				}
				impls := adapt(softmaxCrossEntropyImpls, func(f func([]float32, []float32, []int32, int, float32, float32) float64, o [][]float32) float64 {
					return f(o[0], o[1], targets, V, eps, 0.5)
				})
				m := rows * V
				checkImpls(t, rw("SoftmaxCrossEntropy V=%d eps=%v rows=%d", V, eps, rows),
					[]gbuf{newGuarded(m), randGuarded(r, m, -5, 5)}, []bool{true, false}, impls, tolReduce)
			}
		}
	}
}

func TestImplAdam(t *testing.T) {
	r := newRand(112)
	for _, mode := range []struct{ s, eps float32 }{{1.2, 1e-8}, {0, 1}} {
		impls := adapt(adamImpls, func(f func(w, g, m, v []float32, b1, b2, a, s, eps, decay float32), o [][]float32) float64 {
			f(o[0], o[1], o[2], o[3], 0.9, 0.999, 0.01, mode.s, mode.eps, 1e-3)
			return 0
		})
		for _, n := range sizes {
			checkImpls(t, rw("Adam s=%v n=%d", mode.s, n),
				[]gbuf{randGuarded(r, n, -1, 1), randGuarded(r, n, -1, 1), randGuarded(r, n, -0.1, 0.1), randGuarded(r, n, 0, 0.01)},
				[]bool{true, false, true, true}, impls, tolTransc)
		}
	}
}

func TestImplFused(t *testing.T) {
	r := newRand(113)
	for _, p := range []float32{0, 0.1, 0.5} {
		for _, base := range []uint32{0, 1000, 0xfffffff0} { // the last wraps
			const key = 0x0123456789abcdef
			un := func(list []named[func([]float32, []float32, float32, uint64, uint32)]) []implRun {
				return adapt(list, func(f func([]float32, []float32, float32, uint64, uint32), o [][]float32) float64 {
					f(o[0], o[1], p, key, base)
					return 0
				})
			}
			bin := func(list []named[func([]float32, []float32, []float32, float32, uint64, uint32)]) []implRun {
				return adapt(list, func(f func([]float32, []float32, []float32, float32, uint64, uint32), o [][]float32) float64 {
					f(o[0], o[1], o[2], p, key, base)
					return 0
				})
			}
			for _, n := range sizes {
				lbl := rw("p=%v base=%#x n=%d", p, base, n)
				x := randGuarded(r, n, -4, 4)
				if n > 2 {
					x.s()[1] = 0
				}
				checkImpls(t, "ReLUDropout "+lbl, []gbuf{newGuarded(n), x}, []bool{true, false}, un(reluDropoutImpls), tolExact)
				checkImpls(t, "GELUDropout "+lbl, []gbuf{newGuarded(n), x}, []bool{true, false}, un(geluDropoutImpls), tolGELU)
				dy := randGuarded(r, n, -1, 1)
				checkImpls(t, "ReLUDropoutBackward "+lbl, []gbuf{newGuarded(n), dy, x}, []bool{true, false, false}, bin(reluDropoutBackwardImpls), tolExact)
				checkImpls(t, "GELUDropoutBackward "+lbl, []gbuf{newGuarded(n), dy, x}, []bool{true, false, false}, bin(geluDropoutBackwardImpls), tolGELU)
				// In place, as the model calls the backward kernels.
				inPlace := func(list []named[func([]float32, []float32, []float32, float32, uint64, uint32)]) []implRun {
					return adapt(list, func(f func([]float32, []float32, []float32, float32, uint64, uint32), o [][]float32) float64 {
						f(o[0], o[0], o[1], p, key, base)
						return 0
					})
				}
				checkImpls(t, "ReLUDropoutBackward in place "+lbl, []gbuf{dy, x}, []bool{true, false}, inPlace(reluDropoutBackwardImpls), tolExact)
				checkImpls(t, "GELUDropoutBackward in place "+lbl, []gbuf{dy, x}, []bool{true, false}, inPlace(geluDropoutBackwardImpls), tolGELU)
			}
			for _, d := range sizes {
				sa := adapt(dropoutScaleAddRowsImpls, func(f func(y, w, x, b []float32, d int, p float32, key uint64, base uint32), o [][]float32) float64 {
					f(o[0], o[1], o[2], o[3], d, p, key, base)
					return 0
				})
				for _, rows := range rowCounts {
					m := rows * d
					checkImpls(t, rw("DropoutScaleAddRows p=%v base=%#x d=%d rows=%d", p, base, d, rows),
						[]gbuf{newGuarded(m), randGuarded(r, d, -1, 1), randGuarded(r, m, -1, 1), randGuarded(r, m, -1, 1)},
						[]bool{true, false, false, false}, sa, tolExact)
				}
			}
		}
	}
}

// The encoder's and cross-attention's key-padding softmax is SoftmaxCausal
// on one row with row0 = L−1: every implementation normalizes over the
// first L scores only, never reads the padded ones (NaN here) and writes
// zeros over them.
func TestImplSoftmaxKeyPadding(t *testing.T) {
	r := newRand(112)
	for _, n := range sizes[1:] {
		for _, L := range []int{1, 2, (n + 1) / 2, n - 1, n} {
			if L < 1 || L > n {
				continue
			}
			fw := adapt(softmaxCausalImpls, func(f func(p, s []float32, n int, scale float32, row0 int), o [][]float32) float64 {
				f(o[0], o[1], n, 0.125, L-1)
				return 0
			})
			s := randGuarded(r, n, -20, 20)
			for i := L; i < n; i++ {
				s.s()[i] = guardVal
			}
			checkImpls(t, rw("SoftmaxKeyPadding n=%d L=%d", n, L), []gbuf{newGuarded(n), s}, []bool{true, false}, fw, tolTransc)
			p := make([]float32, n)
			SoftmaxCausal(p, s.s(), n, 0.125, L-1)
			var sum float64
			for i, v := range p {
				if i >= L && v != 0 {
					t.Fatalf("n=%d L=%d: p[%d] = %v past the valid keys", n, L, i, v)
				}
				sum += float64(v)
			}
			if math.Abs(sum-1) > 1e-5 {
				t.Fatalf("n=%d L=%d: probabilities sum to %v", n, L, sum)
			}
		}
	}
}
