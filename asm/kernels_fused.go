package asm

// The fused kernels of fused.go at each CPU level. The methods have the
// exported functions' signatures; the xxxGeneric functions are the
// pure-Go twins, written against the generic level's methods so that
// the exported functions can dispatch through cur (as kernels.go does)
// without recursing at level generic.

func (k *elementwise) ReLUDropout(y, x []float32, p float32, key uint64, base uint32) {
	if p <= 0 {
		k.ReLU(y, x)
		return
	}
	if k.reluDropout == nil {
		reluDropoutGeneric(y, x, p, key, base)
		return
	}
	y = y[:len(x)]
	if len(x) > 0 {
		k.reluDropout(&y[0], &x[0], len(x), DropThreshold(p), 1/(1-p), uint32(key), uint32(key>>32), base)
	}
}

func (k *elementwise) ReLUDropoutBackward(dx, dy, x []float32, p float32, key uint64, base uint32) {
	if p <= 0 {
		k.ReLUBackward(dx, dy, x)
		return
	}
	if k.reluDropoutBackward == nil {
		reluDropoutBackwardGeneric(dx, dy, x, p, key, base)
		return
	}
	dx, dy = dx[:len(x)], dy[:len(x)]
	if len(x) > 0 {
		k.reluDropoutBackward(&dx[0], &dy[0], &x[0], len(x), DropThreshold(p), 1/(1-p), uint32(key), uint32(key>>32), base)
	}
}

func (k *elementwise) GELUDropout(y, x []float32, p float32, key uint64, base uint32) {
	if p <= 0 || k.geluDropout == nil {
		k.GELU(y, x)
		if p > 0 {
			k.Dropout(y, y[:len(x)], p, key, base)
		}
		return
	}
	y = y[:len(x)]
	if len(x) > 0 {
		k.geluDropout(&y[0], &x[0], len(x), DropThreshold(p), 1/(1-p), uint32(key), uint32(key>>32), base)
	}
}

func (k *elementwise) GELUDropoutBackward(dx, dy, x []float32, p float32, key uint64, base uint32) {
	if p <= 0 || k.geluDropoutBackward == nil {
		if p > 0 {
			k.Dropout(dx, dy[:len(x)], p, key, base)
			dy = dx
		}
		k.GELUBackward(dx, dy, x)
		return
	}
	dx, dy = dx[:len(x)], dy[:len(x)]
	if len(x) > 0 {
		k.geluDropoutBackward(&dx[0], &dy[0], &x[0], len(x), DropThreshold(p), 1/(1-p), uint32(key), uint32(key>>32), base)
	}
}

func (k *elementwise) DropoutScaleAddRows(y, w, x, b []float32, d int, p float32, key uint64, base uint32) {
	if d <= 0 {
		return
	}
	if p <= 0 {
		k.ScaleAddRows(y, w, x, b, d)
		return
	}
	if k.dropoutScaleAddRows == nil {
		dropoutScaleAddRowsGeneric(y, w, x, b, d, p, key, base)
		return
	}
	rows := len(y) / d
	if rows == 0 {
		return
	}
	n := rows * d
	w, x, b = w[:d], x[:n], b[:n]
	k.dropoutScaleAddRows(&y[0], &w[0], &x[0], &b[0], rows, d, DropThreshold(p), 1/(1-p), uint32(key), uint32(key>>32), base)
}

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
