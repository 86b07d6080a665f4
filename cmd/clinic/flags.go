package main

import (
	"github.com/clinic-ml/clinic/asm"
	"github.com/clinic-ml/clinic/internal/train"
	"github.com/clinic-ml/clinic/model"
	"github.com/spf13/pflag"
)

// modelFlags are the flags that shape a model, shared by train and
// profile.
type modelFlags struct {
	fs                     *pflag.FlagSet
	cfg                    model.Config
	dropout, attnDp, actDp float32
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
		return c, usageError{Msg: err.Error()}
	}
	return c, nil
}

// trainOpts are the flags of a training run: the train.Job they fill.
type trainOpts struct {
	train.Job
	sh shared
}

func (o *trainOpts) register(fs *pflag.FlagSet) {
	o.Flags(fs, func(names ...string) { o.sh.take(fs, names...) })
}

func (o *trainOpts) check() error {
	o.Threads, o.Pin, o.Data, o.Precision = o.sh.threads, o.sh.pin, o.sh.data, o.sh.precision
	return o.Check()
}

// shared are the flags several commands share, each declared once,
// here: a command takes the ones it has (take), in the place of its
// help where they go, and reads their values from shared.
type shared struct {
	threads         int
	pin             bool
	data, precision string
}

// take adds the named shared flags to fs.
func (s *shared) take(fs *pflag.FlagSet, names ...string) {
	all := pflag.NewFlagSet("shared", pflag.ContinueOnError)
	all.IntVar(&s.threads, "threads", 0, "worker threads (0: one per CPU), at most the CPUs the process may use (more run as that many; results do not depend on it)")
	all.BoolVar(&s.pin, "pin-threads", false, "bind each worker thread to a CPU of its own (Linux; for multi-socket servers: each worker's rows then live on its node)")
	all.StringVar(&s.data, "data", "", "UTF-8 text file or folder of .txt files (default: built-in corpus)")
	all.StringVar(&s.precision, "precision", train.Auto, "GEMM precision of training: fp32, bf16 (inputs of the linear layers' GEMMs rounded to bfloat16, fp32 accumulation, fp32 weights and optimizer) or auto (bf16 where this CPU's probe says it pays: 'clinic version')")
	for _, n := range names {
		fs.AddFlag(all.Lookup(n))
	}
}

// pool starts the command's workers: --threads of them, pinned with
// --pin-threads.
func (s *shared) pool() (*asm.Pool, error) {
	return asm.NewPoolOnCPUs(s.threads, s.pin)
}
