package main

import (
	"io"

	"github.com/clinic-ml/clinic/asm"
	"github.com/clinic-ml/clinic/internal/experiment"
	"github.com/clinic-ml/clinic/internal/limits"
	"github.com/clinic-ml/clinic/internal/rundir"
	"github.com/clinic-ml/clinic/internal/task"
	"github.com/clinic-ml/clinic/model"
	"github.com/spf13/pflag"
)

// hideFlags hides model flags that an analysis replaces (--layers by
// --depths, --norm by --norms) and rejects them if given.
type hiddenFlag struct{ name, instead string }

func hideFlags(fs *pflag.FlagSet, hs ...hiddenFlag) {
	for _, h := range hs {
		fs.MarkHidden(h.name)
	}
}

func checkHidden(fs *pflag.FlagSet, hs ...hiddenFlag) error {
	for _, h := range hs {
		if fs.Changed(h.name) {
			return usagef("--%s does not apply here; use %s", h.name, h.instead)
		}
	}
	return nil
}

// analyzeFlags are the flags every analysis but sweep shares.
type analyzeFlags struct {
	out       string
	overwrite bool
	seed      uint64
	sh        shared
	batch     int
	valFrac   float64
	tasks     *task.Flags
}

// register adds the flags, with --task and every task's flags (args
// picks the task whose defaults apply).
func (a *analyzeFlags) register(fs *pflag.FlagSet, name string, args []string) {
	task.SetDefault(fs, "seq-len", "64")
	// The analyses run with dropout off; the dropout flags only shape
	// Admin's profiling, which runs in training mode as in 'clinic train'.
	for _, n := range []string{"dropout", "attn-dropout", "act-dropout"} {
		if f := fs.Lookup(n); f != nil {
			f.Usage += " — only during Admin's profiling: the analysis runs with dropout off"
		}
	}
	fs.StringVar(&a.out, "out", "runs/analyze-"+name, "output folder for the CSV, figures and report.md")
	fs.BoolVar(&a.overwrite, "overwrite", false, overwriteUsage)
	fs.Uint64Var(&a.seed, "seed", 1, "random seed (weights, batch, perturbation); seed i of --seeds uses seed+i")
	a.sh.take(fs, "threads")
	fs.IntVar(&a.batch, "batch-size", 8, "sequences in the batch")
	a.sh.take(fs, "data")
	fs.Float64Var(&a.valFrac, "val-frac", 0.01, "fraction of the text held out (batches come from the rest)")
	a.tasks = task.AddFlags(fs, task.Of(args))
}

// overwriteUsage is the help of an analysis's --overwrite.
const overwriteUsage = "write into an --out that holds earlier results (a report, a sweep, a training run), replacing its report"

// check validates the flags and the output folder; inputs are the
// analysis's input files besides --data.
func (a *analyzeFlags) check(inputs ...string) error {
	switch {
	case a.out == "":
		return usagef("--out must name a directory")
	case limits.CheckThreads(a.sh.threads) != nil:
		return limits.CheckThreads(a.sh.threads)
	case !(a.valFrac > 0 && a.valFrac < 1):
		return usagef("--val-frac must be in (0,1), got %g", a.valFrac)
	}
	if err := limits.CheckSize("batch-size", a.batch, 1, limits.MaxBatch); err != nil {
		return err
	}
	return rundir.CheckReportDir(a.out, a.overwrite, append(inputs, a.sh.data)...)
}

