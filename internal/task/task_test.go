package task_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/clinic-ml/clinic/internal/limits"
	"github.com/clinic-ml/clinic/internal/task"
	_ "github.com/clinic-ml/clinic/internal/task/lm"
	_ "github.com/clinic-ml/clinic/internal/task/translation"
	"github.com/clinic-ml/clinic/model"
	"github.com/spf13/pflag"
)

// The tasks register themselves; their order is --task's help order
// and the first is the default.
func TestRegistry(t *testing.T) {
	if got := strings.Join(task.Names(), ","); got != "lm,translate" {
		t.Fatalf("registered %s, want lm,translate", got)
	}
	if task.Default() != "lm" || task.Of([]string{"--steps", "1"}) != "lm" ||
		task.Of([]string{"--task=translate"}) != "translate" || task.Of([]string{"--task", "translate"}) != "translate" {
		t.Error("task.Of does not find --task")
	}
	_, err := task.Lookup("classify")
	var ue limits.UsageError
	if !errors.As(err, &ue) || ue.Msg != `--task must be lm or translate, got "classify"` {
		t.Errorf("unknown task: %v", err)
	}
}

func flags(t *testing.T, chosen string, args ...string) (task.Setup, *model.Config, error) {
	fs := pflag.NewFlagSet("train", pflag.ContinueOnError)
	fs.SortFlags = false
	for _, n := range []string{"seq-len", "label-smoothing", "warmup", "val-frac", "batch-size", "eval-batches"} {
		fs.String(n, "1", "")
	}
	fs.String("data", "", "")
	tasks := task.AddFlags(fs, chosen)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	cfg := &model.Config{}
	s, err := tasks.Check(fs, cfg)
	return s, cfg, err
}

// A task's flags are refused for another task, by name; the chosen
// task sets its defaults and applies its flags to the model config.
func TestTaskFlags(t *testing.T) {
	if _, _, err := flags(t, "lm", "--bleu-every", "3"); err == nil || err.Error() != "--bleu-every needs --task translate" {
		t.Errorf("lm with --bleu-every: %v", err)
	}
	if _, _, err := flags(t, "translate", "--task", "translate", "--batch-size", "3"); err == nil || !strings.Contains(err.Error(), "--batch-size does not apply to --task translate") {
		t.Errorf("translate with --batch-size: %v", err)
	}
	s, cfg, err := flags(t, "translate", "--task", "translate", "--encoder-layers", "3", "--max-len", "40")
	if err != nil || cfg.EncoderLayers != 3 || cfg.SeqLen != 40 || len(s.Keep()) != 1 {
		t.Errorf("translate: %v, config %+v", err, cfg)
	}
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	fs.String("seq-len", "128", "")
	for _, n := range []string{"label-smoothing", "warmup", "val-frac"} {
		fs.String(n, "0", "")
	}
	task.AddFlags(fs, "translate")
	if f := fs.Lookup("seq-len"); f.DefValue != "256" || !strings.Contains(f.Usage, "subword") {
		t.Errorf("translate's --seq-len default %s, %q", f.DefValue, f.Usage)
	}
}

// noSweep is a task without a depth sweep.
type noSweep struct{}

func (noSweep) Name() string                    { return "nosweep" }
func (noSweep) Help() string                    { return "nosweep (a test task)" }
func (noSweep) Flags(*pflag.FlagSet) task.Setup { return nil }

// Both tasks register their depth sweeps with themselves; a task
// without one, or an unknown task, is a usage error naming it.
func TestLookupSweep(t *testing.T) {
	for _, n := range []string{"lm", "translate"} {
		if _, err := task.LookupSweep(n); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
	defer task.Register(noSweep{})()
	_, err := task.LookupSweep("nosweep")
	var ue limits.UsageError
	if !errors.As(err, &ue) || ue.Msg != "--task nosweep has no depth sweep" {
		t.Errorf("a task without a sweep: %v", err)
	}
	if _, err := task.LookupSweep("classify"); !errors.As(err, &ue) {
		t.Errorf("an unknown task: %v", err)
	}
}
