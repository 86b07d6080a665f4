package main

import (
	"os"

	"github.com/clinic-ml/clinic/internal/corpus"
	"github.com/clinic-ml/clinic/internal/data"
	"github.com/clinic-ml/clinic/internal/fileutil"
	"github.com/clinic-ml/clinic/model"
	"github.com/spf13/pflag"
)

// modelFlags are the flags that shape a model, shared by train and
// profile.
type modelFlags struct {
	fs      *pflag.FlagSet
	cfg     model.Config
	dropout float32
	attnDp  float32
	actDp   float32
}

func (m *modelFlags) register(fs *pflag.FlagSet) {
	d := model.DefaultConfig()
	m.fs = fs
	fs.IntVar(&m.cfg.Layers, "layers", d.Layers, "number of decoder layers")
	fs.IntVar(&m.cfg.DModel, "d-model", d.DModel, "model width")
	fs.IntVar(&m.cfg.Heads, "heads", d.Heads, "attention heads")
	fs.IntVar(&m.cfg.DFF, "d-ff", d.DFF, "feed-forward hidden width")
	fs.IntVar(&m.cfg.SeqLen, "seq-len", d.SeqLen, "context length in bytes")
	fs.StringVar(&m.cfg.Norm, "norm", d.Norm, "residual variant: "+model.NormList)
	fs.StringVar(&m.cfg.Activation, "activation", d.Activation, "FFN activation: relu or gelu")
	fs.Float32Var(&m.dropout, "dropout", d.Dropout, "dropout on embeddings and residual branches")
	fs.Float32Var(&m.attnDp, "attn-dropout", 0, "dropout on attention probabilities (default: --dropout)")
	fs.Float32Var(&m.actDp, "act-dropout", 0, "dropout on FFN activations (default: --dropout)")
	fs.Float32Var(&m.cfg.LabelSmoothing, "label-smoothing", 0, "label smoothing ε of the loss")
}

// config returns the validated model config.
func (m *modelFlags) config() (model.Config, error) {
	c := m.cfg
	c.Vocab = 256
	c.LNEps = 1e-5
	c.Dropout = m.dropout
	c.AttnDropout, c.ActDropout = m.dropout, m.dropout
	if m.fs.Changed("attn-dropout") {
		c.AttnDropout = m.attnDp
	}
	if m.fs.Changed("act-dropout") {
		c.ActDropout = m.actDp
	}
	if err := c.Validate(); err != nil {
		return c, usageError{err.Error()}
	}
	return c, nil
}

// loadText returns the training text: the file or folder at path, or
// the built-in corpus when path is empty.
func loadText(path string) ([]byte, string, error) {
	if path == "" {
		return corpus.SOTU(), "built-in State of the Union corpus", nil
	}
	b, err := data.Load(path)
	if err != nil {
		return nil, "", err
	}
	return b, path, nil
}

func checkPositive(name string, v int) error {
	if v < 1 {
		return usagef("--%s must be at least 1, got %d", name, v)
	}
	return nil
}

func fileExists(path string) error {
	if _, err := os.Stat(path); err != nil {
		return fileutil.PathError(path, err)
	}
	return nil
}
