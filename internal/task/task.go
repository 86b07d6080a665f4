// Package task is the registry of what clinic trains. Each task (the
// byte-level language model in task/lm, translation in
// task/translation) is a package that registers a Kind in its init:
// its flags and their defaults, the checks of its flags, its data,
// model and scores (Setup.Run, with train.Job), and, if it has them,
// its depth sweep (Sweeper, sweep.go) and its side of the amplification
// analyses (Analyzer, analysis.go). 'clinic train --task NAME' and
// 'clinic analyze <analysis> --task NAME' find it here by name; nothing
// else compares task names.
package task

import (
	"fmt"
	"slices"
	"strings"

	"github.com/clinic-ml/clinic/internal/limits"
	"github.com/clinic-ml/clinic/internal/train"
	"github.com/clinic-ml/clinic/model"
	"github.com/spf13/pflag"
)

// A Kind is a task clinic trains.
type Kind interface {
	// Name is the task's --task value; Help says what it trains, for
	// --task's help ("lm (byte-level language model)").
	Name() string
	Help() string
	// Flags registers the task's own flags on fs and returns what reads
	// them. Every task's flags are registered on 'clinic train', so
	// that one given for another task is refused by name.
	Flags(fs *pflag.FlagSet) Setup
}

// A Setup is a task's flags, read once parsed.
type Setup interface {
	// Defaults changes the shared flags' defaults (and their help) for
	// this task, before parsing, when it is the task run.
	Defaults(fs *pflag.FlagSet)
	// Check validates the task's flags (fs tells which were given) and
	// applies them to the model config.
	Check(fs *pflag.FlagSet, cfg *model.Config) error
	// Inputs are the text files the run reads besides --data; Keep are
	// its other inputs, which may lie in the run directory (--overwrite
	// keeps them).
	Inputs() []string
	Keep() []string
	// Ranks refuses a job whose global batch cannot be shared by n
	// ranks.
	Ranks(j *train.Job, n int) error
	// Run trains the job: the task's data, model and scores.
	Run(j train.Job) (*train.Result, error)
}

var kinds []Kind

// Register adds a task; its package calls it in init. Unregister
// removes it again, for a test that registers a task of its own.
func Register(k Kind) (unregister func()) {
	if slices.ContainsFunc(kinds, func(o Kind) bool { return o.Name() == k.Name() }) {
		panic("task: " + k.Name() + " registered twice")
	}
	kinds = append(kinds, k)
	return func() { kinds = slices.DeleteFunc(kinds, func(o Kind) bool { return o.Name() == k.Name() }) }
}

// Names are the registered tasks' names, in registration order.
func Names() []string {
	var ns []string
	for _, k := range kinds {
		ns = append(ns, k.Name())
	}
	return ns
}

// Default is the task run without --task: the first registered.
func Default() string { return kinds[0].Name() }

// Lookup finds the task named name; an unknown one is a usage error.
func Lookup(name string) (Kind, error) {
	for _, k := range kinds {
		if k.Name() == name {
			return k, nil
		}
	}
	return nil, limits.Usagef("--task must be %s, got %q", orList(Names()), name)
}

// orList is "a, b or c".
func orList(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// Of finds --task in args before the flags are registered, so that
// each task's defaults (and --help) are its own.
func Of(args []string) string {
	if v, ok := argValue(args, "task"); ok {
		return v
	}
	return Default()
}

// ArgValue finds --name's value in args before the flags are parsed
// ("" if it is not there).
func ArgValue(args []string, name string) string {
	v, _ := argValue(args, name)
	return v
}

func argValue(args []string, name string) (string, bool) {
	for i, a := range args {
		if a == "--" {
			break
		}
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
		if a == "--"+name && i+1 < len(args) {
			return args[i+1], true
		}
	}
	return "", false
}

// Flags are --task and every task's flags on one flag set.
type Flags struct {
	name   string
	setups map[string]Setup
	owner  map[string]string // flag → the task it belongs to
}

// AddFlags registers --task and every task's flags on fs, with the
// defaults of the task named chosen (if it is one).
func AddFlags(fs *pflag.FlagSet, chosen string) *Flags {
	f := &Flags{setups: map[string]Setup{}, owner: map[string]string{}}
	var help []string
	for _, k := range kinds {
		help = append(help, k.Help())
	}
	fs.StringVar(&f.name, "task", Default(), orList(help))
	for _, k := range kinds {
		before := map[string]bool{}
		fs.VisitAll(func(fl *pflag.Flag) { before[fl.Name] = true })
		f.setups[k.Name()] = k.Flags(fs)
		fs.VisitAll(func(fl *pflag.Flag) {
			if !before[fl.Name] {
				f.owner[fl.Name] = k.Name()
			}
		})
	}
	if s, ok := f.setups[chosen]; ok {
		s.Defaults(fs)
	}
	return f
}

// Name is the task --task chose.
func (f *Flags) Name() string { return f.name }

// Check finds the task, refuses the flags of other tasks and checks its
// own, applying them to cfg.
func (f *Flags) Check(fs *pflag.FlagSet, cfg *model.Config) (Setup, error) {
	if _, err := Lookup(f.name); err != nil {
		return nil, err
	}
	var err error
	fs.VisitAll(func(fl *pflag.Flag) {
		if o, ok := f.owner[fl.Name]; ok && o != f.name && fl.Changed && err == nil {
			err = limits.Usagef("--%s needs --task %s", fl.Name, o)
		}
	})
	if err != nil {
		return nil, err
	}
	s := f.setups[f.name]
	return s, s.Check(fs, cfg)
}

// SetDefault changes a registered flag's default value (and its help);
// a flag fs does not have is left alone (a task's defaults for training
// flags, on an analysis that has none).
func SetDefault(fs *pflag.FlagSet, name, value string) {
	f := fs.Lookup(name)
	if f == nil {
		return
	}
	if err := f.Value.Set(value); err != nil {
		panic(fmt.Sprintf("default of --%s: %v", name, err))
	}
	f.DefValue = value
}
