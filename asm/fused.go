package asm

// Fused kernels: one pass over memory where the unfused sequence would
// take two or three. Each gives bit-for-bit the result of its unfused
// sequence (same operations, same order), so the model may use either.

// ReLUDropout computes y = Dropout(ReLU(x)) with the mask of (key, base).
func ReLUDropout(y, x []float32, p float32, key uint64, base uint32) {
	y = y[:len(x)]
	if p <= 0 {
		ReLU(y, x)
		return
	}
	th, sc := DropThreshold(p), 1/(1-p)
	for i, v := range x {
		if v > 0 && Hash32(key, base+uint32(i)) >= th {
			y[i] = v * sc
		} else {
			y[i] = 0
		}
	}
}

// ReLUDropoutBackward computes dx = ReLU'(x)·Dropout(dy); dx may alias dy.
func ReLUDropoutBackward(dx, dy, x []float32, p float32, key uint64, base uint32) {
	dx, dy = dx[:len(x)], dy[:len(x)]
	if p <= 0 {
		ReLUBackward(dx, dy, x)
		return
	}
	th, sc := DropThreshold(p), 1/(1-p)
	for i, v := range x {
		if v > 0 && Hash32(key, base+uint32(i)) >= th {
			dx[i] = dy[i] * sc
		} else {
			dx[i] = 0
		}
	}
}

// GELUDropout computes y = Dropout(GELU(x)).
func GELUDropout(y, x []float32, p float32, key uint64, base uint32) {
	GELU(y, x)
	if p > 0 {
		Dropout(y, y[:len(x)], p, key, base)
	}
}

// GELUDropoutBackward computes dx = GELU'(x)·Dropout(dy); dx may alias dy.
func GELUDropoutBackward(dx, dy, x []float32, p float32, key uint64, base uint32) {
	if p > 0 {
		Dropout(dx, dy[:len(x)], p, key, base)
		dy = dx
	}
	GELUBackward(dx, dy, x)
}

// DropoutScaleAddRows computes y = w⊙x + Dropout(b) row by row, w a
// d-vector and element i of b drawing counter base+i: the residual
// update of Post-LN (w = 1) and Admin (w = ω) before its LayerNorm, and
// of Pre-LN (w = 1). y may alias x or b.
func DropoutScaleAddRows(y, w, x, b []float32, d int, p float32, key uint64, base uint32) {
	if d <= 0 {
		return
	}
	if p <= 0 {
		ScaleAddRows(y, w, x, b, d)
		return
	}
	th, sc := DropThreshold(p), 1/(1-p)
	for r := 0; r+d <= len(y); r += d {
		yr, xr, br := y[r:r+d], x[r:r+d], b[r:r+d]
		for j := range yr {
			bv := br[j] * sc
			if Hash32(key, base+uint32(r+j)) < th {
				bv = 0
			}
			yr[j] = w[j]*xr[j] + bv
		}
	}
}
