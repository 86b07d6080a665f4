package asm

import "math"

// elementwise is one CPU level's implementation of the non-GEMM
// kernels: raw assembly entry points (nil where the level has none, and
// all nil at level generic) behind methods with the exported
// signatures. A method checks its operands as the twin would index
// them, then runs the assembly, or the twin when the entry is nil.
type elementwise struct {
	dropout            func(y, x *float32, n int, th uint32, sc float32, klo, khi, base uint32)
	relu, gelu         func(y, x *float32, n int)
	reluBackward       func(dx, dy, x *float32, n int)
	geluBackward       func(dx, dy, x *float32, n int)
	adam               func(w, g, m, v *float32, n int, b1, omb1, b2, omb2, a, sc, eps, decay float32)
	scale              func(alpha float32, x *float32, n int)
	sumSq              func(x *float32, n int) float64
	scaleAddRows       func(y, w, x, b *float32, rows, d int)
	colSum             func(dst, src *float32, rows, stride, w int)
	colDot             func(dst, a, b *float32, rows, stride, w int)
	layerNormParamGrad func(dgamma, dbeta, dy, x, mean, rstd *float32, rows, stride, w int)
	layerNorm          func(y, mean, rstd, x, gamma, beta *float32, rows, d int, eps float32)
	layerNormBackward  func(dx, dy, x, mean, rstd, gamma *float32, rows, d int)
	softmaxCausal      func(p, s *float32, rows, n int, scale float32, row0 int)
	softmaxBackward    func(ds, dp, p *float32, rows, n int, scale float32)
	ceStats            func(l *float32, n int) (mx float32, sumExp, sum float64)
	ceGrad             func(dl, l *float32, n int, mx, ls, u, gs float32)
	dotRows            func(dst, q, k *float32, rows, stride, w int)
	axpyRows           func(o, p, v *float32, rows, stride, w int)

	// Fused kernels (kernels_fused.go).
	reluDropout, geluDropout                 func(y, x *float32, n int, th uint32, sc float32, klo, khi, base uint32)
	reluDropoutBackward, geluDropoutBackward func(dx, dy, x *float32, n int, th uint32, sc float32, klo, khi, base uint32)
	dropoutScaleAddRows                      func(y, w, x, b *float32, rows, d int, th uint32, sc float32, klo, khi, base uint32)
}

// window returns the length of a rows×w window with rows stride apart
// (0 if empty).
func window(rows, stride, w int) int {
	if rows <= 0 || w <= 0 {
		return 0
	}
	return (rows-1)*stride + w
}

func (k *elementwise) Dropout(y, x []float32, p float32, key uint64, base uint32) {
	if k.dropout == nil || p <= 0 {
		dropoutGeneric(y, x, p, key, base)
		return
	}
	y = y[:len(x)]
	if len(x) == 0 {
		return
	}
	k.dropout(&y[0], &x[0], len(x), DropThreshold(p), 1/(1-p), uint32(key), uint32(key>>32), base)
}

func (k *elementwise) ReLU(y, x []float32) {
	if k.relu == nil {
		reluGeneric(y, x)
		return
	}
	y = y[:len(x)]
	if len(x) > 0 {
		k.relu(&y[0], &x[0], len(x))
	}
}

func (k *elementwise) GELU(y, x []float32) {
	if k.gelu == nil {
		geluGeneric(y, x)
		return
	}
	y = y[:len(x)]
	if len(x) > 0 {
		k.gelu(&y[0], &x[0], len(x))
	}
}

func (k *elementwise) ReLUBackward(dx, dy, x []float32) {
	if k.reluBackward == nil {
		reluBackwardGeneric(dx, dy, x)
		return
	}
	dx, dy = dx[:len(x)], dy[:len(x)]
	if len(x) > 0 {
		k.reluBackward(&dx[0], &dy[0], &x[0], len(x))
	}
}

func (k *elementwise) GELUBackward(dx, dy, x []float32) {
	if k.geluBackward == nil {
		geluBackwardGeneric(dx, dy, x)
		return
	}
	dx, dy = dx[:len(x)], dy[:len(x)]
	if len(x) > 0 {
		k.geluBackward(&dx[0], &dy[0], &x[0], len(x))
	}
}

