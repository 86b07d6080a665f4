package asm

import "math"

// The element-wise kernels' glue (type elementwise, its checked methods,
// the exported functions and the assembly levels' tables) is generated
// by gen/gluegen from its spec table, in kernels_glue.go and
// kernels_glue_amd64.go. This file holds what the generated methods use
// and the methods the spec marks as hand-written (Hand): those that
// compute in Go around their assembly calls.

// window returns the length of a rows×w window with rows stride apart
// (0 if empty).
func window(rows, stride, w int) int {
	if rows <= 0 || w <= 0 {
		return 0
	}
	return (rows-1)*stride + w
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
