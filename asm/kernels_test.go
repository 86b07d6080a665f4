package asm

import (
	"fmt"
	"math"
	"testing"
)

// Gradient checks: each backward kernel against float64 central
// differences of a float32 forward, through the loss L = Σ w⊙y with
// random w. Forward checks: each forward kernel against a float64
// reference.

func TestLayerNormGrad(t *testing.T) {
	r := newRand(1)
	const eps = 1e-5
	for _, d := range []int{1, 2, 3, 8, 17, 33} {
		for _, rows := range []int{1, 3} {
			label := fmt.Sprintf("d=%d rows=%d", d, rows)
			x := randSlice(r, rows*d, -2, 2)
			gamma := randSlice(r, d, 0.5, 1.5)
			beta := randSlice(r, d, -0.5, 0.5)
			w := randSlice(r, rows*d, -1, 1)
			y := make([]float32, rows*d)
			mean, rstd := make([]float32, rows), make([]float32, rows)
			mu2, rs2 := make([]float32, rows), make([]float32, rows)
			loss := func() float64 {
				LayerNorm(y, mu2, rs2, x, gamma, beta, d, eps)
				return dot64(w, y)
			}
			LayerNorm(y, mean, rstd, x, gamma, beta, d, eps)
			dx := make([]float32, rows*d)
			LayerNormBackward(dx, w, x, mean, rstd, gamma, d)
			dgamma, dbeta := make([]float32, d), make([]float32, d)
			LayerNormParamGrad(dgamma, dbeta, w, x, mean, rstd, rows, d)

			// d = 1 has x̂ ≡ 0 up to rounding: the x-gradient is
			// exactly zero analytically and numerically noise.
			if d > 1 {
				fdGrad(t, label+" dx", x, dx, loss, 1e-2, 1e-2, 2e-3, nil)
			}
			fdGrad(t, label+" dgamma", gamma, dgamma, loss, 1e-2, 1e-2, 1e-3, nil)
			fdGrad(t, label+" dbeta", beta, dbeta, loss, 1e-2, 1e-2, 1e-3, nil)

			// A column window [c0,c1) computes exactly the window's
			// share of the full-width gradients, and adds onto what is
			// already there.
			if d >= 3 {
				c0, c1 := 1, d-1
				wg, wb := make([]float32, c1-c0), make([]float32, c1-c0)
				LayerNormParamGrad(wg, wb, w[c0:], x[c0:], mean, rstd, rows, d)
				if !bitsEqual(wg, dgamma[c0:c1]) || !bitsEqual(wb, dbeta[c0:c1]) {
					t.Errorf("%s: window [%d,%d) differs from the full-width pass", label, c0, c1)
				}
				LayerNormParamGrad(wg, wb, w[c0:], x[c0:], mean, rstd, rows, d)
				for j := range wg {
					if !closeTo(float64(wg[j]), 2*float64(dgamma[c0+j]), 1e-6) || !closeTo(float64(wb[j]), 2*float64(dbeta[c0+j]), 1e-6) {
						t.Errorf("%s: window col %d does not accumulate: %v,%v after two passes, one gives %v,%v", label, c0+j, wg[j], wb[j], dgamma[c0+j], dbeta[c0+j])
					}
				}
			}
		}
	}
}

func TestSoftmaxGrad(t *testing.T) {
	r := newRand(2)
	for _, n := range []int{1, 2, 5, 16} {
		for _, rows := range []int{1, 4} {
			for _, row0 := range []int{0, 2, n} {
				for _, scale := range []float32{1, 0.35, -0.7} {
					label := fmt.Sprintf("n=%d rows=%d row0=%d scale=%v", n, rows, row0, scale)
					s := randSlice(r, rows*n, -3, 3)
					w := randSlice(r, rows*n, -1, 1)
					p := make([]float32, rows*n)
					p2 := make([]float32, rows*n)
					loss := func() float64 {
						SoftmaxCausal(p2, s, n, scale, row0)
						return dot64(w, p2)
					}
					SoftmaxCausal(p, s, n, scale, row0)
					ds := make([]float32, rows*n)
					SoftmaxBackward(ds, w, p, n, scale)
					masked := func(i int) bool { return i%n > row0+i/n }
					for i := range ds {
						if masked(i) && (ds[i] != 0 || p[i] != 0) {
							t.Errorf("%s: masked entry %d: p=%v ds=%v", label, i, p[i], ds[i])
						}
					}
					// Including masked entries: their numeric gradient is 0.
					fdGrad(t, label, s, ds, loss, 1e-2, 1e-2, 1e-3, nil)
				}
			}
		}
	}
}

