package model

import (
	"math"
	"strings"
)

// This file is the one place a residual variant is defined (docs/model.md
// gives the formulas and their sources). A variant is a form, the shape
// of its residual update, plus what it adds to the form: a trainable ω
// or α, a constant shortcut weight, a depth-scaled initialization. The
// form holds the arithmetic every path runs: the training pass's
// forward and backward (generic path), the translator's incremental step,
// the variant's term in the dependency analysis (package admin) and the
// regions the generated layer code runs (fused.go; gen/layergen lists
// the variants it emits code for). Nothing outside this file looks at a
// variant's name: every path asks its variant.

// Norm variants, as docs/model.md defines them.
const (
	PostLN   = "postln"
	PreLN    = "preln"
	Admin    = "admin"
	DeepNorm = "deepnorm" // DeepNet (Wang et al. 2022)
	ReZero   = "rezero"   // Bachlechner et al. 2020
	TFixup   = "tfixup"   // Huang et al. 2020
)

// variants are the definitions, in the canonical order (the order of
// tables and figures).
var variants = []*variant{
	// x = LN(x + Drop(F(x))) (Vaswani et al. 2017)
	{name: PostLN, form: &sumThenLN},
	// x = x + Drop(F(LN(x))), a final LN after the stack (Xiong et al. 2020)
	{name: PreLN, form: &lnThenBranch},
	// x = LN(ω ⊙ x + Drop(F(x))), ω a trainable vector per sublayer that
	// package admin profiles before training (Liu et al. 2020)
	{name: Admin, form: &sumThenLN, omega: true},
	// x = LN(α·x + Drop(F(x))), α a constant of the depth, and the
	// value, output and FFN weights times β at initialization (DeepNet)
	{name: DeepNorm, form: &sumThenLN, shortcut: Config.DeepNormAlpha,
		init: func(c Config, encoder bool, _ int) (float64, float64) {
			b := c.DeepNormBeta(encoder)
			return b, b
		}},
	// x = x + α·Drop(F(x)), α a trainable scalar per sublayer starting at
	// 0, no LayerNorm (ReZero)
	{name: ReZero, form: &scaledSum, alpha: true},
	// x = x + Drop(F(x)), no LayerNorm; the value, output and FFN weights
	// and the embedding scaled at initialization (T-Fixup). The value
	// rows are also times √2: T-Fixup starts from a plain Xavier [d, d]
	// value matrix, √2 larger than a row block of the stacked [3d, d] one.
	{name: TFixup, form: &plainSum,
		init: func(c Config, encoder bool, _ int) (float64, float64) {
			s := c.TFixupScale(encoder)
			return s, s * math.Sqrt2
		},
		embedInit: Config.TFixupEmbedScale},
}

// variant is one residual variant.
type variant struct {
	name string
	form *form
	// omega: each sublayer has a trainable vector ω ([d], named
	// <sublayer>_omega, starting at 1, Admin's profiling sets it) as the
	// weight of the stream.
	omega bool
	// alpha: each sublayer has a trainable scalar α (<sublayer>_alpha,
	// starting at 0) on its branch.
	alpha bool
	// shortcut, when set, is the constant weight of the stream of the
	// encoder's (encoder) or the decoder's sublayers.
	shortcut func(c Config, encoder bool) float64
	// init, when set, scales the freshly drawn weights of layer i (from
	// 0) of the encoder (encoder) or the decoder: the output projections
	// and the FFN weights by s, the value rows of the in-projections by
	// sv.
	init func(c Config, encoder bool, i int) (s, sv float64)
	// embedInit, when set, scales the drawn embedding.
	embedInit func(c Config) float64
}

// Norms lists every variant in the canonical order.
var Norms = func() []string {
	var n []string
	for _, v := range variants {
		n = append(n, v.name)
	}
	return n
}()

// NormList is Norms in words, for messages and help.
var NormList = strings.Join(Norms[:len(Norms)-1], ", ") + " or " + Norms[len(Norms)-1]

