package model

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/clinic-ml/clinic/asm"
)

// Param is one named tensor with its gradient. W and G are views into
// the model's single weight and gradient arenas, so the optimizer and the
// gradient norm see all parameters as one flat vector too.
type Param struct {
	Name  string
	Shape []int
	W, G  []float32
	// Decay is false for biases, LayerNorm parameters and ω, which
	// weight decay leaves alone.
	Decay bool
	// Matrix marks weight matrices (the ones the amplification analysis
	// perturbs).
	Matrix bool
}

// Size is the number of elements.
func (p *Param) Size() int { return len(p.W) }

// Params holds every tensor of a model, in checkpoint order.
type Params struct {
	Cfg    Config
	List   []*Param
	byName map[string]*Param
	W, G   []float32 // arenas

	Embed   *Param
	Layers  []LayerParams // the decoder's
	FinalLN [2]*Param     // preln only: the decoder's final LayerNorm γ, β

	// Encoder–decoder models only (Cfg.EncoderLayers > 0).
	Encoder    []LayerParams
	EncFinalLN [2]*Param // preln only

	zeroFn func(lo, hi int)
}

// LayerParams are one layer's tensors: self-attention (1), the FFN (2)
// and, in an encoder–decoder's decoder, cross-attention over the
// encoder's output (Cross*).
//
// The LayerNorms (LN*) are nil for rezero and tfixup, the ω (Omega*)
// are Admin's only and the α (Alpha*, one scalar each) ReZero's only.
type LayerParams struct {
	QKVW, QKVB, OutW, OutB *Param
	LN1G, LN1B, Omega1     *Param
	Alpha1                 *Param
	FC1W, FC1B, FC2W, FC2B *Param
	LN2G, LN2B, Omega2     *Param
	Alpha2                 *Param

	CrossQW, CrossQB, CrossKVW, CrossKVB, CrossOutW, CrossOutB *Param
	CrossLNG, CrossLNB, CrossOmega                             *Param
	CrossAlpha                                                 *Param
}

// NewParams lays out (but does not initialize) the tensors of cfg.
func NewParams(cfg Config) (*Params, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &Params{Cfg: cfg, byName: map[string]*Param{}}
	d, f := cfg.DModel, cfg.DFF
	add := func(name string, decay, matrix bool, shape ...int) *Param {
		q := &Param{Name: name, Shape: shape, Decay: decay, Matrix: matrix}
		p.List = append(p.List, q)
		p.byName[name] = q
		return q
	}
	p.Embed = add("decoder.embed_tokens.weight", true, true, cfg.Vocab, d)
	v := variantOf(cfg.Norm)
	// norm adds a sublayer's own tensors after its branch's: LayerNorm
	// γ, β (named name) and the variant's ω or α (prefix+"_omega",
	// prefix+"_alpha").
	norm := func(name, prefix string) (g, b, omega, alpha *Param) {
		if v.form.ln {
			g = add(name+".weight", false, false, d)
			b = add(name+".bias", false, false, d)
		}
		if v.omega {
			omega = add(prefix+"_omega", false, false, d)
		}
		if v.alpha {
			alpha = add(prefix+"_alpha", false, false, 1)
		}
		return
	}
	layer := func(pre string, cross bool) LayerParams {
		var l LayerParams
		l.QKVW = add(pre+"self_attn.qkv_proj.weight", true, true, 3*d, d)
		l.QKVB = add(pre+"self_attn.qkv_proj.bias", false, false, 3*d)
		l.OutW = add(pre+"self_attn.out_proj.weight", true, true, d, d)
		l.OutB = add(pre+"self_attn.out_proj.bias", false, false, d)
		l.LN1G, l.LN1B, l.Omega1, l.Alpha1 = norm(pre+"self_attn_layer_norm", pre+"self_attn")
		if cross {
			l.CrossQW = add(pre+"encoder_attn.q_proj.weight", true, true, d, d)
			l.CrossQB = add(pre+"encoder_attn.q_proj.bias", false, false, d)
			l.CrossKVW = add(pre+"encoder_attn.kv_proj.weight", true, true, 2*d, d)
			l.CrossKVB = add(pre+"encoder_attn.kv_proj.bias", false, false, 2*d)
			l.CrossOutW = add(pre+"encoder_attn.out_proj.weight", true, true, d, d)
			l.CrossOutB = add(pre+"encoder_attn.out_proj.bias", false, false, d)
			l.CrossLNG, l.CrossLNB, l.CrossOmega, l.CrossAlpha = norm(pre+"encoder_attn_layer_norm", pre+"encoder_attn")
		}
		l.FC1W = add(pre+"fc1.weight", true, true, f, d)
		l.FC1B = add(pre+"fc1.bias", false, false, f)
		l.FC2W = add(pre+"fc2.weight", true, true, d, f)
		l.FC2B = add(pre+"fc2.bias", false, false, d)
		l.LN2G, l.LN2B, l.Omega2, l.Alpha2 = norm(pre+"final_layer_norm", pre+"ffn")
		return l
	}
	enc := cfg.EncoderLayers > 0
	for i := 0; i < cfg.EncoderLayers; i++ {
		p.Encoder = append(p.Encoder, layer(fmt.Sprintf("encoder.layers.%d.", i), false))
	}
	if enc && v.form.finalLN {
		p.EncFinalLN[0] = add("encoder.layer_norm.weight", false, false, d)
		p.EncFinalLN[1] = add("encoder.layer_norm.bias", false, false, d)
	}
	for i := 0; i < cfg.Layers; i++ {
		p.Layers = append(p.Layers, layer(fmt.Sprintf("decoder.layers.%d.", i), enc))
	}
	if v.form.finalLN {
		p.FinalLN[0] = add("decoder.layer_norm.weight", false, false, d)
		p.FinalLN[1] = add("decoder.layer_norm.bias", false, false, d)
	}
	n := 0
	for _, q := range p.List {
		n += prod(q.Shape)
	}
	p.W = make([]float32, n)
	p.G = make([]float32, n)
	off := 0
	for _, q := range p.List {
		s := prod(q.Shape)
		q.W, q.G = p.W[off:off+s:off+s], p.G[off:off+s:off+s]
		off += s
	}
	return p, nil
}