func TestReLUGrad(t *testing.T) {
	r := newRand(3)
	const n = 300
	x := randSlice(r, n, -2, 2)
	for i, v := range x {
		if math.Abs(float64(v)) < 0.05 {
			x[i] = 0.5
		}
	}
	w := randSlice(r, n, -1, 1)
	y := make([]float32, n)
	loss := func() float64 { ReLU(y, x); return dot64(w, y) }
	dx := make([]float32, n)
	reluBackward(dx, w, x)
	fdGrad(t, "ReLU", x, dx, loss, 1e-2, 1e-3, 1e-5, nil)
	for i, v := range x {
		want := float32(0)
		if v > 0 {
			want = w[i]
		}
		if dx[i] != want {
			t.Errorf("ReLUBackward[%d] = %v, want %v", i, dx[i], want)
		}
	}
	// At 0 exactly the subgradient used is 0.
	z := []float32{0, float32(math.Copysign(0, -1))}
	dz := []float32{7, 7}
	reluBackward(dz, []float32{1, 1}, z)
	if dz[0] != 0 || dz[1] != 0 {
		t.Errorf("ReLUBackward at ±0 = %v, want 0", dz)
	}
}

func TestGELUGrad(t *testing.T) {
	r := newRand(4)
	const n = 400
	x := randSlice(r, n, -5, 5)
	w := randSlice(r, n, -1, 1)
	y := make([]float32, n)
	loss := func() float64 { GELU(y, x); return dot64(w, y) }
	dx := make([]float32, n)
	geluBackward(dx, w, x)
	fdGrad(t, "GELU", x, dx, loss, 1e-2, 1e-2, 1e-4, nil)

	// Against the analytic derivative of the tanh formula in float64.
	for i, v := range x {
		u := float64(v)
		h := 1e-6
		g := (gelu64(u+h) - gelu64(u-h)) / (2 * h)
		if !closeTo(float64(dx[i]), float64(w[i])*g, 1e-5) {
			t.Errorf("GELUBackward(%v) = %v, want %v", v, dx[i], float64(w[i])*g)
		}
	}
}

func gelu64(u float64) float64 {
	return 0.5 * u * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(u+0.044715*u*u*u)))
}

func TestGELU(t *testing.T) {
	r := newRand(5)
	x := randSlice(r, 2000, -8, 8)
	x = append(x, 0, 1, -1, 20, -20, 1e-30, -1e-30)
	y := make([]float32, len(x))
	GELU(y, x)
	for i, v := range x {
		want := gelu64(float64(v))
		if far(float64(y[i])-want, 1e-6*(1+math.Abs(want))) {
			t.Errorf("GELU(%v) = %v, want %v", v, y[i], want)
		}
	}
}

func TestDropout(t *testing.T) {
	r := newRand(6)
	const n = 5000
	x := randSlice(r, n, -3, 3)
	dy := randSlice(r, n, -1, 1)
	for _, p := range []float32{0, 0.1, 0.5, 0.9} {
		key := Mix64(uint64(p * 1000))
		base := uint32(12345)
		y := make([]float32, n)
		dx := make([]float32, n)
		Dropout(y, x, p, key, base)
		Dropout(dx, dy, p, key, base) // the backward pass
		sc := 1 / (1 - p)
		th := DropThreshold(p)
		for i := range x {
			keep := Hash32(key, base+uint32(i)) >= th
			if p == 0 {
				keep = true
			}
			wantY, wantDx := float32(0), float32(0)
			if keep {
				wantY, wantDx = x[i]*sc, dy[i]*sc
				if p == 0 {
					wantY, wantDx = x[i], dy[i]
				}
			}
			if math.Float32bits(y[i]) != math.Float32bits(wantY) || math.Float32bits(dx[i]) != math.Float32bits(wantDx) {
				t.Fatalf("p=%v i=%d: y=%v dx=%v, want %v %v", p, i, y[i], dx[i], wantY, wantDx)
			}
			if (y[i] == 0) != (dx[i] == 0) {
				t.Fatalf("p=%v i=%d: forward and backward masks differ", p, i)
			}
		}
		// In place (y aliasing x) gives the same result.
		z := append([]float32(nil), x...)
		Dropout(z, z, p, key, base)
		if !bitsEqual(z, y) {
			t.Errorf("p=%v: in-place Dropout differs", p)
		}
	}
}

