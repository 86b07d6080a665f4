package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/clinic-ml/clinic/asm"
	"github.com/clinic-ml/clinic/internal/experiment"
	"github.com/clinic-ml/clinic/internal/limits"
	"github.com/clinic-ml/clinic/internal/task"
	"github.com/clinic-ml/clinic/model"
	"github.com/spf13/pflag"
)

// parseNorms reads a comma-separated list of variants.
func parseNorms(flag, s string) ([]string, error) {
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			return nil, usagef("--%s: empty entry in %q (want a comma-separated list of %s)", flag, s, strings.Join(model.Norms, ", "))
		}
		if !slices.Contains(model.Norms, f) {
			return nil, usagef("--%s: unknown norm %q (want %s)", flag, f, model.NormList)
		}
		if slices.Contains(out, f) {
			return nil, usagef("--%s lists %s twice", flag, f)
		}
		out = append(out, f)
	}
	return out, nil
}

// parseDepths reads a comma-separated list of layer counts, sorted.
func parseDepths(flag, s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			return nil, usagef("--%s: empty entry in %q (want a comma-separated list of layer counts)", flag, s)
		}
		v, err := strconv.Atoi(f)
		if err != nil {
			return nil, usagef("--%s: %q is not a whole number", flag, f)
		}
		if v < 1 {
			return nil, usagef("--%s: depth must be at least 1, got %d", flag, v)
		}
		if slices.Contains(out, v) {
			return nil, usagef("--%s lists %d twice", flag, v)
		}
		out = append(out, v)
	}
	slices.Sort(out)
	return out, nil
}

// checkDepths validates base at every depth and norm before any work
// starts.
func checkDepths(base model.Config, depths []int, norms []string) error {
	for _, d := range depths {
		for _, n := range norms {
			c := base
			c.Layers, c.Norm = d, n
			if err := c.Validate(); err != nil {
				return usagef("%d layers: %v", d, err)
			}
		}
	}
	return nil
}

// setDefault changes a registered flag's default value (and its help).
var setDefault = task.SetDefault

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
}

func (a *analyzeFlags) register(fs *pflag.FlagSet, name string) {
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
	return checkReportDir(a.out, a.overwrite, append(inputs, a.sh.data)...)
}

// printTable writes an aligned text table.
func printTable(w io.Writer, header []string, rows [][]string) {
	width := make([]int, len(header))
	for i, h := range header {
		width[i] = len([]rune(h))
	}
	for _, r := range rows {
		for i, c := range r {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	line := func(cells []string) {
		var b strings.Builder
		for i, c := range cells {
			if i > 0 {
				b.WriteString("  ")
			}
			b.WriteString(c)
			if i < len(cells)-1 {
				b.WriteString(strings.Repeat(" ", width[i]-len([]rune(c))))
			}
		}
		fmt.Fprintln(w, b.String())
	}
	line(header)
	for _, r := range rows {
		line(r)
	}
}

// commandLine is the command that produced a report.
func commandLine(name string, args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, " \t'\"$") {
			a = strconv.Quote(a)
		}
		q[i] = a
	}
	return strings.TrimSpace("clinic analyze " + name + " " + strings.Join(q, " "))
}

// modelSource is what analyze grads and dependency run on: a fresh model
// of each norm in --norms, or one trained checkpoint.
type modelSource struct {
	trained *model.Params // nil at initialization
	base    model.Config
	norms   []string
	batches *experiment.Batches
	pool    *asm.Pool // runs the models; closed by the caller
}

// parseModelSource parses args for a command with --norms, --seeds and
// --checkpoint, checks them, and applies --threads.
func parseModelSource(fs *pflag.FlagSet, args []string, mf *modelFlags, af *analyzeFlags, normsS *string, seeds *int, ckpt *string) (*modelSource, error) {
	hidden := []hiddenFlag{{"norm", "--norms"}}
	hideFlags(fs, hidden...)
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	if err := checkHidden(fs, hidden...); err != nil {
		return nil, err
	}
	if err := limits.CheckSize("seeds", *seeds, 1, limits.MaxRepeats); err != nil {
		return nil, err
	}
	if err := af.check(*ckpt); err != nil {
		return nil, err
	}
	src := &modelSource{}
	if *ckpt != "" {
		if err := checkpointConflict(fs); err != nil {
			return nil, err
		}
		p, err := experiment.LoadForAnalysis(*ckpt)
		if err != nil {
			return nil, err
		}
		src.trained, src.base, src.norms = p, p.Cfg, []string{p.Cfg.Norm}
	} else {
		var err error
		if src.norms, err = parseNorms("norms", *normsS); err != nil {
			return nil, err
		}
		mf.cfg.Norm = src.norms[0]
		if src.base, err = mf.config(); err != nil {
			return nil, err
		}
	}
	if err := limits.CheckModelFits("this analysis", src.base, nil, af.batch); err != nil {
		return nil, err
	}
	var err error
	if src.batches, err = experiment.NewBatches(af.sh.data, af.valFrac, af.batch); err != nil {
		return nil, err
	}
	src.pool, err = af.sh.pool()
	if err != nil {
		return nil, err
	}
	return src, nil
}

// analysis is the experiment's part of an analysis run from the command
// line (name: its name in the command line of its report).
func (a *analyzeFlags) analysis(base model.Config, norms []string, seeds int, bs *experiment.Batches, pool *asm.Pool, name string, args []string, stderr io.Writer) experiment.Analysis {
	return experiment.Analysis{Base: base, Norms: norms, Seed: a.seed, Seeds: seeds, Batch: a.batch, Batches: bs, Pool: pool,
		Out: a.out, Command: commandLine(name, args), Log: stderr}
}

// printSummary prints an experiment's table and last line.
func printSummary(stdout io.Writer) func(*experiment.Summary, error) error {
	return func(s *experiment.Summary, err error) error {
		if err != nil {
			return err
		}
		printTable(stdout, s.Header, s.Rows)
		fmt.Fprintln(stdout, s.Note)
		return nil
	}
}

// shapeFlags are the modelFlags a checkpoint overrides.
var shapeFlags = []string{"layers", "d-model", "heads", "d-ff", "seq-len", "norm", "activation",
	"dropout", "attn-dropout", "act-dropout", "label-smoothing"}

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
