package lm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clinic-ml/clinic/internal/experiment"
	"github.com/clinic-ml/clinic/internal/optim"
	"github.com/clinic-ml/clinic/internal/train"
	"github.com/clinic-ml/clinic/model"
)

// The depth sweep is a library call: a Go program gives the base job,
// depths and norms, and gets the table and the folder 'clinic analyze
// sweep' writes; lr-range then reads two such folders.
func TestLMSweepAndLRRange(t *testing.T) {
	dir := t.TempDir()
	cfg := tinyJob(t, model.PreLN).Model
	var dirs []string
	for _, lr := range []float64{1e-3, 2e-3} {
		j := train.Job{Model: cfg, Steps: 2, Batch: 2, EvalEvery: 1, EvalBatches: 1, ValFrac: 0.1, Seed: 1, Threads: 1,
			Optim: optim.Config{Name: "adam", LR: lr, Beta1: 0.9, Beta2: 0.98, Eps: 1e-8, Warmup: 1, Clip: 1},
			Dir:   filepath.Join(dir, "sweep"+experiment.Num(lr)), AdminInit: "profile", Specialized: true}
		s := &Sweep{Sweep: experiment.Sweep{Job: j, Depths: []int{1, 2}, Norms: []string{model.PreLN, model.Admin}, Command: "test"}, Margin: 0.1}
		if err := s.Load(); err != nil {
			t.Fatal(err)
		}
		sum, err := s.Run()
		if err != nil {
			t.Fatal(err)
		}
		if len(sum.Rows) != 4 || !strings.Contains(sum.Note, "report.md") {
			t.Fatalf("summary %+v", sum)
		}
		for _, f := range []string{"sweep.csv", "sweep_curves.csv", "report.md", "runs/admin-L2/result.json"} {
			if _, err := os.Stat(filepath.Join(j.Dir, f)); err != nil {
				t.Error(err)
			}
		}
		dirs = append(dirs, j.Dir)
	}
	l := &experiment.LRRange{Dirs: dirs, Out: filepath.Join(dir, "lr"), Command: "test"}
	sum, err := l.Run()
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Rows) != 4 || len(sum.Header) != 5 {
		t.Errorf("lr-range summary %+v", sum)
	}
}
