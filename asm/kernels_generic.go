package asm

// The pure-Go twins of the kernels in kernels.go: the reference every
// assembly version is tested against, and what runs at level generic.

import "math"

// scaleGeneric is the pure-Go twin of Scale.
func scaleGeneric(alpha float32, x []float32) {
	for i := range x {
		x[i] *= alpha
	}
}

// sumSqGeneric is the pure-Go twin of SumSq. It fixes the summation
// order the assembly follows: 16 float64 partial sums, partial l taking
// the elements i ≡ l (mod 16) in index order, combined pairwise (l and
// l+8, then l+4, l+2, l+1). Squares of float32 are exact in float64, so
// the result is the same bits at every level.
func sumSqGeneric(x []float32) float64 {
	var acc [16]float64
	i := 0
	for ; i+16 <= len(x); i += 16 {
		for l, v := range x[i : i+16] {
			acc[l] += float64(v) * float64(v)
		}
	}
	for l, v := range x[i:] {
		acc[l] += float64(v) * float64(v)
	}
	for w := 8; w >= 1; w /= 2 {
		for l := range w {
			acc[l] += acc[l+w]
		}
	}
	return acc[0]
}

// broadcastRowsGeneric is the pure-Go twin of BroadcastRows.
func broadcastRowsGeneric(y, v []float32, d int) {
	if d <= 0 {
		return
	}
	for r := 0; r+d <= len(y); r += d {
		copy(y[r:r+d], v)
	}
}

// colSumGeneric is the pure-Go twin of ColSum.
func colSumGeneric(dst, src []float32, rows, stride int) {
	w := len(dst)
	for r := 0; r < rows; r++ {
		s := src[r*stride : r*stride+w]
		for j, v := range s {
			dst[j] += v
		}
	}
}

// colDotGeneric is the pure-Go twin of ColDot.
func colDotGeneric(dst, a, b []float32, rows, stride int) {
	w := len(dst)
	for r := 0; r < rows; r++ {
		ar := a[r*stride : r*stride+w]
		br := b[r*stride : r*stride+w]
		for j, v := range ar {
			dst[j] += v * br[j]
		}
	}
}

// logSoftmaxGeneric is the pure-Go twin of LogSoftmax.
func logSoftmaxGeneric(y, x []float32) {
	if len(x) == 0 {
		return
	}
	mx := float32(math.Inf(-1))
	for _, v := range x {
		if v > mx {
			mx = v
		}
	}
	var sum float64
	for _, v := range x {
		sum += math.Exp(float64(v - mx))
	}
	shift(y, x, float32(float64(mx)+math.Log(sum)))
}

// shift sets y = x − c.
func shift(y, x []float32, c float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] = v - c
	}
}

// dotRowsGeneric is the pure-Go twin of DotRows.
func dotRowsGeneric(dst, q, k []float32, rows, stride int) {
	w := len(q)
	dst = dst[:rows]
	for r := range dst {
		kr := k[r*stride : r*stride+w]
		var s float32
		for j, v := range q {
			s += v * kr[j]
		}
		dst[r] = s
	}
}

// axpyRowsGeneric is the pure-Go twin of AxpyRows.
func axpyRowsGeneric(o, p, v []float32, stride int) {
	w := len(o)
	for r, pr := range p {
		vr := v[r*stride : r*stride+w]
		for j, x := range vr {
			o[j] += pr * x
		}
	}
}

// scaleAddRowsGeneric is the pure-Go twin of ScaleAddRows.
func scaleAddRowsGeneric(y, w, x, b []float32, d int) {
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

// layerNormGeneric is the pure-Go twin of LayerNorm.
func layerNormGeneric(y, mean, rstd, x, gamma, beta []float32, d int, eps float32) {
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

// layerNormBackwardGeneric is the pure-Go twin of LayerNormBackward.
func layerNormBackwardGeneric(dx, dy, x, mean, rstd, gamma []float32, d int) {
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

// layerNormParamGradGeneric is the pure-Go twin of LayerNormParamGrad.
func layerNormParamGradGeneric(dgamma, dbeta, dy, x, mean, rstd []float32, rows, stride int) {
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

// reluGeneric is the pure-Go twin of ReLU.
func reluGeneric(y, x []float32) {
	y = y[:len(x)]
	for i, v := range x {
		if v > 0 {
			y[i] = v
		} else {
			y[i] = 0
		}
	}
}

// reluBackwardGeneric is the pure-Go twin of ReLUBackward.
func reluBackwardGeneric(dx, dy, x []float32) {
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

// geluGeneric is the pure-Go twin of GELU.
func geluGeneric(y, x []float32) {
	y = y[:len(x)]
	for i, v := range x {
		t := math.Tanh(geluC * (float64(v) + geluA*float64(v)*float64(v)*float64(v)))
		y[i] = float32(0.5 * float64(v) * (1 + t))
	}
}

// geluBackwardGeneric is the pure-Go twin of GELUBackward.
func geluBackwardGeneric(dx, dy, x []float32) {
	dx, dy = dx[:len(x)], dy[:len(x)]
	for i, v := range x {
		u := float64(v)
		t := math.Tanh(geluC * (u + geluA*u*u*u))
		g := 0.5*(1+t) + 0.5*u*(1-t*t)*geluC*(1+3*geluA*u*u)
		dx[i] = dy[i] * float32(g)
	}
}

// dropoutGeneric is the pure-Go twin of Dropout.
func dropoutGeneric(y, x []float32, p float32, key uint64, base uint32) {
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

// softmaxCausalGeneric is the pure-Go twin of SoftmaxCausal.
func softmaxCausalGeneric(p, s []float32, n int, scale float32, row0 int) {
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

// softmaxBackwardGeneric is the pure-Go twin of SoftmaxBackward.
func softmaxBackwardGeneric(ds, dp, p []float32, n int, scale float32) {
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

// softmaxCrossEntropyGeneric is the pure-Go twin of SoftmaxCrossEntropy.
func softmaxCrossEntropyGeneric(dlogits, logits []float32, targets []int32, V int, eps, gradScale float32) float64 {
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

// adamGeneric is the pure-Go twin of Adam.
func adamGeneric(w, g, m, v []float32, b1, b2, a, s, eps, decay float32) {
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
