package model

import (
	"github.com/clinic-ml/clinic/asm"
	"github.com/clinic-ml/clinic/internal/phase"
)

// head turns a stack's output into logits with the tied embedding and
// computes the label-smoothed cross-entropy and its gradient.
type head struct {
	c         *core
	E         *Param
	V         int
	n         int
	targets   []int32
	logits    []float32
	dlogits   []float32
	rowLoss   []float64
	gradScale float32
	xentRows  func(lo, hi int)
	haveLoss  bool
}

func newHead(c *core, E *Param, V, rows int) *head {
	h := &head{c: c, E: E, V: V, targets: make([]int32, rows),
		logits: make([]float32, rows*V), dlogits: make([]float32, rows*V), rowLoss: make([]float64, rows)}
	h.xentRows = h.xent
	return h
}

// forward computes the logits of xf [n, d] and, with targets, the mean
// loss over the targets ≥ 0 and their count.
func (h *head) forward(xf []float32, n int, targets []int32) (float64, int) {
	c, V := h.c, h.V
	h.n = n
	c.linear(n, V, c.d, xf, c.d, h.E, c.d, 0, h.logits, V)
	h.haveLoss = targets != nil
	if targets == nil {
		return 0, 0
	}
	copy(h.targets, targets)
	count := 0
	for _, v := range targets {
		if v >= 0 {
			count++
		}
	}
	if count == 0 {
		h.gradScale = 0
	} else {
		h.gradScale = 1 / float32(count)
	}
	c.par(phase.Elementwise, n, h.xentRows)
	var loss float64
	for _, l := range h.rowLoss[:n] {
		loss += l
	}
	if count == 0 {
		return 0, 0
	}
	return loss / float64(count), count
}

func (h *head) xent(lo, hi int) {
	V := h.V
	for r := lo; r < hi; r++ {
		h.rowLoss[r] = asm.SoftmaxCrossEntropy(h.dlogits[r*V:r*V+V], h.logits[r*V:r*V+V], h.targets[r:r+1], V, h.c.cfg.LabelSmoothing, h.gradScale)
	}
}

// backward accumulates the embedding's gradient from the logits and
// writes ∂L/∂xf into dxf.
func (h *head) backward(xf, dxf []float32) {
	c, V, n, d := h.c, h.V, h.n, h.c.d
	c.weightGrad(V, d, n, h.dlogits, V, xf, d, h.E.G, d)
	c.linearBack(n, d, V, h.dlogits, V, h.E, d, 0, dxf, d)
}