// ce64 is the label-smoothed cross-entropy of one row in float64, using
// max-shifted log-sum-exp.
func ce64(logits []float32, t int, eps float64) float64 {
	mx := math.Inf(-1)
	for _, v := range logits {
		mx = math.Max(mx, float64(v))
	}
	var s float64
	for _, v := range logits {
		s += math.Exp(float64(v) - mx)
	}
	lse := mx + math.Log(s)
	V := float64(len(logits))
	var loss float64
	for j, v := range logits {
		q := eps / V
		if j == t {
			q += 1 - eps
		}
		loss += q * (lse - float64(v))
	}
	return loss
}

// TestSoftmaxCrossEntropy runs at every supported level: its wide-range inputs
// exercise the max-shift of the tail (masked) vectors, which the
// TestImpl* operands in [-1, 1] do not.
func TestSoftmaxCrossEntropy(t *testing.T) {
	for _, l := range SupportedLevels() {
		t.Run(l, func(t *testing.T) { withLevel(t, l, func() { softmaxCrossEntropyCheck(t) }) })
	}
}

func softmaxCrossEntropyCheck(t *testing.T) {
	r := newRand(7)
	for _, V := range []int{1, 2, 7, 33} {
		for _, eps := range []float32{0, 0.1} {
			const rows = 5
			targets := make([]int32, rows)
			for i := range targets {
				targets[i] = int32(r.IntN(V))
			}
			targets[1], targets[3] = -1, -100
			gs := float32(0.25)
			label := fmt.Sprintf("V=%d eps=%v", V, eps)
			logits := randSlice(r, rows*V, -4, 4)
			logits[0] = 60 // a large logit: the shift must keep exp finite
			dl := make([]float32, rows*V)
			for i := range dl {
				dl[i] = guardVal // ignored rows must be cleared too
			}
			loss := SoftmaxCrossEntropy(dl, logits, targets, V, eps, gs)

			var want float64
			for r, tg := range targets {
				if tg >= 0 {
					want += ce64(logits[r*V:r*V+V], int(tg), float64(eps))
				}
			}
			if far(loss-want, 1e-5*(1+math.Abs(want))) {
				t.Errorf("%s: loss %v, want %v", label, loss, want)
			}
			for r, tg := range targets {
				if tg < 0 {
					for j := 0; j < V; j++ {
						if dl[r*V+j] != 0 {
							t.Errorf("%s: ignored row %d has gradient %v", label, r, dl[r*V+j])
						}
					}
				}
			}
			// dloss/dlogits = dlogits/gs.
			ga := make([]float32, len(dl))
			for i := range dl {
				ga[i] = dl[i] / gs
			}
			scratch := make([]float32, len(dl))
			f := func() float64 { return SoftmaxCrossEntropy(scratch, logits, targets, V, eps, gs) }
			fdGrad(t, label, logits, ga, f, 1e-3, 1e-3, 1e-5, nil)
			// Each valid row's gradient sums to 0 (softmax and target
			// both sum to 1).
			for r, tg := range targets {
				if tg < 0 {
					continue
				}
				var s float64
				for j := 0; j < V; j++ {
					s += float64(dl[r*V+j])
				}
				if far(s, 1e-6) {
					t.Errorf("%s row %d: gradient sums to %v", label, r, s)
				}
			}
		}
	}
}