func prod(s []int) int {
	n := 1
	for _, v := range s {
		n *= v
	}
	return n
}

// Get returns the named tensor or nil.
func (p *Params) Get(name string) *Param { return p.byName[name] }

// ZeroGrad clears every gradient, on pool (nil: inline).
func (p *Params) ZeroGrad(pool *asm.Pool) {
	if p.zeroFn == nil {
		p.zeroFn = p.zero // bound once: a step allocates nothing
	}
	pool.ParallelGrain(len(p.G), 1<<12, p.zeroFn)
}

func (p *Params) zero(lo, hi int) { clear(p.G[lo:hi]) }

// Omegas returns Admin's ω tensors in sublayer order (nil for other
// norms): the decoder's (self-attention, cross-attention if any, FFN per
// layer). EncoderOmegas returns the encoder's.
func (p *Params) Omegas() []*Param {
	if !p.Cfg.HasOmega() {
		return nil
	}
	var o []*Param
	for _, l := range p.Layers {
		o = append(o, l.Omega1)
		if l.CrossOmega != nil {
			o = append(o, l.CrossOmega)
		}
		o = append(o, l.Omega2)
	}
	return o
}

// EncoderOmegas returns the encoder's ω tensors in sublayer order (nil
// without an encoder or for other norms).
func (p *Params) EncoderOmegas() []*Param {
	if !p.Cfg.HasOmega() {
		return nil
	}
	var o []*Param
	for _, l := range p.Encoder {
		o = append(o, l.Omega1, l.Omega2)
	}
	return o
}

