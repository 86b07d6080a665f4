package main

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/clinic-ml/clinic/internal/experiment"
	"github.com/clinic-ml/clinic/internal/limits"
	"github.com/clinic-ml/clinic/internal/task"
	"github.com/clinic-ml/clinic/internal/train"
	"github.com/clinic-ml/clinic/model"
	"github.com/spf13/pflag"
)

// plainTask is a task without a depth sweep; it is never trained here.
type plainTask struct{ name string }

func (k plainTask) Name() string                  { return k.name }
func (k plainTask) Help() string                  { return k.name + " (a test task)" }
func (plainTask) Flags(*pflag.FlagSet) task.Setup { return nil }

// probeTask is a task whose sweep hook records what 'analyze sweep'
// gives it instead of training.
type probeTask struct {
	plainTask
	got *probeSweep
}

func (probeTask) SweepUsage() (string, string) {
	return "analyze sweep --task probe", "The probe's sweep."
}

func (k probeTask) SweepFlags(fs *pflag.FlagSet, sf *task.SweepFlags) task.SweepSetup {
	sf.AddDepths(fs, "comma-separated probe depths")
	fs.IntVar(&k.got.knob, "knob", 1, "a flag of the probe's sweep alone")
	sf.AddContinue(fs)
	sf.AddOverwrite(fs)
	fs.String("task", "probe", "the task")
	return k.got
}

type probeSweep struct {
	knob  int
	sweep experiment.Sweep
	ran   bool
}

func (*probeSweep) Hidden() []task.Hidden {
	return []task.Hidden{{Name: "layers", Instead: "--depths"}}
}

func (p *probeSweep) Check(_ *pflag.FlagSet, _ *model.Config, _ *train.Job) error {
	if p.knob < 0 {
		return limits.Usagef("--knob must be ≥ 0, got %d", p.knob)
	}
	return nil
}

func (p *probeSweep) Sweep(s experiment.Sweep) (task.Sweep, error) {
	p.sweep = s
	return p, nil
}

func (*probeSweep) Inputs() []string { return nil }
func (*probeSweep) Keep() []string   { return nil }

func (p *probeSweep) Run() (*experiment.Summary, error) {
	p.ran = true
	return &experiment.Summary{Header: []string{"depths", "knob"}, Rows: [][]string{{strconv.Itoa(len(p.sweep.Depths)), strconv.Itoa(p.knob)}}, Note: "probe swept"}, nil
}

// 'analyze sweep --task NAME' runs the sweep the task registered with
// itself, with the flags its hook registered; a task without a hook is
// refused in one line, exit 2.
func TestSweepHookDispatch(t *testing.T) {
	probe := probeTask{plainTask{"probe"}, &probeSweep{}}
	defer task.Register(probe)()
	defer task.Register(plainTask{"plain"})()

	code, out, _ := runCLI(t, "analyze", "sweep", "--task", "probe", "--help")
	if code != 0 || !strings.Contains(out, "Usage: clinic analyze sweep --task probe") || !strings.Contains(out, "--knob") ||
		!strings.Contains(out, "probe depths") || strings.Contains(out, "--layers") || strings.Contains(out, "--stall-margin") {
		t.Errorf("the probe's help (exit %d):\n%s", code, out)
	}
	dir := t.TempDir()
	args := []string{"analyze", "sweep", "--task", "probe", "--knob", "7", "--depths", "3,1", "--norms", "preln", "--out", dir,
		"--d-model", "16", "--heads", "2", "--d-ff", "32", "--seq-len", "16", "--threads", "1"}
	code, out, e := runCLI(t, args...)
	if code != 0 || !probe.got.ran || probe.got.knob != 7 || !slices.Equal(probe.got.sweep.Depths, []int{1, 3}) ||
		!slices.Equal(probe.got.sweep.Norms, []string{model.PreLN}) || probe.got.sweep.Job.Model.DModel != 16 || probe.got.sweep.Job.Dir != dir {
		t.Fatalf("the probe's sweep was not run as asked (exit %d, %s): %+v", code, e, probe.got)
	}
	if !strings.Contains(out, "probe swept") {
		t.Errorf("summary not printed: %q", out)
	}
	for _, c := range []struct{ args, want string }{
		{"--task probe --layers 2", "clinic analyze: --layers does not apply here; use --depths"},
		{"--task probe --knob -1", "clinic analyze: --knob must be ≥ 0, got -1"},
		{"--task probe --stall-margin 1", "clinic analyze: unknown flag: --stall-margin"},
		{"--task plain", "clinic analyze: --task plain has no depth sweep"},
		{"--task plain --help", "clinic analyze: --task plain has no depth sweep"},
	} {
		code, _, e := runCLI(t, append([]string{"analyze", "sweep"}, strings.Fields(c.args)...)...)
		if code != 2 || !strings.HasPrefix(e, c.want) || strings.Count(e, "\n") != 1 {
			t.Errorf("%s: exit %d, %q; want exit 2, one line %q", c.args, code, e, c.want)
		}
	}
}

// A translation sweep given --task again, naming another task, is a
// usage error (it was an internal error, a failed type assertion).
func TestSweepTaskTwice(t *testing.T) {
	code, _, e := runCLI(t, "analyze", "sweep", "--task", "translate", "--task", "lm", "--out", t.TempDir())
	if code != 2 || e != "clinic analyze: --task is given twice: this is the sweep of --task translate (see 'clinic analyze --help')\n" {
		t.Errorf("exit %d, %q", code, e)
	}
}
