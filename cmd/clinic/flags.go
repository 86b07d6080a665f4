package main

import (
	"math"

	"github.com/clinic-ml/clinic/asm"
	"github.com/clinic-ml/clinic/internal/limits"
	"github.com/clinic-ml/clinic/internal/train"
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
	fs.StringVar(&m.cfg.Norm, "norm", d.Norm, "residual variant: postln, preln, admin, deepnorm, rezero or tfixup")
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

func checkPositive(name string, v int) error {
	if v < 1 {
		return usagef("--%s must be at least 1, got %d", name, v)
	}
	return nil
}

// trainOpts are the flags of a training run: the train.Job they fill.
type trainOpts struct {
	train.Job
	sh shared
}

func (o *trainOpts) register(fs *pflag.FlagSet) {
	fs.IntVar(&o.Steps, "steps", 1000, "optimizer steps")
	fs.IntVar(&o.Batch, "batch-size", 16, "sequences per step")
	fs.Float64Var(&o.Optim.LR, "lr", 1e-3, "peak learning rate")
	fs.IntVar(&o.Optim.Warmup, "warmup", 200, "linear warm-up steps")
	fs.StringVar(&o.Optim.Schedule, "schedule", "invsqrt", "learning-rate schedule after warm-up: invsqrt or constant")
	fs.StringVar(&o.Optim.Name, "optimizer", "adam", "adam or radam")
	fs.Float64Var(&o.Optim.Beta1, "beta1", 0.9, "Adam β1")
	fs.Float64Var(&o.Optim.Beta2, "beta2", 0.98, "Adam β2")
	fs.Float64Var(&o.Optim.Eps, "adam-eps", 1e-8, "Adam ε")
	fs.Float64Var(&o.Optim.WeightDecay, "weight-decay", 0, "decoupled weight decay (AdamW)")
	fs.Float64Var(&o.Optim.Clip, "clip", 1.0, "clip the gradient norm to this (0: off)")
	fs.IntVar(&o.EvalEvery, "eval-every", 100, "validate every N steps")
	fs.IntVar(&o.EvalBatches, "eval-batches", 8, "validation batches per evaluation")
	fs.IntVar(&o.SaveEvery, "save-every", 500, "checkpoint every N steps (0: only at the end)")
	fs.IntVar(&o.KeepLast, "keep-last", 0, "also keep the last N checkpoints as DIR/checkpoint<step>.safetensors, for 'clinic average'")
	fs.Float64Var(&o.ValFrac, "val-frac", 0.01, "fraction of the text, at its end, held out for validation")
	fs.Uint64Var(&o.Seed, "seed", 1, "random seed (weights, batches, dropout)")
	o.sh.take(fs, "threads", "pin-threads")
	fs.BoolVar(&o.Specialized, "specialized", true, "run the layer code generated for the model's shape when it has some ('clinic version' lists them); false: the generic path, for comparison (the results are the same)")
	o.sh.take(fs, "data")
	fs.StringVar(&o.Dir, "out", "runs/latest", "run directory for metrics.jsonl and checkpoints")
	fs.StringVar(&o.AdminProfile, "admin-profile", "", "Admin: load ω from this profile instead of profiling")
	fs.StringVar(&o.AdminInit, "admin-init", "profile", "Admin: profile (one batch) or free (admin-torch's profiling-free ω)")
}

func (o *trainOpts) check() error {
	o.Threads, o.Pin, o.Data = o.sh.threads, o.sh.pin, o.sh.data
	return o.Check()
}

// checkDecodeFlags checks the beam-search flags translate and the
// translation sweep share.
func checkDecodeFlags(beam int, lenpen, maxLenA float64, maxLenB int) error {
	if err := limits.CheckSize("beam", beam, 1, limits.MaxBeam); err != nil {
		return err
	}
	switch {
	case math.IsNaN(lenpen) || math.IsInf(lenpen, 0):
		return usagef("--lenpen must be finite, got %g", lenpen)
	case !(maxLenA >= 0 && maxLenA <= limits.MaxOutLen):
		return usagef("--max-len-a must be in [0, %d], got %g", limits.MaxOutLen, maxLenA)
	}
	return limits.CheckSize("max-len-b", maxLenB, 0, limits.MaxOutLen)
}

// shared are the flags several commands share, each declared once,
// here: a command takes the ones it has (take), in the place of its
// help where they go, and reads their values from shared.
type shared struct {
	threads int
	pin     bool
	data    string
}

// take adds the named shared flags to fs.
func (s *shared) take(fs *pflag.FlagSet, names ...string) {
	all := pflag.NewFlagSet("shared", pflag.ContinueOnError)
	all.IntVar(&s.threads, "threads", 0, "worker threads (0: one per CPU)")
	all.BoolVar(&s.pin, "pin-threads", false, "bind each worker thread to a CPU of its own (Linux; for multi-socket servers: each worker's rows then live on its node)")
	all.StringVar(&s.data, "data", "", "UTF-8 text file or folder of .txt files (default: built-in corpus)")
	for _, n := range names {
		fs.AddFlag(all.Lookup(n))
	}
}

// pool starts the command's workers: --threads of them, pinned with
// --pin-threads.
func (s *shared) pool() (*asm.Pool, error) {
	p := asm.NewPool(s.threads)
	if s.pin {
		if err := p.Pin(); err != nil {
			p.Close()
			return nil, err
		}
	}
	return p, nil
}
