package admin

// The amplification analysis of Liu et al. (2020), §3–4: how much the
// output of a freshly initialized stack moves when every weight matrix
// moves a little, the gradient norm at each sublayer's output, and how
// much each layer's input is made of each earlier residual branch.

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/clinic-ml/clinic/model"
)

// Batch is one batch of B rows of T tokens (row-major), with the next
// tokens as targets.
type Batch struct {
	Tokens, Targets []int32
	B, T            int
}

// NewModel draws cfg's initial weights from seed and plans a model for
// batches of b.B rows. For Admin it profiles ω on b (training mode,
// dropout as cfg says) exactly as training does; the analyses then run
// with dropout off.
func NewModel(cfg model.Config, seed uint64, b Batch) (*model.Model, error) {
	p, err := model.NewParams(cfg)
	if err != nil {
		return nil, err
	}
	p.Init(seed)
	m, err := model.New(p, b.B, seed)
	if err != nil {
		return nil, err
	}
	if cfg.HasOmega() {
		if _, err := Run(m, b.Tokens, b.B, b.T, seed); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Perturbation modes of OutputChange.
const (
	// PerturbRandom moves every perturbed weight by ±ε, the sign drawn
	// at random.
	PerturbRandom = "random"
	// PerturbGrad moves every perturbed weight by −ε·sign(∂L/∂w): the
	// first step of Adam (or of signSGD) with learning rate ε.
	PerturbGrad = "grad"
)

// ChangeOptions configure OutputChange.
type ChangeOptions struct {
	Mode string  // PerturbRandom or PerturbGrad
	Eps  float64 // size of the perturbation of each weight, 1e-4 in the paper
	Seed uint64  // draws the random signs
	// Embedding also perturbs the embedding matrix. The paper perturbs
	// the layers' parameters only, and so does the default: here the
	// embedding is also the (tied) output projection, which the stack's
	// output does not depend on.
	Embedding bool
}

// Perturbed reports whether OutputChange moves q: the layers' weight
// matrices (Wqkv, Wo, W1, W2) and, with embedding, the embedding;
// never biases, LayerNorm parameters or ω.
func Perturbed(p *model.Params, q *model.Param, embedding bool) bool {
	if !q.Matrix {
		return false
	}
	return q != p.Embed || embedding
}

// OutputChange returns ‖F(x,W) − F(x,W*)‖_F, the Frobenius norm over the
// whole batch of the change of the stack's output (m.Output(): the last
// sublayer's LayerNorm output for postln and admin, the final LayerNorm's
// output for preln) when every perturbed weight w becomes w* = w + ε·s,
// with s = ±1 at random or s = −sign(∂L/∂w). Dropout is off. The
// parameters are restored afterwards.
func OutputChange(m *model.Model, b Batch, o ChangeOptions) (float64, error) {
	if o.Mode != PerturbRandom && o.Mode != PerturbGrad {
		return 0, fmt.Errorf("perturbation mode must be %s or %s, got %q", PerturbRandom, PerturbGrad, o.Mode)
	}
	if !(o.Eps > 0) || math.IsInf(o.Eps, 0) {
		return 0, fmt.Errorf("perturbation size must be positive, got %g", o.Eps)
	}
	p := m.P
	if o.Mode == PerturbGrad {
		p.ZeroGrad(m.Pool())
		if _, err := m.Forward(b.Tokens, b.Targets, b.B, b.T, false); err != nil {
			return 0, err
		}
		if err := m.Backward(); err != nil {
			return 0, err
		}
	} else if _, err := m.Forward(b.Tokens, nil, b.B, b.T, false); err != nil {
		return 0, err
	}
	out0 := append([]float32(nil), m.Output()...)

	var saved [][]float32
	var qs []*model.Param
	r := rand.New(rand.NewPCG(o.Seed, 0x7065727475726221)) // "perturb!"
	eps := float32(o.Eps)
	for _, q := range p.List {
		if !Perturbed(p, q, o.Embedding) {
			continue
		}
		qs = append(qs, q)
		saved = append(saved, append([]float32(nil), q.W...))
		switch o.Mode {
		case PerturbRandom:
			var bits uint64
			for i := range q.W {
				if i%64 == 0 {
					bits = r.Uint64()
				}
				if bits&1 == 1 {
					q.W[i] += eps
				} else {
					q.W[i] -= eps
				}
				bits >>= 1
			}
		case PerturbGrad:
			for i, g := range q.G {
				switch {
				case g > 0:
					q.W[i] -= eps
				case g < 0:
					q.W[i] += eps
				}
			}
		}
	}
	defer func() {
		for i, q := range qs {
			copy(q.W, saved[i])
		}
	}()
	if _, err := m.Forward(b.Tokens, nil, b.B, b.T, false); err != nil {
		return 0, err
	}
	var s float64
	for i, v := range m.Output() {
		d := float64(v) - float64(out0[i])
		s += d * d
	}
	return math.Sqrt(s), nil
}

// GradNorms are the gradients at each sublayer's output.
type GradNorms struct {
	Loss float64
	// Norm[k] = ‖∂L/∂x_{k+1}‖_F over the whole batch, x_{k+1} the output
	// of sublayer k (layer k/2, attention for even k, FFN for odd k): the
	// LayerNorm output for postln and admin, the stream after the
	// residual add for preln.
	Norm []float64
}

// SublayerGradNorms runs a forward and backward pass on b with dropout
// off and returns the loss and the gradient norm at every sublayer's
// output. It overwrites m.P's gradients.
func SublayerGradNorms(m *model.Model, b Batch) (*GradNorms, error) {
	g := &GradNorms{Norm: make([]float64, m.Cfg.Sublayers())}
	prev := m.SublayerGrad
	defer func() { m.SublayerGrad = prev }()
	m.SublayerGrad = func(k int, grad []float32) {
		var s float64
		for _, v := range grad {
			s += float64(v) * float64(v)
		}
		g.Norm[k] = math.Sqrt(s)
	}
	m.P.ZeroGrad(m.Pool())
	loss, err := m.Forward(b.Tokens, b.Targets, b.B, b.T, false)
	if err != nil {
		return nil, err
	}
	if err := m.Backward(); err != nil {
		return nil, err
	}
	g.Loss = loss
	return g, nil
}

// MeanStd returns the mean and the sample standard deviation (0 for a
// single value) of xs.
func MeanStd(xs []float64) (mean, std float64) {
	if len(xs) == 0 {
		return math.NaN(), math.NaN()
	}
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	if len(xs) < 2 {
		return mean, 0
	}
	for _, x := range xs {
		std += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(std / float64(len(xs)-1))
}