// variantOf returns the definition of norm. An unknown norm, which
// Validate rejects before any model is planned, gets Post-LN's
// arithmetic, so that sizes computed from an unvalidated config (memory
// estimates) still come out.
func variantOf(norm string) *variant {
	for _, v := range variants {
		if v.name == norm {
			return v
		}
	}
	return &variant{name: norm, form: &sumThenLN}
}

// form is the arithmetic a family of variants shares.
type form struct {
	// forward runs sublayer s's update over the stack's current rows;
	// backward turns dout = ∂L/∂out into dx = ∂L/∂x (dout may be
	// clobbered).
	forward  func(s *sublayer)
	backward func(s *sublayer, dout, dx []float32)
	// step is the update of one decoder sublayer for the translator's
	// hypotheses (the branch is one of branchSelf, branchCross,
	// branchFFN).
	step func(tr *Translator, branch int, s sublayerParams)
	// ln: every sublayer has a LayerNorm (γ, β); finalLN: the stack ends
	// with one more.
	ln, finalLN bool
	// residual is the form's term in the dependency analysis.
	residual Residual
	// fused are the regions the generated layer code runs for the form
	// (fused.go), fusedNone if it has none (the generic path only).
	fused fusedKind
}

// sublayerParams are one sublayer's own tensors: LayerNorm γ, β, ω, α
// (nil where the variant has none).
type sublayerParams struct{ g, b, omega, alpha *Param }

// Residual is how a form adds a branch b_k to the stream, as the
// dependency analysis (package admin) decomposes it.
type Residual int

const (
	// SumThenLN: x_{k+1} = LN(w ⊙ x_k + b_k), w the shortcut weight (1,
	// a constant, or ω); sublayer k reads x_k.
	SumThenLN Residual = iota
	// LNThenBranch: x_{k+1} = x_k + b_k, sublayer k reads LN_k(x_k) and
	// the stack's output is a final LN.
	LNThenBranch
	// PlainSum: x_{k+1} = x_k + b_k with no LayerNorm; sublayer k reads
	// x_k.
	PlainSum
)

// fusedKind names the regions of the generated layer code (fused.go).
type fusedKind int

const (
	fusedNone fusedKind = iota
	fusedSumThenLN
	fusedLNThenBranch
)

// Residual is the variant's term in the dependency analysis.
func (c Config) Residual() Residual { return variantOf(c.Norm).form.residual }

// HasLayerNorm reports whether the sublayers have LayerNorms.
func (c Config) HasLayerNorm() bool { return variantOf(c.Norm).form.ln }

// HasOmega reports whether the sublayers have Admin's ω, which
// package admin profiles.
func (c Config) HasOmega() bool { return variantOf(c.Norm).omega }

// Shortcut returns the constant weight of the stream in the sublayers of
// the encoder (encoder) or the decoder, and false when the variant has
// none (the weight is 1, or a trained ω).
func (c Config) Shortcut(encoder bool) (float64, bool) {
	v := variantOf(c.Norm)
	if v.shortcut == nil {
		return 0, false
	}
	return v.shortcut(c, encoder), true
}

// DeepNormAlpha is DeepNet's shortcut weight α of the encoder's
// (encoder) or the decoder's sublayers, and DeepNormBeta the gain β of
// their value, output and FFN weights at initialization (Wang et al.
// 2022, its table of α and β per architecture; docs/model.md). N is the
// encoder's depth, M the decoder's.
func (c Config) DeepNormAlpha(encoder bool) float64 {
	N, M := float64(c.EncoderLayers), float64(c.Layers)
	switch {
	case c.EncoderLayers == 0:
		return math.Pow(2*M, 0.25)
	case encoder:
		return 0.81 * math.Pow(N*N*N*N*M, 1.0/16)
	}
	return math.Pow(3*M, 0.25)
}