// Init draws the initial weights from seed, following the reference
// (Transformer-Clinic, fairseq 0.8 MultiheadAttention.reset_parameters):
// Xavier-uniform matrices, with the stacked [q;k;v] in-projection drawn as
// one [3d, d] matrix (bound sqrt(6/(4d)), so Var = 1/(2d) for each of q, k
// and v), out-projection, fc1 and fc2 each on its own shape; zero biases;
// unit LayerNorm gains and zero LayerNorm biases; embedding N(0, d^-1/2)
// (standard deviation d^-1/2); ω = 1.
//
// Draw order (one PCG stream seeded by seed, fixed for reproducibility):
// the embedding row by row (one NormFloat64 per element), then for each
// layer in order (the encoder's first, if any, then the decoder's) the
// elements of Wqkv (q rows, then k, then v, row-major), Wo, then in a
// decoder layer of an encoder–decoder the cross-attention's Wq, Wkv and
// Wo, then W1 and W2, one Float64 per element. Nothing else draws. The
// cross-attention's Wq and Wkv are drawn as the reference draws its
// stacked [3d, d] in-projection: each with bound sqrt(6/(4d)).
//
// ReZero's α start at 0. The variant may then rescale the drawn weights
// (variant.init, variant.embedInit: deepnorm, tfixup).
func (p *Params) Init(seed uint64) {
	r := rand.New(rand.NewPCG(seed, 0x636c696e6963)) // "clinic"
	d := p.Cfg.DModel
	xavier := func(w []float32, fanOut, fanIn int) {
		b := math.Sqrt(6 / float64(fanIn+fanOut))
		for i := range w {
			w[i] = float32((2*r.Float64() - 1) * b)
		}
	}
	std := 1 / math.Sqrt(float64(d))
	for i := range p.Embed.W {
		p.Embed.W[i] = float32(r.NormFloat64() * std)
	}
	fill := func(q *Param, v float32) {
		if q != nil {
			for i := range q.W {
				q.W[i] = v
			}
		}
	}
	xavierBound := func(w []float32, b float64) {
		for i := range w {
			w[i] = float32((2*r.Float64() - 1) * b)
		}
	}
	for _, l := range append(append([]LayerParams(nil), p.Encoder...), p.Layers...) {
		xavier(l.QKVW.W, 3*d, d)
		xavier(l.OutW.W, d, d)
		if l.CrossQW != nil {
			b := math.Sqrt(6 / float64(4*d))
			xavierBound(l.CrossQW.W, b)
			xavierBound(l.CrossKVW.W, b)
			xavier(l.CrossOutW.W, d, d)
		}
		xavier(l.FC1W.W, p.Cfg.DFF, d)
		xavier(l.FC2W.W, d, p.Cfg.DFF)
		for _, q := range []*Param{l.QKVB, l.OutB, l.FC1B, l.FC2B, l.LN1B, l.LN2B, l.CrossQB, l.CrossKVB, l.CrossOutB, l.CrossLNB} {
			fill(q, 0)
		}
		for _, q := range []*Param{l.LN1G, l.LN2G, l.Omega1, l.Omega2, l.CrossLNG, l.CrossOmega} {
			fill(q, 1)
		}
		for _, q := range []*Param{l.Alpha1, l.CrossAlpha, l.Alpha2} {
			fill(q, 0)
		}
	}
	for _, f := range [][2]*Param{p.FinalLN, p.EncFinalLN} {
		fill(f[0], 1)
		fill(f[1], 0)
	}
	for i, l := range p.Encoder {
		p.scaleInit(l, true, i)
	}
	for i, l := range p.Layers {
		p.scaleInit(l, false, i)
	}
	if v := variantOf(p.Cfg.Norm); v.embedInit != nil {
		scale(p.Embed.W, v.embedInit(p.Cfg))
	}
}

// scaleInit applies the variant's depth-scaled initialization, if any,
// to layer i of the encoder (encoder) or the decoder, after the
// reference draws, so every variant draws the same random numbers: the
// value rows of the in-projections times sv, the output projections
// and the FFN weights times s.
func (p *Params) scaleInit(l LayerParams, encoder bool, i int) {
	v := variantOf(p.Cfg.Norm)
	if v.init == nil {
		return
	}
	d := p.Cfg.DModel
	s, sv := v.init(p.Cfg, encoder, i)
	scale(l.QKVW.W[2*d*d:], sv)
	for _, q := range []*Param{l.OutW, l.FC1W, l.FC2W, l.CrossOutW} {
		if q != nil {
			scale(q.W, s)
		}
	}
	if l.CrossKVW != nil {
		scale(l.CrossKVW.W[d*d:], sv)
	}
}

// selfOwn, crossOwn and ffnOwn are the sublayers' own tensors.
func (l *LayerParams) selfOwn() sublayerParams {
	return sublayerParams{l.LN1G, l.LN1B, l.Omega1, l.Alpha1}
}

func (l *LayerParams) crossOwn() sublayerParams {
	return sublayerParams{l.CrossLNG, l.CrossLNB, l.CrossOmega, l.CrossAlpha}
}

func (l *LayerParams) ffnOwn() sublayerParams {
	return sublayerParams{l.LN2G, l.LN2B, l.Omega2, l.Alpha2}
}

// scale multiplies w by s, rounding once from float64.
func scale(w []float32, s float64) {
	for i, v := range w {
		w[i] = float32(float64(v) * s)
	}
}

// SetOmegas fills each ω_k of om (Omegas or EncoderOmegas) with
// profile[k].
func (p *Params) SetOmegas(om []*Param, profile []float64) error {
	if len(om) == 0 && len(profile) > 0 {
		return fmt.Errorf("model has no ω (norm %s)", p.Cfg.Norm)
	}
	if len(profile) != len(om) {
		return fmt.Errorf("profile has %d values, model has %d sublayers", len(profile), len(om))
	}
	for k, q := range om {
		for i := range q.W {
			q.W[i] = float32(profile[k])
		}
	}
	return nil
}