func (k *elementwise) Adam(w, g, m, v []float32, b1, b2, a, s, eps, decay float32) {
	if k.adam == nil {
		adamGeneric(w, g, m, v, b1, b2, a, s, eps, decay)
		return
	}
	g, m, v = g[:len(w)], m[:len(w)], v[:len(w)]
	if len(w) > 0 {
		k.adam(&w[0], &g[0], &m[0], &v[0], len(w), b1, 1-b1, b2, 1-b2, a, s, eps, decay)
	}
}

func (k *elementwise) Scale(alpha float32, x []float32) {
	if k.scale == nil {
		scaleGeneric(alpha, x)
		return
	}
	if len(x) > 0 {
		k.scale(alpha, &x[0], len(x))
	}
}

func (k *elementwise) SumSq(x []float32) float64 {
	if k.sumSq == nil {
		return sumSqGeneric(x)
	}
	if len(x) == 0 {
		return 0
	}
	return k.sumSq(&x[0], len(x))
}

// BroadcastRows is copy (memmove) at every level.
func (k *elementwise) BroadcastRows(y, v []float32, d int) { broadcastRowsGeneric(y, v, d) }

func (k *elementwise) ScaleAddRows(y, w, x, b []float32, d int) {
	if k.scaleAddRows == nil || d <= 0 {
		scaleAddRowsGeneric(y, w, x, b, d)
		return
	}
	rows := len(y) / d
	if rows == 0 {
		return
	}
	n := rows * d
	w, x, b = w[:d], x[:n], b[:n]
	k.scaleAddRows(&y[0], &w[0], &x[0], &b[0], rows, d)
}

func (k *elementwise) ColSum(dst, src []float32, rows, stride int) {
	n := window(rows, stride, len(dst))
	if k.colSum == nil || n == 0 || stride < 0 {
		colSumGeneric(dst, src, rows, stride)
		return
	}
	src = src[:n]
	k.colSum(&dst[0], &src[0], rows, stride, len(dst))
}

func (k *elementwise) ColDot(dst, a, b []float32, rows, stride int) {
	n := window(rows, stride, len(dst))
	if k.colDot == nil || n == 0 || stride < 0 {
		colDotGeneric(dst, a, b, rows, stride)
		return
	}
	a, b = a[:n], b[:n]
	k.colDot(&dst[0], &a[0], &b[0], rows, stride, len(dst))
}

func (k *elementwise) DotRows(dst, q, keys []float32, rows, stride int) {
	n := window(rows, stride, len(q))
	if k.dotRows == nil || n == 0 || stride < 0 {
		dotRowsGeneric(dst, q, keys, rows, stride)
		return
	}
	dst, keys = dst[:rows], keys[:n]
	k.dotRows(&dst[0], &q[0], &keys[0], rows, stride, len(q))
}

func (k *elementwise) AxpyRows(o, p, v []float32, stride int) {
	n := window(len(p), stride, len(o))
	if k.axpyRows == nil || n == 0 || stride < 0 {
		axpyRowsGeneric(o, p, v, stride)
		return
	}
	v = v[:n]
	k.axpyRows(&o[0], &p[0], &v[0], len(p), stride, len(o))
}

func (k *elementwise) LayerNormParamGrad(dgamma, dbeta, dy, x, mean, rstd []float32, rows, stride int) {
	w := len(dgamma)
	n := window(rows, stride, w)
	if k.layerNormParamGrad == nil || n == 0 || stride < 0 {
		layerNormParamGradGeneric(dgamma, dbeta, dy, x, mean, rstd, rows, stride)
		return
	}
	dbeta, dy, x, mean, rstd = dbeta[:w], dy[:n], x[:n], mean[:rows], rstd[:rows]
	k.layerNormParamGrad(&dgamma[0], &dbeta[0], &dy[0], &x[0], &mean[0], &rstd[0], rows, stride, w)
}

