package asm

// The pure-Go twins of the fused kernels: one pass over memory where the
// unfused sequence would take two or three. Each gives bit-for-bit the
// result of its unfused sequence (same operations, same order), so the
// model may use either. geluDropoutGeneric and geluDropoutBackwardGeneric
// are written against the generic level's methods: the exported
// functions dispatch through cur without recursing at level generic.

// reluDropoutGeneric is the twin of ReLUDropout.
func reluDropoutGeneric(y, x []float32, p float32, key uint64, base uint32) {
	y = y[:len(x)]
	if p <= 0 {
		reluGeneric(y, x)
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

// reluDropoutBackwardGeneric is the twin of ReLUDropoutBackward.
func reluDropoutBackwardGeneric(dx, dy, x []float32, p float32, key uint64, base uint32) {
	dx, dy = dx[:len(x)], dy[:len(x)]
	if p <= 0 {
		reluBackwardGeneric(dx, dy, x)
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

// geluDropoutGeneric is the twin of GELUDropout.
func geluDropoutGeneric(y, x []float32, p float32, key uint64, base uint32) {
	genericLevel.GELUDropout(y, x, p, key, base)
}

// geluDropoutBackwardGeneric is the twin of GELUDropoutBackward.
func geluDropoutBackwardGeneric(dx, dy, x []float32, p float32, key uint64, base uint32) {
	genericLevel.GELUDropoutBackward(dx, dy, x, p, key, base)
}

// dropoutScaleAddRowsGeneric is the twin of DropoutScaleAddRows.
func dropoutScaleAddRowsGeneric(y, w, x, b []float32, d int, p float32, key uint64, base uint32) {
	if d <= 0 {
		return
	}
	if p <= 0 {
		scaleAddRowsGeneric(y, w, x, b, d)
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
