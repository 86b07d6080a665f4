package asm

import "math"

// Dot returns Σ x[i]·y[i] over len(x).
func Dot(x, y []float32) float32 {
	y = y[:len(x)]
	var s float32
	for i, v := range x {
		s += v * y[i]
	}
	return s
}

// Axpy computes y += alpha·x.
func Axpy(alpha float32, x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += alpha * v
	}
}

// Scale computes x *= alpha.
func Scale(alpha float32, x []float32) {
	for i := range x {
		x[i] *= alpha
	}
}

// Add computes y += x.
func Add(y, x []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += v
	}
}

// SumSq returns Σ x[i]² accumulated in float64, in index order.
func SumSq(x []float32) float64 {
	var s float64
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	return s
}

// BroadcastRows sets every d-wide row of y to v (len(v) = d).
func BroadcastRows(y, v []float32, d int) {
	if d <= 0 {
		return
	}
	for r := 0; r+d <= len(y); r += d {
		copy(y[r:r+d], v)
	}
}

// ColSum adds the column sums of a rows×len(dst) window of src, whose
// rows are stride apart, into dst: dst[j] += Σ_r src[r·stride+j].
// Summing down columns (rather than partials per row chunk) keeps the
// result independent of how the rows are split over workers.
func ColSum(dst, src []float32, rows, stride int) {
	w := len(dst)
	for r := 0; r < rows; r++ {
		s := src[r*stride : r*stride+w]
		for j, v := range s {
			dst[j] += v
		}
	}
}

// ColDot adds Σ_r a[r·stride+j]·b[r·stride+j] into dst[j].
func ColDot(dst, a, b []float32, rows, stride int) {
	w := len(dst)
	for r := 0; r < rows; r++ {
		ar := a[r*stride : r*stride+w]
		br := b[r*stride : r*stride+w]
		for j, v := range ar {
			dst[j] += v * br[j]
		}
	}
}

// ScaleAddRows computes y = w⊙x + b row by row, w a d-vector
// (Admin's scaled shortcut plus the branch).
func ScaleAddRows(y, w, x, b []float32, d int) {
	if d <= 0 {
		return
	}
	for r := 0; r+d <= len(y); r += d {
		yr, xr, br := y[r:r+d], x[r:r+d], b[r:r+d]
		for j := range yr {
			yr[j] = w[j]*xr[j] + br[j]
		}
	}
}

// MulRows computes y = w⊙x row by row, w a d-vector.
func MulRows(y, w, x []float32, d int) {
	if d <= 0 {
		return
	}
	for r := 0; r+d <= len(y); r += d {
		yr, xr := y[r:r+d], x[r:r+d]
		for j := range yr {
			yr[j] = w[j] * xr[j]
		}
	}
}

// LayerNorm normalizes each d-wide row of x: y = (x-μ)·ρ·γ + β with
// ρ = 1/sqrt(var+eps) (biased variance), and stores μ and ρ per row.
func LayerNorm(y, mean, rstd, x, gamma, beta []float32, d int, eps float32) {
	if d <= 0 {
		return
	}
	rows := len(x) / d
	for r := 0; r < rows; r++ {
		xr := x[r*d : r*d+d]
		var s float32
		for _, v := range xr {
			s += v
		}
		mu := s / float32(d)
		var q float32
		for _, v := range xr {
			q += (v - mu) * (v - mu)
		}
		rs := float32(1 / math.Sqrt(float64(q/float32(d)+eps)))
		mean[r], rstd[r] = mu, rs
		yr := y[r*d : r*d+d]
		for j, v := range xr {
			yr[j] = (v-mu)*rs*gamma[j] + beta[j]
		}
	}
}

