package admin

// The amplification analysis of Liu et al. (2020), §3–4: how much the
// output of a freshly initialized stack moves when every weight matrix
// moves a little, the gradient norm at each sublayer's output, and how
// much each layer's input is made of each earlier residual branch.

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/clinic-ml/clinic/asm"
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

// NewTranslator is NewModel for an encoder–decoder and a batch of
// sentence pairs: Admin's ω of both stacks are profiled on b as
// training does.
func NewTranslator(cfg model.Config, seed uint64, b *model.Pair) (*model.Seq2Seq, error) {
	p, err := model.NewParams(cfg)
	if err != nil {
		return nil, err
	}
	p.Init(seed)
	m, err := model.NewSeq2Seq(p, b.Rows(), seed)
	if err != nil {
		return nil, err
	}
	if cfg.HasOmega() {
		if _, err := RunSeq2Seq(m, b, seed); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Net is a model bound to one batch, as the analyses see it: a language
// model (LMNet) with one stack, or a translator (TranslatorNet) with an
// encoder and a decoder. Every pass runs with dropout off.
type Net struct {
	P      *model.Params
	Stacks []model.StackView
	pool   *asm.Pool
	// forward runs the batch, with its targets (the loss, for a
	// backward pass) or without.
	forward  func(targets bool) (float64, error)
	backward func() error
}

// LMNet binds a language model to batch b.
func LMNet(m *model.Model, b Batch) *Net {
	return &Net{P: m.P, Stacks: m.Stacks(), pool: m.Pool(), backward: m.Backward,
		forward: func(targets bool) (float64, error) {
			var tg []int32
			if targets {
				tg = b.Targets
			}
			return m.Forward(b.Tokens, tg, b.B, b.T, false)
		}}
}

// TranslatorNet binds a translator to batch b.
func TranslatorNet(m *model.Seq2Seq, b *model.Pair) *Net {
	return &Net{P: m.P, Stacks: m.Stacks(), pool: m.Pool(), backward: m.Backward,
		forward: func(targets bool) (float64, error) {
			nb := *b
			if !targets {
				nb.TgtOut = nil
			}
			loss, _, err := m.Forward(&nb, false)
			return loss, err
		}}
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

// MovedAll names OutputChange's whole-model measurement of a translator:
// every stack's matrices moved, the decoder's output read.
const MovedAll = "all"

// StackChange is one output change: of Stack's output ("encoder" or
// "decoder"), with the matrices of Moved ("encoder", "decoder" or
// MovedAll) perturbed.
type StackChange struct {
	Stack, Moved string
	Value        float64
	// Elements is the number of values the norm sums: the real tokens
	// times the width.
	Elements int
}

// Perturbed lists what OutputChange moves when it perturbs stacks: their
// layers' weight matrices (model.StackView.Matrices) and, with embedding,
// the embedding; never biases, LayerNorm parameters or ω.
func Perturbed(p *model.Params, stacks []model.StackView, embedding bool) map[*model.Param]bool {
	set := map[*model.Param]bool{}
	for _, s := range stacks {
		for _, q := range s.Matrices() {
			set[q] = true
		}
	}
	if embedding {
		set[p.Embed] = true
	}
	return set
}

// OutputChange returns ‖F(x,W) − F(x,W*)‖_F, the Frobenius norm over the
// batch's real tokens of the change of a stack's output (StackView.Output:
// the last sublayer's LayerNorm output for postln and admin, the final
// LayerNorm's output for preln) when every perturbed weight w becomes
// w* = w + ε·s, with s = ±1 at random or s = −sign(∂L/∂w). Each stack is
// measured with its own matrices moved; a translator's decoder also with
// every matrix of both stacks moved (Moved = MovedAll: what an update
// does to the model's output). Dropout is off. The parameters are
// restored afterwards.
func OutputChange(n *Net, o ChangeOptions) ([]StackChange, error) {
	if o.Mode != PerturbRandom && o.Mode != PerturbGrad {
		return nil, fmt.Errorf("perturbation mode must be %s or %s, got %q", PerturbRandom, PerturbGrad, o.Mode)
	}
	if !(o.Eps > 0) || math.IsInf(o.Eps, 0) {
		return nil, fmt.Errorf("perturbation size must be positive, got %g", o.Eps)
	}
	if o.Mode == PerturbGrad {
		n.P.ZeroGrad(n.pool)
		if _, err := n.forward(true); err != nil {
			return nil, err
		}
		if err := n.backward(); err != nil {
			return nil, err
		}
	} else if _, err := n.forward(false); err != nil {
		return nil, err
	}
	outs := make([][]float32, len(n.Stacks))
	for i, s := range n.Stacks {
		outs[i] = append([]float32(nil), s.Output()...)
	}
	var res []StackChange
	for i, s := range n.Stacks {
		v, err := n.changeWith(o, Perturbed(n.P, n.Stacks[i:i+1], o.Embedding), i, outs[i])
		if err != nil {
			return nil, err
		}
		res = append(res, StackChange{Stack: s.Name, Moved: s.Name, Value: v, Elements: len(s.ValidRows()) * n.P.Cfg.DModel})
	}
	if last := len(n.Stacks) - 1; last > 0 {
		v, err := n.changeWith(o, Perturbed(n.P, n.Stacks, o.Embedding), last, outs[last])
		if err != nil {
			return nil, err
		}
		res = append(res, StackChange{Stack: n.Stacks[last].Name, Moved: MovedAll, Value: v, Elements: res[last].Elements})
	}
	return res, nil
}

// changeWith moves the weights of set, runs the batch again and returns
// the change of stack i's output from out0 over its real tokens; the
// weights are restored before it returns. The random signs are drawn in
// the order of P.List, a fresh stream from o.Seed each call.
func (n *Net) changeWith(o ChangeOptions, set map[*model.Param]bool, i int, out0 []float32) (float64, error) {
	var saved [][]float32
	var qs []*model.Param
	r := rand.New(rand.NewPCG(o.Seed, 0x7065727475726221)) // "perturb!"
	eps := float32(o.Eps)
	for _, q := range n.P.List {
		if !set[q] {
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
	if _, err := n.forward(false); err != nil {
		return 0, err
	}
	st := n.Stacks[i]
	out, d := st.Output(), n.P.Cfg.DModel
	var s float64
	for _, r := range st.ValidRows() {
		for j := r * d; j < r*d+d; j++ {
			v := float64(out[j]) - float64(out0[j])
			s += v * v
		}
	}
	return math.Sqrt(s), nil
}

// GradNorms are the gradients at each sublayer's output.
type GradNorms struct {
	Loss float64
	// Stacks has one entry per stack of the net, in its order.
	Stacks []StackGrads
}

// StackGrads are one stack's gradient norms: Norm[k] = ‖∂L/∂x_{k+1}‖_F
// over the whole batch, x_{k+1} the output of sublayer k (named by
// model.StackView.SublayerName): the LayerNorm output for postln and
// admin, the stream after the residual add for preln.
type StackGrads struct {
	Stack string
	Norm  []float64
}

// SublayerGradNorms runs a forward and backward pass with dropout off and
// returns the loss and the gradient norm at every sublayer's output of
// every stack. It overwrites the gradients of n.P.
func SublayerGradNorms(n *Net) (*GradNorms, error) {
	g := &GradNorms{}
	for _, s := range n.Stacks {
		sg := StackGrads{Stack: s.Name, Norm: make([]float64, s.Sublayers())}
		g.Stacks = append(g.Stacks, sg)
		h := s.Hooks
		prev := h.SublayerGrad
		defer func() { h.SublayerGrad = prev }()
		h.SublayerGrad = func(k int, grad []float32) {
			var s float64
			for _, v := range grad {
				s += float64(v) * float64(v)
			}
			sg.Norm[k] = math.Sqrt(s)
		}
	}
	n.P.ZeroGrad(n.pool)
	loss, err := n.forward(true)
	if err != nil {
		return nil, err
	}
	if err := n.backward(); err != nil {
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