// parseModelSource parses args for a command with --norms, --seeds and
// --checkpoint (name: its name) and checks them: the analysis runs on a
// fresh model of each norm in --norms, or on the trained checkpoint. Its
// pool is the caller's to close.
func parseModelSource(name string, fs *pflag.FlagSet, args []string, mf *modelFlags, af *analyzeFlags, normsS *string, seeds *int, ckpt *string, stderr io.Writer) (a experiment.Analysis, trained *model.Params, err error) {
	hidden := []hiddenFlag{{"norm", "--norms"}}
	hideFlags(fs, hidden...)
	if err := parse(fs, args); err != nil {
		return a, nil, err
	}
	if err := checkHidden(fs, hidden...); err != nil {
		return a, nil, err
	}
	if err := limits.CheckSize("seeds", *seeds, 1, limits.MaxRepeats); err != nil {
		return a, nil, err
	}
	if err := af.check(*ckpt); err != nil {
		return a, nil, err
	}
	var base model.Config
	var norms []string
	var meta map[string]string
	if *ckpt != "" {
		if err := checkpointConflict(fs); err != nil {
			return a, nil, err
		}
		if trained, meta, err = experiment.LoadForAnalysis(*ckpt); err != nil {
			return a, nil, err
		}
		base, norms = trained.Cfg, []string{trained.Cfg.Norm}
	} else {
		if norms, err = experiment.ParseNorms("norms", *normsS); err != nil {
			return a, nil, err
		}
		mf.cfg.Norm = norms[0]
		if base, err = mf.config(); err != nil {
			return a, nil, err
		}
	}
	data, err := af.data(fs, &base, meta, *ckpt, stderr)
	if err != nil {
		return a, nil, err
	}
	if err := data.Fits(base); err != nil {
		return a, nil, err
	}
	pool, err := af.sh.pool()
	if err != nil {
		return a, nil, err
	}
	return af.analysis(base, norms, *seeds, data, pool, name, args, stderr), trained, nil
}

// analyzer checks the task's flags, applying them to cfg, and returns
// the task's side of the analyses.
func (a *analyzeFlags) analyzer(fs *pflag.FlagSet, cfg *model.Config) (task.Analyzer, error) {
	setup, err := a.tasks.Check(fs, cfg)
	if err != nil {
		return nil, err
	}
	return task.AnalyzerOf(setup, a.tasks.Name())
}

// data reads the task's data for the analysis's batches, completing cfg
// (meta: the metadata of the trained checkpoint ckpt, or nil).
func (a *analyzeFlags) data(fs *pflag.FlagSet, cfg *model.Config, meta map[string]string, ckpt string, stderr io.Writer) (experiment.Data, error) {
	keep := *cfg
	an, err := a.analyzer(fs, cfg)
	if err != nil {
		return nil, err
	}
	if meta != nil {
		*cfg = keep // a checkpoint's model is its own: the flags were only checked
	} else if err := cfg.Validate(); err != nil {
		// the task's shape flags (--encoder-layers, --max-len), before
		// any data is read
		return nil, limits.UsageError{Msg: err.Error()}
	}
	return an.AnalysisData(task.AnalysisInput{Flags: fs, Model: cfg, Meta: meta, Checkpoint: ckpt, Data: a.sh.data, ValFrac: a.valFrac, Batch: a.batch, Log: stderr})
}

// analysis is the experiment's part of an analysis run from the command
// line (name: its name in the command line of its report).
func (a *analyzeFlags) analysis(base model.Config, norms []string, seeds int, data experiment.Data, pool *asm.Pool, name string, args []string, stderr io.Writer) experiment.Analysis {
	return experiment.Analysis{Base: base, Norms: norms, Seed: a.seed, Seeds: seeds, Data: data, Pool: pool,
		Out: a.out, Command: experiment.CommandLine(name, args), Log: stderr}
}

// shapeFlags are the modelFlags a checkpoint overrides.
var shapeFlags = []string{"layers", "d-model", "heads", "d-ff", "seq-len", "norm", "activation",
	"dropout", "attn-dropout", "act-dropout", "label-smoothing", "encoder-layers", "max-len"}

// checkpointConflict rejects model flags given together with --checkpoint
// (which takes the model from the file), --norms included.
func checkpointConflict(fs *pflag.FlagSet) error {
	for _, n := range append(shapeFlags, "norms") {
		if fs.Changed(n) {
			return usagef("--%s does not apply with --checkpoint, which takes the model from the file", n)
		}
	}
	return nil
}

// printSummary prints an experiment's summary, or returns its error.
func printSummary(stdout io.Writer) func(*experiment.Summary, error) error {
	return func(s *experiment.Summary, err error) error {
		if err == nil {
			s.Print(stdout)
		}
		return err
	}
}