// LayerNormBackward writes dx for each row given dy and the saved μ, ρ.
// The parameter gradients are LayerNormParamGrad's, a separate column
// pass.
func LayerNormBackward(dx, dy, x, mean, rstd, gamma []float32, d int) {
	if d <= 0 {
		return
	}
	rows := len(x) / d
	inv := 1 / float32(d)
	for r := 0; r < rows; r++ {
		xr, dyr, dxr := x[r*d:r*d+d], dy[r*d:r*d+d], dx[r*d:r*d+d]
		mu, rs := mean[r], rstd[r]
		var sg, sgx float32
		for j, v := range xr {
			g := dyr[j] * gamma[j]
			sg += g
			sgx += g * (v - mu) * rs
		}
		sg *= inv
		sgx *= inv
		for j, v := range xr {
			xh := (v - mu) * rs
			dxr[j] = rs * (dyr[j]*gamma[j] - sg - xh*sgx)
		}
	}
}

// LayerNormParamGrad adds the γ and β gradients of a column window:
// dgamma[j] += Σ_r dy·x̂, dbeta[j] += Σ_r dy, where dy and x start at
// the window's first column and rows are stride apart.
func LayerNormParamGrad(dgamma, dbeta, dy, x, mean, rstd []float32, rows, stride int) {
	w := len(dgamma)
	for r := 0; r < rows; r++ {
		dyr, xr := dy[r*stride:r*stride+w], x[r*stride:r*stride+w]
		mu, rs := mean[r], rstd[r]
		for j, g := range dyr {
			dgamma[j] += g * (xr[j] - mu) * rs
			dbeta[j] += g
		}
	}
}

// ReLU computes y = max(x, 0).
func ReLU(y, x []float32) {
	y = y[:len(x)]
	for i, v := range x {
		if v > 0 {
			y[i] = v
		} else {
			y[i] = 0
		}
	}
}

// ReLUBackward computes dx = dy where x > 0, else 0 (x the input).
func ReLUBackward(dx, dy, x []float32) {
	dx, dy = dx[:len(x)], dy[:len(x)]
	for i, v := range x {
		if v > 0 {
			dx[i] = dy[i]
		} else {
			dx[i] = 0
		}
	}
}

const (
	geluC = 0.7978845608028654 // sqrt(2/pi)
	geluA = 0.044715
)

// GELU is the tanh approximation (PyTorch's approximate="tanh").
func GELU(y, x []float32) {
	y = y[:len(x)]
	for i, v := range x {
		t := math.Tanh(geluC * (float64(v) + geluA*float64(v)*float64(v)*float64(v)))
		y[i] = float32(0.5 * float64(v) * (1 + t))
	}
}

// GELUBackward computes dx = dy·GELU'(x).
func GELUBackward(dx, dy, x []float32) {
	dx, dy = dx[:len(x)], dy[:len(x)]
	for i, v := range x {
		u := float64(v)
		t := math.Tanh(geluC * (u + geluA*u*u*u))
		g := 0.5*(1+t) + 0.5*u*(1-t*t)*geluC*(1+3*geluA*u*u)
		dx[i] = dy[i] * float32(g)
	}
}

// Dropout computes y = x·mask/(1-p), element i of the slice drawing
// counter base+i under key. The backward pass is the same call on the
// gradient. p must be < 1.
func Dropout(y, x []float32, p float32, key uint64, base uint32) {
	y = y[:len(x)]
	if p <= 0 {
		copy(y, x)
		return
	}
	th := DropThreshold(p)
	sc := 1 / (1 - p)
	for i, v := range x {
		if Hash32(key, base+uint32(i)) >= th {
			y[i] = v * sc
		} else {
			y[i] = 0
		}
	}
}

