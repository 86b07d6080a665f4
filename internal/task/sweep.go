package task

import (
	"github.com/clinic-ml/clinic/internal/experiment"
	"github.com/clinic-ml/clinic/internal/limits"
	"github.com/clinic-ml/clinic/internal/train"
	"github.com/clinic-ml/clinic/model"
	"github.com/spf13/pflag"
)

// A Sweeper is a task with a depth sweep, 'clinic analyze sweep --task
// NAME': a Kind implements it or has no sweep (the command then refuses
// it). The hook lives in the task's package with the rest of the task:
// the sweep's runs are the task's own (lm.Sweep, translation.Sweep),
// built on experiment.Sweep, the loop over depth × norm, continuing and
// the report every sweep shares. The tasks import internal/experiment
// and it imports no task, so there is no cycle, and the CLI holds no
// task's sweep: it registers the model's and the training's flags, asks
// the hook for the rest, checks the folder and prints the summary.
type Sweeper interface {
	// SweepUsage is the sweep's command line and what it does, for
	// --help.
	SweepUsage() (command, synopsis string)
	// SweepFlags registers the sweep's flags on fs, after the model's
	// and the training's: its own, --task (AddFlags registers it with
	// every task's flags, refusing another task's by name), and those
	// every sweep has (sf), where its help puts them; it may change the
	// defaults of the others. It returns what reads them once parsed.
	SweepFlags(fs *pflag.FlagSet, sf *SweepFlags) SweepSetup
}

// A SweepSetup is a task's sweep, its flags read once parsed.
type SweepSetup interface {
	// Hidden are the model and training flags the sweep replaces: they
	// are hidden from its help and refused.
	Hidden() []Hidden
	// Check validates the sweep's flags (fs tells which were given)
	// and applies them to cfg; j holds the training flags as parsed.
	// A task whose Check sets encoder layers sweeps them with the
	// decoder's.
	Check(fs *pflag.FlagSet, cfg *model.Config, j *train.Job) error
	// Sweep is the task's sweep of s's runs, its inputs read (before
	// the sweep's folder is touched: a bad input leaves it as it was).
	Sweep(s experiment.Sweep) (Sweep, error)
}

// A Sweep is a task's depth sweep, ready to run.
type Sweep interface {
	// Inputs are the files the sweep reads besides Job.Data; Keep those
	// that may lie in its folder (--overwrite keeps them).
	Inputs() []string
	Keep() []string
	// Run trains (and tests) every run and writes the report.
	Run() (*experiment.Summary, error)
}

// Hidden is a flag a sweep replaces, and what to use instead.
type Hidden struct{ Name, Instead string }

// SweepFlags are the flags every sweep has, read by the command.
type SweepFlags struct {
	Depths, Norms       string
	Continue, Overwrite bool
}

// AddDepths registers --depths (depthsHelp says what a depth counts)
// and --norms.
func (sf *SweepFlags) AddDepths(fs *pflag.FlagSet, depthsHelp string) {
	fs.StringVar(&sf.Depths, "depths", "6,18", depthsHelp)
	fs.StringVar(&sf.Norms, "norms", "postln,preln,admin", "comma-separated variants: "+model.NormList)
}

// AddContinue registers --continue.
func (sf *SweepFlags) AddContinue(fs *pflag.FlagSet) {
	fs.BoolVar(&sf.Continue, "continue", false, "continue the sweep in --out, run with the same flags: keep its finished runs, resume the unfinished ones from their last checkpoint")
}

// AddOverwrite registers --overwrite.
func (sf *SweepFlags) AddOverwrite(fs *pflag.FlagSet) {
	fs.BoolVar(&sf.Overwrite, "overwrite", false, "replace an earlier sweep in --out (report.md, runs/)")
}

// LookupSweep finds the sweep of the task named name: an unknown task,
// or one without a sweep, is a usage error.
func LookupSweep(name string) (Sweeper, error) {
	k, err := Lookup(name)
	if err != nil {
		return nil, err
	}
	s, ok := k.(Sweeper)
	if !ok {
		return nil, limits.Usagef("--task %s has no depth sweep", k.Name())
	}
	return s, nil
}
