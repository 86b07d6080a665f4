package model

import "fmt"

// Accessors for the amplification analysis (package admin). They expose
// state of the last Forward and change nothing.

// Output returns the stack's output of the last Forward, the rows fed to
// the logits, [rows, d]: the last sublayer's LayerNorm output for postln
// and admin (the same slice as Stream(2L)), the final LayerNorm's output
// for preln.
func (m *Model) Output() []float32 { return m.dec.out() }

// StackView is one residual stack of a model as the analyses see it: its
// hooks, its sublayers' LayerNorms and shortcut weights, its layers'
// weight matrices and the streams of the last Forward. A language model
// has one stack, the decoder; a translator has the encoder and the
// decoder.
type StackView struct {
	// Name is "decoder" or "encoder".
	Name  string
	Hooks *Hooks
	s     *stack
	lp    []LayerParams
}

// Stacks returns the model's one stack, the decoder.
func (m *Model) Stacks() []StackView {
	return []StackView{{Name: "decoder", Hooks: &m.Hooks, s: m.dec, lp: m.P.Layers}}
}

// Stacks returns the translator's stacks, the encoder then the decoder.
func (m *Seq2Seq) Stacks() []StackView {
	return []StackView{{Name: "encoder", Hooks: &m.EncoderHooks, s: m.enc, lp: m.P.Encoder},
		{Name: "decoder", Hooks: &m.DecoderHooks, s: m.dec, lp: m.P.Layers}}
}

// Sublayers is the number of residual sublayers: two per layer (self-
// attention, FFN), three in a translator's decoder (self-attention,
// cross-attention, FFN).
func (v StackView) Sublayers() int { return len(v.s.subs) }

// Layers is the number of layers.
func (v StackView) Layers() int { return len(v.lp) }

// SublayerName names sublayer k: "L3.attn" and "L3.ffn" in a stack of two
// sublayers per layer, "L3.self", "L3.cross" and "L3.ffn" in a decoder
// that attends to an encoder.
func (v StackView) SublayerName(k int) string {
	if v.perLayer() == 3 {
		return fmt.Sprintf("L%d.%s", k/3, [3]string{"self", "cross", "ffn"}[k%3])
	}
	return fmt.Sprintf("L%d.%s", k/2, [2]string{"attn", "ffn"}[k%2])
}

// SublayerKinds are the names of a layer's sublayers, in order.
func (v StackView) SublayerKinds() []string {
	if v.perLayer() == 3 {
		return []string{"self", "cross", "ffn"}
	}
	return []string{"attn", "ffn"}
}

func (v StackView) perLayer() int {
	if len(v.lp) == 0 {
		return 2
	}
	return len(v.s.subs) / len(v.lp)
}

// Norm returns sublayer k's LayerNorm gain γ and bias β (nil for the
// forms without LayerNorms) and the weight of the stream in its sum: ω
// (Admin), the variant's constant (DeepNorm) or ones.
func (v StackView) Norm(k int) (g, beta, shortcut []float32) {
	sl := v.s.subs[k]
	if sl.g != nil {
		g, beta = sl.g.W, sl.b.W
	}
	return g, beta, sl.shortcut()
}

// FinalLN returns the final LayerNorm's γ and β (preln; nil otherwise).
func (v StackView) FinalLN() (g, beta []float32) {
	if v.s.final[0] == nil {
		return nil, nil
	}
	return v.s.final[0].W, v.s.final[1].W
}

// Stream returns the stream x_k of the last Forward, [rows, d]: x_0 the
// embedding output, x_k the output of sublayer k−1.
func (v StackView) Stream(k int) []float32 { return v.s.xs[k][:v.s.n*v.s.c.d] }

// Output returns the stack's output of the last Forward, [rows, d] (see
// Model.Output).
func (v StackView) Output() []float32 { return v.s.out() }

// ValidRows lists the rows of the last Forward that lie inside their
// sequence's valid length: the rows a padded batch really holds.
func (v StackView) ValidRows() []int {
	var rows []int
	for b := 0; b < v.s.bsz; b++ {
		for t := 0; t < v.s.keyLen(b); t++ {
			rows = append(rows, b*v.s.t+t)
		}
	}
	return rows
}

// Matrices are the weight matrices of the stack's layers (Wqkv, Wo, W1,
// W2 and, in a decoder that attends to an encoder, the cross-attention's
// Wq, Wkv and Wo), layer by layer: what the output-change analysis moves.
func (v StackView) Matrices() []*Param {
	var qs []*Param
	for _, l := range v.lp {
		for _, q := range []*Param{l.QKVW, l.OutW, l.CrossQW, l.CrossKVW, l.CrossOutW, l.FC1W, l.FC2W} {
			if q != nil {
				qs = append(qs, q)
			}
		}
	}
	return qs
}
