package model

// maxPlanned bounds the floats of any one buffer New, NewSeq2Seq and
// NewTranslator plan (32 GiB): batch sizes and beams come from flags,
// and a product of them that wrapped around would pass every later
// check and index out of range.
const maxPlanned = 1 << 33

// TrainingBytes estimates the memory a training run of cfg plans, in
// bytes: the parameters with their gradients, the optimizer's two
// moments and the trainer's rollback copy (five copies), and every
// buffer of a model planned for rows tokens per side (Model: batch ×
// SeqLen; Seq2Seq: its Rows), attention probabilities included. It is
// what New and NewSeq2Seq allocate, computed without allocating, so a
// command can refuse a config that cannot fit before it tries. With
// cfg.BF16 it adds the weights rounded to bf16 and packed in their two
// layouts (2 bytes an element each, counted on every parameter: a bound),
// for the training model and the evaluation model that shares its
// parameters.
func TrainingBytes(cfg Config, rows int) float64 {
	b := 4*5*float64(cfg.ParamCount()) + ModelBytes(cfg, rows)
	if cfg.BF16 {
		b += 2 * 2 * 2 * float64(cfg.ParamCount())
	}
	return b
}

// ModelBytes estimates the buffers of one model planned for rows tokens
// per side, without the parameters. (In float64: absurd configs must not
// overflow into small numbers.)
func ModelBytes(cfg Config, rows int) float64 { return modelBytes(cfg, float64(rows)) }

func modelBytes(cfg Config, N float64) float64 {
	self, cross, ffn := layerFloats(cfg, N)
	floats := stackFloats(cfg, N) + float64(cfg.Layers)*(self+ffn)
	if cfg.EncoderLayers > 0 {
		floats += float64(cfg.Layers) * cross
		floats += stackFloats(cfg, N) + float64(cfg.EncoderLayers)*(self+ffn)
	}
	// the head: logits, their gradient, row losses
	V := float64(cfg.Vocab)
	return 4 * (floats + coreFloats(cfg, N) + 2*N*V + 3*N)
}

// encoderBytes is the encoder stack of N tokens alone (a Translator's
// plan) with the core's scratch.
func encoderBytes(cfg Config, N float64) float64 {
	self, _, ffn := layerFloats(cfg, N)
	return 4 * (stackFloats(cfg, N) + float64(cfg.EncoderLayers)*(self+ffn) + coreFloats(cfg, N))
}

// layerFloats is what a self-attention, cross-attention and feed-forward
// sublayer of N tokens plan.
func layerFloats(cfg Config, N float64) (self, cross, ffn float64) {
	d, F, H, T := float64(cfg.DModel), float64(cfg.DFF), float64(cfg.Heads), float64(cfg.SeqLen)
	sub := N*d + N*d + 2*N           // a sublayer's output, saved input, mean, rstd
	self = 3*N*d + N*H*T + N*d + sub // qkv, probabilities, heads' output
	cross = N*d + 2*N*d + N*H*T + N*d + sub
	ffn = 2*N*F + sub // pre-activation, hidden
	return self, cross, ffn
}

// stackFloats is a stack's own buffers: stream x0, gradient ping-pong,
// tokens and lengths, and the final LayerNorm's.
func stackFloats(cfg Config, N float64) float64 {
	f := 3*N*float64(cfg.DModel) + 2*N
	if variantOf(cfg.Norm).form.finalLN {
		f += N*float64(cfg.DModel) + 2*N
	}
	return f
}

// coreFloats is the core's scratch: branch output and gradients,
// attention gradients, the FFN hidden gradient. (The attention's
// per-chunk scratch, 2·SeqLen² floats a thread, is allocated at its
// first use: 128 KB a thread at SeqLen 128. Nor is the GEMM's own
// workspace: packing buffers, and a weight gradient's partial products
// over groups of tokens, at most 16 MB.)
func coreFloats(cfg Config, N float64) float64 {
	d := float64(cfg.DModel)
	return 5*N*d + 3*N*d + N*float64(cfg.DFF) + float64(cfg.SeqLen)*d
}

// TranslatorBytes estimates what NewTranslatorFor plans for maxSent
// sentences of up to maxSrc tokens and maxHyp hypotheses of up to maxPos
// positions: the encoder's buffers, every decoder layer's cached
// self-attention keys and values per hypothesis and cross-attention keys
// and values per sentence, and the decoder's weights packed for the GEMM
// kernel; and the log-probabilities of every hypothesis that beam search
// keeps.
func TranslatorBytes(cfg Config, maxSent, maxHyp, maxSrc, maxPos int) float64 {
	S, P, L, d, F, V := float64(maxSrc), float64(maxPos), float64(cfg.Layers), float64(cfg.DModel), float64(cfg.DFF), float64(cfg.Vocab)
	caches := 4 * L * (2*float64(maxHyp)*P*d + float64(maxSent)*S*2*d)
	packed := 4 * (L*(6*d*d+2*d*F) + V*d)
	search := 4 * float64(maxHyp) * V
	// maxSent·maxSrc in float64: in an int it could wrap around.
	return encoderBytes(cfg, float64(maxSent)*S) + caches + packed + search
}
