package asm

// The exported kernels dispatch to the implementation of the current CPU
// level (see kernels_dispatch.go); their pure-Go twins are in
// kernels_generic.go.

// Dot returns Σ x[i]·y[i] over len(x).
func Dot(x, y []float32) float32 {
	return kern.Dot(x, y)
}

// Axpy computes y += alpha·x.
func Axpy(alpha float32, x, y []float32) {
	kern.Axpy(alpha, x, y)
}

// Scale computes x *= alpha.
func Scale(alpha float32, x []float32) {
	kern.Scale(alpha, x)
}

// Add computes y += x.
func Add(y, x []float32) {
	kern.Add(y, x)
}

// SumSq returns Σ x[i]² accumulated in float64 in a fixed blocked order
// (16 interleaved partial sums combined pairwise; see sumSqGeneric): the
// same bits at every CPU level.
func SumSq(x []float32) float64 {
	return kern.SumSq(x)
}

// BroadcastRows sets every d-wide row of y to v (len(v) = d).
func BroadcastRows(y, v []float32, d int) {
	kern.BroadcastRows(y, v, d)
}

// ColSum adds the column sums of a rows×len(dst) window of src, whose
// rows are stride apart, into dst: dst[j] += Σ_r src[r·stride+j].
// Summing down columns (rather than partials per row chunk) keeps the
// result independent of how the rows are split over workers.
func ColSum(dst, src []float32, rows, stride int) {
	kern.ColSum(dst, src, rows, stride)
}

// ColDot adds Σ_r a[r·stride+j]·b[r·stride+j] into dst[j].
func ColDot(dst, a, b []float32, rows, stride int) {
	kern.ColDot(dst, a, b, rows, stride)
}

// ScaleAddRows computes y = w⊙x + b row by row, w a d-vector
// (Admin's scaled shortcut plus the branch).
func ScaleAddRows(y, w, x, b []float32, d int) {
	kern.ScaleAddRows(y, w, x, b, d)
}

// MulRows computes y = w⊙x row by row, w a d-vector.
func MulRows(y, w, x []float32, d int) {
	kern.MulRows(y, w, x, d)
}

// LayerNorm normalizes each d-wide row of x: y = (x-μ)·ρ·γ + β with
// ρ = 1/sqrt(var+eps) (biased variance), and stores μ and ρ per row.
func LayerNorm(y, mean, rstd, x, gamma, beta []float32, d int, eps float32) {
	kern.LayerNorm(y, mean, rstd, x, gamma, beta, d, eps)
}

// LayerNormBackward writes dx for each row given dy and the saved μ, ρ.
// The parameter gradients are LayerNormParamGrad's, a separate column
// pass.
func LayerNormBackward(dx, dy, x, mean, rstd, gamma []float32, d int) {
	kern.LayerNormBackward(dx, dy, x, mean, rstd, gamma, d)
}

// LayerNormParamGrad adds the γ and β gradients of a column window:
// dgamma[j] += Σ_r dy·x̂, dbeta[j] += Σ_r dy, where dy and x start at
// the window's first column and rows are stride apart.
func LayerNormParamGrad(dgamma, dbeta, dy, x, mean, rstd []float32, rows, stride int) {
	kern.LayerNormParamGrad(dgamma, dbeta, dy, x, mean, rstd, rows, stride)
}

// ReLU computes y = max(x, 0).
func ReLU(y, x []float32) {
	kern.ReLU(y, x)
}

// ReLUBackward computes dx = dy where x > 0, else 0 (x the input).
func ReLUBackward(dx, dy, x []float32) {
	kern.ReLUBackward(dx, dy, x)
}

// GELU is the tanh approximation (PyTorch's approximate="tanh").
func GELU(y, x []float32) {
	kern.GELU(y, x)
}

// GELUBackward computes dx = dy·GELU'(x).
func GELUBackward(dx, dy, x []float32) {
	kern.GELUBackward(dx, dy, x)
}

// Dropout computes y = x·mask/(1-p), element i of the slice drawing
// counter base+i under key. The backward pass is the same call on the
// gradient. p must be < 1.
func Dropout(y, x []float32, p float32, key uint64, base uint32) {
	kern.Dropout(y, x, p, key, base)
}

// SoftmaxCausal computes, for each n-wide row r of s, the softmax of
// scale·s over columns 0..row0+r (the causal prefix), writing zeros
// beyond it. row0 is the query position of the first row.
func SoftmaxCausal(p, s []float32, n int, scale float32, row0 int) {
	kern.SoftmaxCausal(p, s, n, scale, row0)
}

// SoftmaxBackward computes ds = scale·p⊙(dp − ⟨dp,p⟩) for each n-wide
// row, the gradient through y = softmax(scale·s). Masked entries have
// p = 0 and so get 0.
func SoftmaxBackward(ds, dp, p []float32, n int, scale float32) {
	kern.SoftmaxBackward(ds, dp, p, n, scale)
}

// SoftmaxCrossEntropy computes, for each V-wide row of logits, the
// cross-entropy against targets[r] with label smoothing eps (the target
// distribution is (1-eps)·onehot + eps/V), returns the summed loss in
// float64, and writes dlogits = gradScale·(softmax − target). A target
// < 0 is ignored: zero loss and zero gradient.
func SoftmaxCrossEntropy(dlogits, logits []float32, targets []int32, V int, eps, gradScale float32) float64 {
	return kern.SoftmaxCrossEntropy(dlogits, logits, targets, V, eps, gradScale)
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
	kern.Adam(w, g, m, v, b1, b2, a, s, eps, decay)
}