// SoftmaxCausal computes, for each n-wide row r of s, the softmax of
// scale·s over columns 0..row0+r (the causal prefix), writing zeros
// beyond it. row0 is the query position of the first row.
func SoftmaxCausal(p, s []float32, n int, scale float32, row0 int) {
	if n <= 0 {
		return
	}
	rows := len(s) / n
	for r := 0; r < rows; r++ {
		valid := row0 + r + 1
		if valid > n {
			valid = n
		}
		sr, pr := s[r*n:r*n+valid], p[r*n:r*n+n]
		// mx maximizes scale·v, so every exponent is <= 0 (for
		// scale < 0 that is the smallest v).
		mx := float32(math.Inf(-1))
		if scale >= 0 {
			for _, v := range sr {
				if v > mx {
					mx = v
				}
			}
		} else {
			mx = float32(math.Inf(1))
			for _, v := range sr {
				if v < mx {
					mx = v
				}
			}
		}
		var sum float32
		for j, v := range sr {
			e := float32(math.Exp(float64(scale * (v - mx))))
			pr[j] = e
			sum += e
		}
		inv := 1 / sum
		for j := range sr {
			pr[j] *= inv
		}
		clear(pr[valid:])
	}
}

// SoftmaxBackward computes ds = scale·p⊙(dp − ⟨dp,p⟩) for each n-wide
// row, the gradient through y = softmax(scale·s). Masked entries have
// p = 0 and so get 0.
func SoftmaxBackward(ds, dp, p []float32, n int, scale float32) {
	if n <= 0 {
		return
	}
	rows := len(p) / n
	for r := 0; r < rows; r++ {
		pr, dpr, dsr := p[r*n:r*n+n], dp[r*n:r*n+n], ds[r*n:r*n+n]
		var dot float32
		for j, v := range pr {
			dot += v * dpr[j]
		}
		for j, v := range pr {
			dsr[j] = scale * v * (dpr[j] - dot)
		}
	}
}

// SoftmaxCrossEntropy computes, for each V-wide row of logits, the
// cross-entropy against targets[r] with label smoothing eps (the target
// distribution is (1-eps)·onehot + eps/V), returns the summed loss in
// float64, and writes dlogits = gradScale·(softmax − target). A target
// < 0 is ignored: zero loss and zero gradient.
func SoftmaxCrossEntropy(dlogits, logits []float32, targets []int32, V int, eps, gradScale float32) float64 {
	var total float64
	for r, t := range targets {
		lr, dr := logits[r*V:r*V+V], dlogits[r*V:r*V+V]
		if t < 0 {
			clear(dr)
			continue
		}
		mx := float32(math.Inf(-1))
		for _, v := range lr {
			if v > mx {
				mx = v
			}
		}
		var sum float64
		for _, v := range lr {
			sum += math.Exp(float64(v - mx))
		}
		lse := float64(mx) + math.Log(sum)
		u := eps / float32(V)
		var loss, mean float64
		for j, v := range lr {
			pj := float32(math.Exp(float64(v) - lse))
			q := u
			if j == int(t) {
				q += 1 - eps
			}
			dr[j] = gradScale * (pj - q)
			mean += float64(v)
		}
		loss = lse - float64(lr[t])
		if eps != 0 {
			loss = float64(1-eps)*loss + float64(eps)*(lse-mean/float64(V))
		}
		total += loss
	}
	return total
}

// Adam applies one Adam/AdamW step to w in place:
//
//	m = β1·m + (1-β1)·g;  v = β2·v + (1-β2)·g²
//	w = w − decay·w − a·m/(s·sqrt(v) + eps)
//
// with a = lr/(1-β1^t) (times RAdam's rectifier), s = 1/sqrt(1-β2^t),
// decay = lr·weight_decay (decoupled). s = 0, eps = 1 gives RAdam's
// un-rectified momentum step.
func Adam(w, g, m, v []float32, b1, b2, a, s, eps, decay float32) {
	g, m, v = g[:len(w)], m[:len(w)], v[:len(w)]
	for i := range w {
		gi := g[i]
		mi := b1*m[i] + (1-b1)*gi
		vi := b2*v[i] + (1-b2)*gi*gi
		m[i], v[i] = mi, vi
		den := s*float32(math.Sqrt(float64(vi))) + eps
		w[i] = w[i] - decay*w[i] - a*mi/den
	}
}