// TestRowOpsGrad checks ScaleAddRows forward against a plain loop and
// its backward (w⊙g for dx, ColDot for dw, ColSum for a broadcast bias)
// against finite differences.
func TestRowOpsGrad(t *testing.T) {
	r := newRand(8)
	for _, d := range []int{1, 5, 16, 17} {
		const rows = 4
		label := fmt.Sprintf("d=%d", d)
		w := randSlice(r, d, -2, 2)
		x := randSlice(r, rows*d, -2, 2)
		b := randSlice(r, rows*d, -2, 2)
		g := randSlice(r, rows*d, -1, 1)
		y := make([]float32, rows*d)

		ScaleAddRows(y, w, x, b, d)
		for i := range y {
			if want := w[i%d]*x[i] + b[i]; y[i] != want {
				t.Errorf("%s ScaleAddRows[%d] = %v, want %v", label, i, y[i], want)
			}
		}
		loss := func() float64 { ScaleAddRows(y, w, x, b, d); return dot64(g, y) }
		dx := make([]float32, rows*d)
		for i := range dx {
			dx[i] = w[i%d] * g[i]
		}
		dw := make([]float32, d)
		ColDot(dw, g, x, rows, d)
		fdGrad(t, label+" ScaleAddRows dx", x, dx, loss, 1e-2, 1e-2, 1e-4, nil)
		fdGrad(t, label+" ScaleAddRows dw", w, dw, loss, 1e-2, 1e-2, 1e-4, nil)
		fdGrad(t, label+" ScaleAddRows db", b, g, loss, 1e-2, 1e-2, 1e-4, nil)

		// y = x + broadcast(v): dv = ColSum(g).
		v := randSlice(r, d, -1, 1)
		loss = func() float64 {
			BroadcastRows(y, v, d)
			for i := range y {
				y[i] += x[i]
			}
			return dot64(g, y)
		}
		dv := make([]float32, d)
		ColSum(dv, g, rows, d)
		fdGrad(t, label+" bias dv", v, dv, loss, 1e-2, 1e-2, 1e-4, nil)
	}
}

// TestColReductions checks ColSum and ColDot on column windows of
// strided matrices against plain loops (same summation order, so exact).
func TestColReductions(t *testing.T) {
	r := newRand(9)
	for _, rows := range []int{0, 1, 3, 10} {
		for _, stride := range []int{1, 5, 17, 40} {
			for _, c0 := range []int{0, 1, 3} {
				for _, c1 := range []int{c0, c0 + 1, stride} {
					if c1 > stride || c0 > c1 {
						continue
					}
					wdt := c1 - c0
					a := randSlice(r, rows*stride, -2, 2)
					b := randSlice(r, rows*stride, -2, 2)
					init := randSlice(r, wdt, -1, 1)
					cs := append([]float32(nil), init...)
					cd := append([]float32(nil), init...)
					var as, bs []float32
					if rows > 0 {
						as, bs = a[c0:], b[c0:]
					}
					ColSum(cs, as, rows, stride)
					ColDot(cd, as, bs, rows, stride)
					for j := 0; j < wdt; j++ {
						s, q := init[j], init[j]
						for i := 0; i < rows; i++ {
							s += a[i*stride+c0+j]
							q += a[i*stride+c0+j] * b[i*stride+c0+j]
						}
						if cs[j] != s || cd[j] != q {
							t.Errorf("rows=%d stride=%d window [%d,%d) col %d: ColSum %v want %v, ColDot %v want %v", rows, stride, c0, c1, j, cs[j], s, cd[j], q)
						}
					}
				}
			}
		}
	}
}

func TestLayerNorm(t *testing.T) {
	r := newRand(10)
	const eps = 1e-5
	for _, d := range []int{1, 2, 7, 64, 257} {
		const rows = 4
		x := randSlice(r, rows*d, -3, 3)
		for j := 0; j < d; j++ { // row 1 offset far from 0
			x[d+j] += 100
		}
		for j := 0; j < d; j++ { // row 2 constant: variance 0
			x[2*d+j] = 1.5
		}
		gamma := randSlice(r, d, -2, 2)
		beta := randSlice(r, d, -1, 1)
		y := make([]float32, rows*d)
		mean, rstd := make([]float32, rows), make([]float32, rows)
		LayerNorm(y, mean, rstd, x, gamma, beta, d, eps)
		for i := 0; i < rows; i++ {
			xr := x[i*d : i*d+d]
			var mu, v float64
			for _, e := range xr {
				mu += float64(e)
			}
			mu /= float64(d)
			for _, e := range xr {
				v += (float64(e) - mu) * (float64(e) - mu)
			}
			v /= float64(d)
			rs := 1 / math.Sqrt(v+eps)
			if far(float64(mean[i])-mu, 1e-6*(1+math.Abs(mu))) {
				t.Errorf("d=%d row %d: mean %v, want %v", d, i, mean[i], mu)
			}
			if far(float64(rstd[i])-rs, 1e-4*rs) {
				t.Errorf("d=%d row %d: rstd %v, want %v", d, i, rstd[i], rs)
			}
			for j, e := range xr {
				want := (float64(e)-mu)*rs*float64(gamma[j]) + float64(beta[j])
				// The error of x−μ is relative to |x|, amplified by ρ.
				tol := 1e-5*(1+math.Abs(want)) + 2e-7*math.Abs(float64(e))*rs*math.Abs(float64(gamma[j]))
				if far(float64(y[i*d+j])-want, tol) {
					t.Errorf("d=%d row %d col %d: y %v, want %v", d, i, j, y[i*d+j], want)
				}
			}
		}
	}
}

