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
	d, F, H, T := float64(cfg.DModel), float64(cfg.DFF), float64(cfg.Heads), float64(cfg.SeqLen)
	V := float64(cfg.Vocab)
	sub := N*d + N*d + 2*N            // a sublayer's output, saved input, mean, rstd
	self := 3*N*d + N*H*T + N*d + sub // qkv, probabilities, heads' output
	ffn := 2*N*F + sub                // pre-activation, hidden
	cross := N*d + 2*N*d + N*H*T + N*d + sub
	stack := 3*N*d + 2*N // stream x0, gradient ping-pong, tokens and lengths
	if variantOf(cfg.Norm).form.finalLN {
		stack += N*d + 2*N
	}
	floats := stack + float64(cfg.Layers)*(self+ffn)
	if cfg.EncoderLayers > 0 {
		floats += stack + float64(cfg.EncoderLayers)*(self+ffn) + float64(cfg.Layers)*cross
	}
	// core scratch: branch output and gradients, attention gradients,
	// FFN hidden gradient; the head: logits, their gradient, row losses.
	// (The attention's per-chunk scratch, 2·SeqLen² floats a thread, is
	// allocated at its first use: 128 KB a thread at SeqLen 128. Nor is
	// the GEMM's own workspace: packing buffers, and a weight gradient's
	// partial products over groups of tokens, at most 16 MB.)
	floats += 5*N*d + 3*N*d + N*F + T*d
	floats += 2*N*V + 3*N
	return 4 * floats
}

// TranslatorBytes estimates what NewTranslator plans for maxSent
// sentences and maxHyp hypotheses: the encoder's buffers, every decoder
// layer's cached self-attention keys and values per hypothesis and
// cross-attention keys and values per sentence, and the decoder's
// weights packed for the GEMM kernel; and the log-probabilities of
// every hypothesis that beam search keeps.
func TranslatorBytes(cfg Config, maxSent, maxHyp int) float64 {
	T, L, d, F, V := float64(cfg.SeqLen), float64(cfg.Layers), float64(cfg.DModel), float64(cfg.DFF), float64(cfg.Vocab)
	caches := 4 * L * (2*float64(maxHyp)*T*d + float64(maxSent)*T*2*d)
	packed := 4 * (L*(6*d*d+2*d*F) + V*d)
	search := 4 * float64(maxHyp) * V
	// maxSent·SeqLen in float64: in an int it could wrap around.
	return modelBytes(cfg, float64(maxSent)*T) + caches + packed + search
}
