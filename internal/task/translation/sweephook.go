package translation

import (
	"github.com/clinic-ml/clinic/internal/experiment"
	"github.com/clinic-ml/clinic/internal/limits"
	"github.com/clinic-ml/clinic/internal/task"
	"github.com/clinic-ml/clinic/internal/train"
	"github.com/clinic-ml/clinic/model"
	"github.com/spf13/pflag"
)

// Translation's sweep hook (task.Sweeper): 'clinic analyze sweep --task
// translate', the paper's depth table at a scale a CPU server affords.

// SweepUsage is the sweep's command line and what it does.
func (Kind) SweepUsage() (string, string) {
	return "analyze sweep --task translate", "The paper's translation table, small: for each depth in --depths (layers on each side)\n" +
		"and each norm in --norms, train an encoder–decoder (like 'clinic train --task translate',\n" +
		"quietly), average its last --avg-last checkpoints, translate the test set with beam\n" +
		"search and score it with BLEU (sacreBLEU 13a). The built-in corpus's test set is Acts;\n" +
		"with --data give --test-data (a TSV in --columns), with --src/--tgt give --test-src and\n" +
		"--test-tgt (or --test-data). A run whose loss became NaN or infinite, or ended above\n" +
		"ln V (V the vocabulary size: worse than a uniform guess), diverged and is not tested.\n" +
		"Writes sweep.csv, sweep_curves.csv, sweep_curves.png/.svg, report.md, and each run under DIR/runs/<norm>-L<depth>."
}

// SweepFlags registers the task's flags, the sweep's and its defaults.
func (Kind) SweepFlags(fs *pflag.FlagSet, sf *task.SweepFlags) task.SweepSetup {
	s := &sweepSetup{tasks: task.AddFlags(fs, Kind{}.Name()), sweep: &Sweep{}}
	sf.AddDepths(fs, "comma-separated layers per side")
	fs.IntVar(&s.sweep.AvgLast, "avg-last", 5, "average the last N checkpoints (saved every --save-every steps) before testing")
	fs.IntVar(&s.sweep.Beam, "beam", 5, "beam size for the test set")
	fs.Float64Var(&s.sweep.LenPen, "lenpen", 1, "length penalty for the test set")
	// fairseq generate's own default (a = 0, b = 200) lets a model early in
	// training repeat itself to 200 tokens on every sentence, which
	// costs more than the training at this scale and says nothing more.
	fs.Float64Var(&s.sweep.MaxLenA, "max-len-a", 1.2, "test outputs have at most a·srclen + b tokens (fairseq's validation setting; 0 and 200 are its generate defaults)")
	fs.IntVar(&s.sweep.MaxLenB, "max-len-b", 10, "see --max-len-a")
	fs.StringVar(&s.sweep.TestData, "test-data", "", "test pairs, a TSV in --columns (default: the built-in corpus's test book, Acts)")
	fs.StringVar(&s.sweep.TestSrc, "test-src", "", "test source sentences, one per line (with --test-tgt; instead of --test-data)")
	fs.StringVar(&s.sweep.TestTgt, "test-tgt", "", "test reference translations, line-aligned with --test-src")
	sf.AddContinue(fs)
	for name, v := range map[string]string{"d-model": "128", "d-ff": "512", "heads": "4", "steps": "2000",
		"save-every": "100", "eval-every": "100", "bleu-every": "0", "out": "runs/analyze-sweep-translate"} {
		task.SetDefault(fs, name, v)
	}
	sf.AddOverwrite(fs)
	return s
}

// sweepSetup is the sweep's flags: the task's (tasks) and the test's (in
// the Sweep it fills).
type sweepSetup struct {
	tasks *task.Flags
	sweep *Sweep
}

func (*sweepSetup) Hidden() []task.Hidden {
	return []task.Hidden{{Name: "layers", Instead: "--depths"}, {Name: "encoder-layers", Instead: "--depths"}, {Name: "norm", Instead: "--norms"},
		{Name: "admin-profile", Instead: "--admin-init (a profile fits one depth only)"}, {Name: "keep-last", Instead: "--avg-last"}}
}

// Check checks the task's flags and the test's, and applies them.
func (s *sweepSetup) Check(fs *pflag.FlagSet, cfg *model.Config, j *train.Job) error {
	kind, err := s.tasks.Check(fs, cfg)
	if err != nil {
		return err
	}
	tf, ok := kind.(*Flags)
	if !ok {
		// --task given again, naming another task
		return limits.Usagef("--task is given twice: this is the sweep of --task %s", Kind{}.Name())
	}
	if err := s.sweep.Check(j.SaveEvery, fs.Changed("data") || tf.Src != ""); err != nil {
		return err
	}
	s.sweep.Options = tf.Options
	return nil
}

func (s *sweepSetup) Sweep(sw experiment.Sweep) (task.Sweep, error) {
	s.sweep.Sweep = sw
	return s.sweep, s.sweep.Load()
}

// Inputs are the files the sweep reads besides --data: the pairs, the
// codes and the test pairs; Keep those that may lie in its folder.
func (s *Sweep) Inputs() []string {
	return []string{s.Options.Src, s.Options.Tgt, s.Options.BPECodes, s.TestData, s.TestSrc, s.TestTgt}
}
func (s *Sweep) Keep() []string {
	return []string{s.Options.BPECodes, s.TestData, s.TestSrc, s.TestTgt}
}