// TestSoftmaxCausal runs at every supported level: its wide-range inputs
// exercise the max-shift of the tail (masked) vectors, which the
// TestImpl* operands in [-1, 1] do not.
func TestSoftmaxCausal(t *testing.T) {
	for _, l := range SupportedLevels() {
		t.Run(l, func(t *testing.T) { withLevel(t, l, func() { softmaxCausalCheck(t) }) })
	}
}

func softmaxCausalCheck(t *testing.T) {
	r := newRand(11)
	for _, n := range []int{1, 3, 16, 100} {
		for _, row0 := range []int{0, 5, 200} {
			for _, scale := range []float32{0.125, 1, -1} {
				const rows = 7
				s := randSlice(r, rows*n, -200, 200) // large: the max shift matters
				p := make([]float32, rows*n)
				for i := range p {
					p[i] = guardVal
				}
				SoftmaxCausal(p, s, n, scale, row0)
				for i := 0; i < rows; i++ {
					valid := min(row0+i+1, n)
					sr, pr := s[i*n:i*n+n], p[i*n:i*n+n]
					mx := math.Inf(-1)
					for _, v := range sr[:valid] {
						mx = math.Max(mx, float64(scale)*float64(v))
					}
					var z, sum float64
					for _, v := range sr[:valid] {
						z += math.Exp(float64(scale)*float64(v) - mx)
					}
					for j := range pr {
						want := 0.0
						if j < valid {
							want = math.Exp(float64(scale)*float64(sr[j])-mx) / z
						}
						sum += float64(pr[j])
						if j >= valid && pr[j] != 0 {
							t.Errorf("n=%d row0=%d scale=%v row %d: masked p[%d] = %v", n, row0, scale, i, j, pr[j])
						}
						// Float32 rounding of scale·(s−max) with |s| ~ 400
						// costs ~3e-5 relative in each exponent.
						if far(float64(pr[j])-want, 1e-4*want+1e-7) {
							t.Errorf("n=%d row0=%d scale=%v row %d: p[%d] = %v, want %v", n, row0, scale, i, j, pr[j], want)
						}
					}
					if far(sum-1, 1e-5) {
						t.Errorf("n=%d row0=%d scale=%v row %d: sums to %v", n, row0, scale, i, sum)
					}
				}
			}
		}
	}
}

func TestAdam(t *testing.T) {
	r := newRand(12)
	const n = 300
	const (
		lr = 0.05
		b1 = float32(0.9)
		b2 = float32(0.999)
		wd = 0.1
	)
	for _, mode := range []string{"adam", "momentum"} {
		w := randSlice(r, n, -1, 1)
		m := make([]float32, n)
		v := make([]float32, n)
		w64 := make([]float64, n)
		m64 := make([]float64, n)
		v64 := make([]float64, n)
		for i := range w {
			w64[i] = float64(w[i])
		}
		B1, B2 := float64(b1), float64(b2)
		for step := 1; step <= 6; step++ {
			g := randSlice(r, n, -2, 2)
			g[0] = 0
			g[1] = 1e-6
			c1 := 1 - math.Pow(B1, float64(step))
			c2 := 1 - math.Pow(B2, float64(step))
			a := float32(lr / c1)
			s, eps := float32(1/math.Sqrt(c2)), float32(1e-8)
			if mode == "momentum" {
				s, eps = 0, 1
			}
			Adam(w, g, m, v, b1, b2, a, s, eps, lr*wd)
			for i := range w64 {
				gi := float64(g[i])
				m64[i] = B1*m64[i] + (1-B1)*gi
				v64[i] = B2*v64[i] + (1-B2)*gi*gi
				var upd float64
				if mode == "adam" {
					mhat, vhat := m64[i]/c1, v64[i]/c2
					upd = lr * mhat / (math.Sqrt(vhat) + 1e-8)
				} else {
					upd = lr / c1 * m64[i]
				}
				w64[i] -= lr*wd*w64[i] + upd
			}
			for i := range w {
				// m cancels (β1·m + (1−β1)·g): bound its error by its terms.
				if far(float64(m[i])-m64[i], 1e-5*math.Abs(m64[i])+1e-7*(math.Abs(m64[i])+math.Abs(float64(g[i])))) ||
					far(float64(v[i])-v64[i], 1e-5*(math.Abs(v64[i])+1e-12)) ||
					far(float64(w[i])-w64[i], 2e-6*(1+math.Abs(w64[i]))) {
					t.Fatalf("%s step %d i=%d: w,m,v = %v,%v,%v want %v,%v,%v", mode, step, i, w[i], m[i], v[i], w64[i], m64[i], v64[i])
				}
			}
		}
	}
}