func (k *elementwise) LayerNorm(y, mean, rstd, x, gamma, beta []float32, d int, eps float32) {
	if k.layerNorm == nil || d <= 0 {
		layerNormGeneric(y, mean, rstd, x, gamma, beta, d, eps)
		return
	}
	rows := len(x) / d
	if rows == 0 {
		return
	}
	n := rows * d
	y, mean, rstd, gamma, beta = y[:n], mean[:rows], rstd[:rows], gamma[:d], beta[:d]
	k.layerNorm(&y[0], &mean[0], &rstd[0], &x[0], &gamma[0], &beta[0], rows, d, eps)
}

func (k *elementwise) LayerNormBackward(dx, dy, x, mean, rstd, gamma []float32, d int) {
	if k.layerNormBackward == nil || d <= 0 {
		layerNormBackwardGeneric(dx, dy, x, mean, rstd, gamma, d)
		return
	}
	rows := len(x) / d
	if rows == 0 {
		return
	}
	n := rows * d
	dx, dy, mean, rstd, gamma = dx[:n], dy[:n], mean[:rows], rstd[:rows], gamma[:d]
	k.layerNormBackward(&dx[0], &dy[0], &x[0], &mean[0], &rstd[0], &gamma[0], rows, d)
}

func (k *elementwise) SoftmaxCausal(p, s []float32, n int, scale float32, row0 int) {
	if k.softmaxCausal == nil || n <= 0 || row0 < 0 {
		softmaxCausalGeneric(p, s, n, scale, row0)
		return
	}
	rows := len(s) / n
	if rows == 0 {
		return
	}
	// The last row reads min(row0+rows, n) scores.
	s = s[:(rows-1)*n+min(row0+rows, n)]
	p = p[:rows*n]
	k.softmaxCausal(&p[0], &s[0], rows, n, scale, row0)
}

func (k *elementwise) SoftmaxBackward(ds, dp, p []float32, n int, scale float32) {
	if k.softmaxBackward == nil || n <= 0 {
		softmaxBackwardGeneric(ds, dp, p, n, scale)
		return
	}
	rows := len(p) / n
	if rows == 0 {
		return
	}
	m := rows * n
	ds, dp = ds[:m], dp[:m]
	k.softmaxBackward(&ds[0], &dp[0], &p[0], rows, n, scale)
}

// LogSoftmax takes the maximum and the float64 sum of exps in one
// assembly call (the cross-entropy's), then shifts in Go.
func (k *elementwise) LogSoftmax(y, x []float32) {
	if k.ceStats == nil || len(x) == 0 {
		logSoftmaxGeneric(y, x)
		return
	}
	mx, sumExp, _ := k.ceStats(&x[0], len(x))
	shift(y, x, float32(float64(mx)+math.Log(sumExp)))
}

// SoftmaxCrossEntropy makes two passes per row in assembly (maximum and
// float64 sums; then the gradient from float32 exps), computing the log
// of the sum, the target's gradient and the loss in Go as the twin does.
func (k *elementwise) SoftmaxCrossEntropy(dlogits, logits []float32, targets []int32, V int, eps, gradScale float32) float64 {
	if k.ceStats == nil || V <= 0 {
		return softmaxCrossEntropyGeneric(dlogits, logits, targets, V, eps, gradScale)
	}
	var total float64
	u := eps / float32(V)
	for r, t := range targets {
		lr, dr := logits[r*V:r*V+V], dlogits[r*V:r*V+V]
		if t < 0 {
			clear(dr)
			continue
		}
		v := lr[t]
		mx, sumExp, sum := k.ceStats(&lr[0], V)
		lg := math.Log(sumExp)
		lse := float64(mx) + lg
		k.ceGrad(&dr[0], &lr[0], V, mx, float32(lg), u, gradScale)
		q := u
		q += 1 - eps
		dr[t] = gradScale * (float32(math.Exp(float64(v)-lse)) - q)
		loss := lse - float64(v)
		if eps != 0 {
			loss = float64(1-eps)*loss + float64(eps)*(lse-sum/float64(V))
		}
		total += loss
	}
	return total
}
