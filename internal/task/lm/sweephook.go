package lm

import (
	"math"

	"github.com/clinic-ml/clinic/internal/experiment"
	"github.com/clinic-ml/clinic/internal/limits"
	"github.com/clinic-ml/clinic/internal/task"
	"github.com/clinic-ml/clinic/internal/train"
	"github.com/clinic-ml/clinic/model"
	"github.com/spf13/pflag"
)

// The language model's sweep hook (task.Sweeper): 'clinic analyze
// sweep', the default task's.

// SweepUsage is the sweep's command line and what it does.
func (Kind) SweepUsage() (string, string) {
	return "analyze sweep", "The depth experiment: for each depth in --depths and each norm in --norms, train\n--steps steps on the text (like 'clinic train', quietly), record the loss curve and\nthe final validation loss, and call the run trained, stalled (final validation loss\nnot more than --stall-margin nats below the unigram entropy of the training text)\nor diverged (the loss became NaN or infinite, or ended above ln 256, worse than a\nuniform guess). Writes sweep.csv (one row per run),\nsweep_curves.csv, sweep_curves.png/.svg, report.md and each run's metrics and\ncheckpoint under DIR/runs/<norm>-L<depth>."
}

// SweepFlags registers the sweep's flags and its defaults.
func (Kind) SweepFlags(fs *pflag.FlagSet, sf *task.SweepFlags) task.SweepSetup {
	s := &sweepSetup{}
	sf.AddDepths(fs, "comma-separated numbers of layers")
	fs.Float64Var(&s.margin, "stall-margin", 0.1, "a run whose final validation loss is not this many nats below the unigram entropy stalled")
	for name, v := range map[string]string{"d-model": "128", "d-ff": "512", "heads": "4", "seq-len": "128",
		"steps": "400", "warmup": "50", "batch-size": "16", "lr": "1e-3", "eval-every": "20", "eval-batches": "4",
		"save-every": "0", "out": "runs/analyze-sweep"} {
		task.SetDefault(fs, name, v)
	}
	sf.AddOverwrite(fs)
	sf.AddContinue(fs)
	fs.StringVar(&s.task, "task", Kind{}.Name(), "lm (byte-level language models, these flags) or translate (encoder–decoders and the BLEU table: 'clinic analyze sweep --task translate --help')")
	return s
}

type sweepSetup struct {
	margin float64
	task   string
}

func (*sweepSetup) Hidden() []task.Hidden {
	return []task.Hidden{{Name: "layers", Instead: "--depths"}, {Name: "norm", Instead: "--norms"},
		{Name: "admin-profile", Instead: "--admin-init (a profile fits one depth only)"}}
}

func (s *sweepSetup) Check(*pflag.FlagSet, *model.Config, *train.Job) error {
	if _, err := task.Lookup(s.task); err != nil {
		return err
	}
	if !(s.margin >= 0) || math.IsInf(s.margin, 0) {
		return limits.Usagef("--stall-margin must be ≥ 0, got %g", s.margin)
	}
	return nil
}

func (s *sweepSetup) Sweep(sw experiment.Sweep) (task.Sweep, error) {
	ls := &Sweep{Sweep: sw, Margin: s.margin}
	return ls, ls.Load()
}

// Inputs are none besides the text; Keep is the text, which may lie in
// the sweep's folder.
func (s *Sweep) Inputs() []string { return nil }
func (s *Sweep) Keep() []string   { return []string{s.Job.Data} }
