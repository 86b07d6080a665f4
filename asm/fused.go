package asm

// Fused kernels: one pass over memory where the unfused sequence would
// take two or three. Each gives bit-for-bit the result of its unfused
// sequence (same operations, same order), so the model may use either.
// The pure-Go twins are the xxxGeneric functions of kernels_fused.go.

// ReLUDropout computes y = Dropout(ReLU(x)) with the mask of (key, base).
func ReLUDropout(y, x []float32, p float32, key uint64, base uint32) {
	cur.ReLUDropout(y, x, p, key, base)
}

// ReLUDropoutBackward computes dx = ReLU'(x)·Dropout(dy); dx may alias dy.
func ReLUDropoutBackward(dx, dy, x []float32, p float32, key uint64, base uint32) {
	cur.ReLUDropoutBackward(dx, dy, x, p, key, base)
}

// GELUDropout computes y = Dropout(GELU(x)).
func GELUDropout(y, x []float32, p float32, key uint64, base uint32) {
	cur.GELUDropout(y, x, p, key, base)
}

// GELUDropoutBackward computes dx = GELU'(x)·Dropout(dy); dx may alias dy.
func GELUDropoutBackward(dx, dy, x []float32, p float32, key uint64, base uint32) {
	cur.GELUDropoutBackward(dx, dy, x, p, key, base)
}

// DropoutScaleAddRows computes y = w⊙x + Dropout(b) row by row, w a
// d-vector and element i of b drawing counter base+i: the residual
// update of Post-LN (w = 1) and Admin (w = ω) before its LayerNorm, and
// of Pre-LN (w = 1). y may alias x or b.
func DropoutScaleAddRows(y, w, x, b []float32, d int, p float32, key uint64, base uint32) {
	cur.DropoutScaleAddRows(y, w, x, b, d, p, key, base)
}