func TestVectorOps(t *testing.T) {
	r := newRand(13)
	for _, n := range sizes {
		x := randSlice(r, n, -2, 2)
		var ss float64
		for i := range x {
			ss += float64(x[i]) * float64(x[i])
		}
		if got := SumSq(x); far(got-ss, 1e-12*ss) {
			t.Errorf("n=%d: SumSq = %v, want %v", n, got, ss)
		}
		const alpha = float32(-0.7)
		z := append([]float32(nil), x...)
		Scale(alpha, z)
		for i := range z {
			if z[i] != alpha*x[i] {
				t.Errorf("n=%d: Scale[%d] = %v, want %v", n, i, z[i], alpha*x[i])
			}
		}
	}
	for _, d := range []int{1, 3, 16, 17} {
		v := randSlice(r, d, -1, 1)
		y := make([]float32, 5*d)
		BroadcastRows(y, v, d)
		for i := range y {
			if y[i] != v[i%d] {
				t.Errorf("d=%d: BroadcastRows[%d] = %v, want %v", d, i, y[i], v[i%d])
			}
		}
	}
}

// TestZeroWidthRows: d = 0 (or an empty operand) is a no-op, never a
// hang or a division by zero.
func TestZeroWidthRows(t *testing.T) {
	var e []float32
	BroadcastRows(e, e, 0)
	ScaleAddRows(e, e, e, e, 0)
	LayerNorm(e, e, e, e, e, e, 0, 1e-5)
	LayerNormBackward(e, e, e, e, e, e, 0)
	LayerNormParamGrad(e, e, e, e, e, e, 0, 0)
	SoftmaxCausal(e, e, 0, 1, 0)
	SoftmaxBackward(e, e, e, 0, 1)
	ColSum(e, e, 3, 0)
	ColDot(e, e, e, 3, 0)
	if l := SoftmaxCrossEntropy(e, e, nil, 5, 0.1, 1); l != 0 {
		t.Errorf("SoftmaxCrossEntropy with no rows = %v", l)
	}
}

// TestLogSoftmaxNormalizes: exp of the output sums to 1, differences of
// the input survive, and a huge logit does not overflow.
func TestLogSoftmaxNormalizes(t *testing.T) {
	r := newRand(118)
	for _, n := range []int{1, 5, 100, 8003} {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(20 * (2*r.Float64() - 1))
		}
		x[n/2] = 1e30
		y := make([]float32, n)
		LogSoftmax(y, x)
		var s float64
		for _, v := range y {
			s += math.Exp(float64(v))
		}
		if math.Abs(s-1) > 1e-5 {
			t.Errorf("n=%d: Σ exp(y) = %v", n, s)
		}
		if y[n/2] != 0 {
			t.Errorf("n=%d: the dominant logit's log-probability is %v, want 0", n, y[n/2])
		}
		x[n/2] = 3
		LogSoftmax(y, x)
		if n > 1 {
			if d := (y[0] - y[n-1]) - (x[0] - x[n-1]); math.Abs(float64(d)) > 1e-5 {
				t.Errorf("n=%d: differences change by %v", n, d)
			}
		}
	}
}
