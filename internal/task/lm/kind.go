package lm

import (
	"fmt"

	"github.com/clinic-ml/clinic/internal/experiment"
	"github.com/clinic-ml/clinic/internal/limits"
	"github.com/clinic-ml/clinic/internal/task"
	"github.com/clinic-ml/clinic/internal/train"
	"github.com/clinic-ml/clinic/model"
	"github.com/spf13/pflag"
)

func init() { task.Register(Kind{}) }

// Kind is the byte-level language model, 'clinic train --task lm' (the
// default).
type Kind struct{}

// Name is the task's --task value.
func (Kind) Name() string { return train.LMTask }

// Help says what the task trains.
func (Kind) Help() string { return "lm (byte-level language model)" }

// Flags registers nothing: the shared flags are the language model's.
func (Kind) Flags(fs *pflag.FlagSet) task.Setup { return setup{} }

type setup struct{}

func (setup) Check(*pflag.FlagSet, *model.Config) error { return nil }
func (setup) Inputs() []string                          { return nil }
func (setup) Keep() []string                            { return nil }
func (setup) Run(j train.Job) (*train.Result, error)    { return Run(j) }

// Defaults keeps the shared flags' defaults, the language model's; the
// help of --seq-len says what it is for either task, as 'clinic train
// --help' shows both tasks' flags.
func (setup) Defaults(fs *pflag.FlagSet) {
	if f := fs.Lookup("seq-len"); f != nil {
		f.Usage = "context length in bytes (--task translate: the longest sentence in subword tokens, either side)"
	}
}

// Ranks refuses a batch the ranks cannot share equally: each rank runs
// the same number of sequences.
func (setup) Ranks(j *train.Job, n int) error {
	if j.Batch%n != 0 {
		return limits.Usagef("--batch-size %d (the global batch) must be a multiple of the %d MPI ranks", j.Batch, n)
	}
	return nil
}

// AnalysisData gives the amplification analyses batches of in.Batch
// sequences of the text in.Data (the built-in corpus when empty).
func (setup) AnalysisData(in task.AnalysisInput) (experiment.Data, error) {
	if in.Meta != nil && in.Model.EncoderLayers > 0 {
		return nil, fmt.Errorf("%s is an encoder–decoder translator: analyze it with --task translate", in.Checkpoint)
	}
	text, source, err := LoadText(in.Data)
	if err != nil {
		return nil, err
	}
	return experiment.NewLMData(text, source, in.ValFrac, in.Batch), nil
}