// DeepNormBeta: see DeepNormAlpha.
func (c Config) DeepNormBeta(encoder bool) float64 {
	N, M := float64(c.EncoderLayers), float64(c.Layers)
	switch {
	case c.EncoderLayers == 0:
		return math.Pow(8*M, -0.25)
	case encoder:
		return 0.87 * math.Pow(N*N*N*N*M, -1.0/16)
	}
	return math.Pow(12*M, -0.25)
}

// TFixupScale is T-Fixup's factor on the value, output and FFN weights
// of the encoder's (encoder) or the decoder's layers, and
// TFixupEmbedScale its factor on the embedding (Huang et al. 2020, as
// its official code applies them; docs/model.md). A
// decoder-only model's layers have the encoder's two sublayers and get
// the encoder's rules.
func (c Config) TFixupScale(encoder bool) float64 {
	if encoder || c.EncoderLayers == 0 {
		return 0.67 * math.Pow(float64(c.stackLayers(encoder)), -0.25)
	}
	return math.Pow(9*float64(c.Layers), -0.25)
}

// TFixupEmbedScale: see TFixupScale.
func (c Config) TFixupEmbedScale() float64 {
	return math.Pow(9*float64(c.stackLayers(true)), -0.25)
}

// stackLayers is the depth of the encoder (the decoder-only model's
// single stack plays the encoder's part) or the decoder.
func (c Config) stackLayers(encoder bool) int {
	if encoder && c.EncoderLayers > 0 {
		return c.EncoderLayers
	}
	return c.Layers
}

