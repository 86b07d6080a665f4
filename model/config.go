package model

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Config describes a Transformer: a decoder-only language model, or an
// encoder–decoder translator when EncoderLayers > 0 (then Layers counts
// the decoder's layers, SeqLen bounds both sides and one vocabulary and
// embedding serve source, target and output). Its JSON form is stored in
// every checkpoint.
type Config struct {
	EncoderLayers  int     `json:"encoder_layers,omitempty"`
	Layers         int     `json:"layers"`
	DModel         int     `json:"d_model"`
	Heads          int     `json:"heads"`
	DFF            int     `json:"d_ff"`
	SeqLen         int     `json:"seq_len"`
	Vocab          int     `json:"vocab"`
	Dropout        float32 `json:"dropout"`
	AttnDropout    float32 `json:"attn_dropout"`
	ActDropout     float32 `json:"act_dropout"`
	Norm           string  `json:"norm"`
	Activation     string  `json:"activation"`
	LabelSmoothing float32 `json:"label_smoothing"`
	LNEps          float32 `json:"ln_eps"`

	// Generic makes the model run the generic path even where layer code
	// was generated for its shape ('clinic train --specialized=false',
	// for comparison). The two paths give the same results bit for bit,
	// so it is a choice of how to run, not part of the model: checkpoints
	// do not store it.
	Generic bool `json:"-"`

	// BF16 trains with mixed precision ('clinic train --precision bf16'):
	// the linear layers' GEMMs (projections, FFN, output head, forward
	// and backward) round their inputs to bfloat16 and accumulate in
	// fp32; everything else stays fp32. Like Generic, it is how to run,
	// not part of the model: checkpoints hold fp32 weights and do not
	// store it, and inference (Translator) runs fp32.
	BF16 bool `json:"-"`
}

// DefaultConfig is a small byte-level model that trains in minutes on
// two cores.
func DefaultConfig() Config {
	return Config{
		Layers: 6, DModel: 256, Heads: 4, DFF: 1024, SeqLen: 128, Vocab: 256,
		Dropout: 0.1, AttnDropout: 0.1, ActDropout: 0.1,
		Norm: Admin, Activation: "relu", LNEps: 1e-5,
	}
}

// TinyConfig is the smallest model that still runs every path, in
// variant norm with activation act: 2 layers of width 8, 2 heads, d_ff
// 12, 5 positions, 11 tokens, no dropout. The tests of model check it by
// finite differences; those of admin widen it.
func TinyConfig(norm, act string) Config {
	return Config{Layers: 2, DModel: 8, Heads: 2, DFF: 12, SeqLen: 5, Vocab: 11,
		Norm: norm, Activation: act, LNEps: 1e-5}
}

// Validate reports the first thing wrong with c, in words a user can act on.
func (c Config) Validate() error {
	switch {
	case c.Layers < 1:
		return fmt.Errorf("layers must be at least 1, got %d", c.Layers)
	case c.EncoderLayers < 0:
		return fmt.Errorf("encoder layers must be ≥ 0, got %d", c.EncoderLayers)
	case c.DModel < 2 || c.DModel%2 != 0:
		return fmt.Errorf("d-model must be an even number ≥ 2, got %d", c.DModel)
	case c.Heads < 1 || c.DModel%c.Heads != 0:
		return fmt.Errorf("heads (%d) must divide d-model (%d)", c.Heads, c.DModel)
	case c.DFF < 1:
		return fmt.Errorf("d-ff must be at least 1, got %d", c.DFF)
	case c.SeqLen < 1:
		return fmt.Errorf("seq-len must be at least 1, got %d", c.SeqLen)
	case c.Vocab < 2:
		return fmt.Errorf("vocab must be at least 2, got %d", c.Vocab)
	case !slices.Contains(Norms, c.Norm):
		return fmt.Errorf("norm must be %s, got %q", NormList, c.Norm)
	case c.Activation != "relu" && c.Activation != "gelu":
		return fmt.Errorf("activation must be relu or gelu, got %q", c.Activation)
	case !(c.LNEps > 0):
		return fmt.Errorf("ln-eps must be positive, got %g", c.LNEps)
	case !(c.LabelSmoothing >= 0 && c.LabelSmoothing < 1):
		return fmt.Errorf("label smoothing must be in [0,1), got %g", c.LabelSmoothing)
	}
	for _, p := range []struct {
		name string
		v    float32
	}{{"dropout", c.Dropout}, {"attn-dropout", c.AttnDropout}, {"act-dropout", c.ActDropout}} {
		if !(p.v >= 0 && p.v < 1) {
			return fmt.Errorf("%s must be in [0,1), got %g", p.name, p.v)
		}
	}
	// Bounds far above any model a CPU trains, so that sizes computed
	// from a config (a crafted checkpoint's too) never overflow.
	for _, b := range []struct {
		name     string
		v, limit int
	}{{"layers", c.Layers, 1 << 12}, {"encoder layers", c.EncoderLayers, 1 << 12}, {"d-model", c.DModel, 1 << 16},
		{"d-ff", c.DFF, 1 << 18}, {"seq-len", c.SeqLen, 1 << 20}, {"vocab", c.Vocab, 1 << 24}} {
		if b.v > b.limit {
			return fmt.Errorf("%s %d is beyond the largest clinic plans for (%d)", b.name, b.v, b.limit)
		}
	}
	if int64(c.Layers+c.EncoderLayers)*int64(c.DModel)*int64(c.DFF) > 1<<40 {
		return fmt.Errorf("model too large: layers×d-model×d-ff = %d", int64(c.Layers+c.EncoderLayers)*int64(c.DModel)*int64(c.DFF))
	}
	return nil
}

// Sublayers is the number of residual sublayers of the decoder (Admin's
// n): two per layer, three with cross-attention.
func (c Config) Sublayers() int {
	if c.EncoderLayers > 0 {
		return 3 * c.Layers
	}
	return 2 * c.Layers
}

// EncoderSublayers is the number of residual sublayers of the encoder.
func (c Config) EncoderSublayers() int { return 2 * c.EncoderLayers }

// JSON returns the config as stored in checkpoint metadata.
func (c Config) JSON() string {
	b, _ := json.Marshal(c)
	return string(b)
}

// ParseConfig reads a config from JSON, rejecting unknown fields.
func ParseConfig(s string) (Config, error) {
	var c Config
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("malformed model config: %v", err)
	}
	if c.LNEps == 0 {
		c.LNEps = 1e-5
	}
	if c.Activation == "" {
		c.Activation = "relu"
	}
	return c, c.Validate()
}

// ParamCount is the number of trainable scalars.
func (c Config) ParamCount() int {
	d, f := c.DModel, c.DFF
	v := variantOf(c.Norm)
	ln := 0
	if v.form.ln {
		ln = 2 * d
	}
	// per sublayer: the variant's ω or α
	extra := 0
	if v.omega {
		extra += d
	}
	if v.alpha {
		extra++
	}
	per := 3*d*d + 3*d + d*d + d + ln + f*d + f + d*f + d + ln + 2*extra
	n := c.Vocab*d + (c.Layers+c.EncoderLayers)*per
	if c.EncoderLayers > 0 {
		cross := 4*d*d + 4*d + ln + extra // q, kv, out projections and biases; LayerNorm
		n += c.Layers * cross
	}
	if v.form.finalLN {
		n += 2 * d
		if c.EncoderLayers > 0 {
			n += 2 * d
		}
	}
	return n
}