// The forms. Each sublayer's update (generic path), in the notation of
// docs/model.md, with the buffers of sublayer: saved is what backward
// needs of the forward, the hook (Hooks.SublayerHook) sees the branch
// output after dropout before the sum.
var (
	// sumThenLN: x = LN(w⊙x + Drop(F(x))), w = s.shortcut() (ones, the
	// stack's constant, or ω); saved is the LN input.
	sumThenLN = form{
		ln: true, residual: SumThenLN, fused: fusedSumThenLN,
		forward: func(s *sublayer) {
			c, x, out, fo, saved, mean, rstd, p, key := s.buffers()
			var omega []float32
			if s.omega != nil {
				omega = s.omega.W
			}
			s.br.forward(x, fo)
			s.residual(saved, s.shortcut(), x, fo, omega, p, key)
			c.op.LN(out, mean, rstd, saved, s.g.W, s.b.W, c.d, c.cfg.LNEps)
		},
		backward: func(s *sublayer, dout, dx []float32) {
			c, x, _, _, saved, mean, rstd, p, key := s.buffers()
			n, d := s.st.n, c.d
			dF, dH, dS := c.dF[:n*d], c.dH[:n*d], c.dS[:n*d]
			c.op.LNBack(dS, s.g.G, s.b.G, dout, saved, mean, rstd, s.g.W, d)
			if s.omega != nil {
				c.op.ColDot(s.omega.G, dS, x)
			}
			c.op.Dropout(dF, dS, p, key, s.st.ctr(d))
			s.br.backward(dF, dH)
			c.op.ScaleAdd(dx, s.shortcut(), dS, dH)
		},
		step: func(tr *Translator, branch int, s sublayerParams) {
			nh, d := tr.nh, tr.Cfg.DModel
			w := tr.shortcut
			if s.omega != nil {
				w = s.omega.W
			}
			tr.branch(branch, tr.x[:nh*d], tr.b[:nh*d])
			tr.rows(rowPostLN, w, s.g.W, s.b.W)
		},
	}
	// lnThenBranch: x = x + Drop(F(LN(x))); saved is LN(x), the branch
	// input.
	lnThenBranch = form{
		ln: true, finalLN: true, residual: LNThenBranch, fused: fusedLNThenBranch,
		forward: func(s *sublayer) {
			c, x, out, fo, saved, mean, rstd, p, key := s.buffers()
			c.op.LN(saved, mean, rstd, x, s.g.W, s.b.W, c.d, c.cfg.LNEps)
			s.br.forward(saved, fo)
			s.residual(out, c.ones, x, fo, nil, p, key)
		},
		backward: func(s *sublayer, dout, dx []float32) {
			c, x, _, _, _, mean, rstd, p, key := s.buffers()
			n, d := s.st.n, c.d
			dF, dH := c.dF[:n*d], c.dH[:n*d]
			c.op.Dropout(dF, dout, p, key, s.st.ctr(d))
			s.br.backward(dF, dH)
			c.op.LNBack(dx, s.g.G, s.b.G, dH, x, mean, rstd, s.g.W, d)
			c.op.ScaleAdd(dx, c.ones, dout, dx)
		},
		step: func(tr *Translator, branch int, s sublayerParams) {
			nh, d := tr.nh, tr.Cfg.DModel
			tr.rows(rowLNIn, nil, s.g.W, s.b.W)
			tr.branch(branch, tr.u[:nh*d], tr.b[:nh*d])
			tr.rows(rowResid, tr.enc.c.ones, nil, nil)
		},
	}
	// plainSum: x = x + Drop(F(x)).
	plainSum = form{
		residual: PlainSum,
		forward: func(s *sublayer) {
			c, x, out, fo, _, _, _, p, key := s.buffers()
			s.br.forward(x, fo)
			s.residual(out, c.ones, x, fo, nil, p, key)
		},
		backward: func(s *sublayer, dout, dx []float32) {
			c, _, _, _, _, _, _, p, key := s.buffers()
			n, d := s.st.n, c.d
			dF, dH := c.dF[:n*d], c.dH[:n*d]
			c.op.Dropout(dF, dout, p, key, s.st.ctr(d))
			s.br.backward(dF, dH)
			c.op.ScaleAdd(dx, c.ones, dout, dH)
		},
		step: func(tr *Translator, branch int, _ sublayerParams) {
			nh, d := tr.nh, tr.Cfg.DModel
			tr.branch(branch, tr.x[:nh*d], tr.b[:nh*d])
			tr.rows(rowResid, tr.enc.c.ones, nil, nil)
		},
	}
	// scaledSum: x = x + α·Drop(F(x)), α the sublayer's trained scalar;
	// saved is Drop(F(x)), which α's gradient needs.
	scaledSum = form{
		residual: PlainSum,
		forward: func(s *sublayer) {
			c, x, out, fo, saved, _, _, p, key := s.buffers()
			d := c.d
			s.br.forward(x, fo)
			c.op.Dropout(saved, fo, p, key, s.st.ctr(d))
			if hook := s.st.hooks.SublayerHook; hook != nil {
				// The hook sees what is added to x: α·Drop(F(x)).
				copy(fo, saved)
				c.op.Scale(fo, s.alpha.W[0])
				hook(s.k, x, fo, nil)
			}
			c.op.ScaleAdd(out, c.spread(s.alpha.W[0]), saved, x)
		},
		backward: func(s *sublayer, dout, dx []float32) {
			c, _, _, _, saved, _, _, p, key := s.buffers()
			n, d := s.st.n, c.d
			dF, dH := c.dF[:n*d], c.dH[:n*d]
			// ∂L/∂α = Σ dout ⊙ Drop(F(x)), summed per column and then over
			// the columns in order, so the sum does not depend on threads.
			col := c.alphaRow
			clear(col)
			c.op.ColDot(col, dout, saved)
			var g float64
			for _, v := range col {
				g += float64(v)
			}
			s.alpha.G[0] += float32(g)
			c.op.Dropout(dF, dout, p, key, s.st.ctr(d))
			c.op.Scale(dF, s.alpha.W[0])
			s.br.backward(dF, dH)
			c.op.ScaleAdd(dx, c.ones, dout, dH)
		},
		step: func(tr *Translator, branch int, s sublayerParams) {
			nh, d := tr.nh, tr.Cfg.DModel
			tr.branch(branch, tr.x[:nh*d], tr.b[:nh*d])
			tr.rows(rowReZero, tr.enc.c.spread(s.alpha.W[0]), nil, nil)
		},
	}
)
