package experiment

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clinic-ml/clinic/asm"
	"github.com/clinic-ml/clinic/internal/optim"
	"github.com/clinic-ml/clinic/internal/train"
	"github.com/clinic-ml/clinic/model"
)

func tinyConfig() model.Config {
	cfg := model.DefaultConfig()
	cfg.Layers, cfg.DModel, cfg.Heads, cfg.DFF, cfg.SeqLen, cfg.Vocab, cfg.LNEps = 1, 16, 2, 32, 16, 256, 1e-5
	return cfg
}

// The depth sweep is a library call: a Go program gives the base job,
// depths and norms, and gets the table and the folder 'clinic analyze
// sweep' writes; lr-range then reads two such folders.
func TestLMSweepAndLRRange(t *testing.T) {
	dir := t.TempDir()
	var dirs []string
	for _, lr := range []float64{1e-3, 2e-3} {
		j := train.Job{Model: tinyConfig(), Steps: 2, Batch: 2, EvalEvery: 1, EvalBatches: 1, ValFrac: 0.1, Seed: 1, Threads: 1,
			Optim: optim.Config{Name: "adam", LR: lr, Beta1: 0.9, Beta2: 0.98, Eps: 1e-8, Warmup: 1, Clip: 1},
			Dir:   filepath.Join(dir, "sweep"+num(lr)), AdminInit: "profile", Specialized: true}
		s := &LMSweep{Sweep: Sweep{Job: j, Depths: []int{1, 2}, Norms: []string{model.PreLN, model.Admin}, Command: "test"}, Margin: 0.1}
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
	l := &LRRange{Dirs: dirs, Out: filepath.Join(dir, "lr"), Command: "test"}
	sum, err := l.Run()
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Rows) != 4 || len(sum.Header) != 5 {
		t.Errorf("lr-range summary %+v", sum)
	}
}

// The analyses are library calls too, and give the same values at 1
// and 2 threads.
func TestChangeAtTwoWidths(t *testing.T) {
	var csvs [2]string
	for i, threads := range []int{1, 2} {
		pool := asm.NewPool(threads)
		bs, err := NewBatches("", 0.01, 2)
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "change")
		c := &Change{Analysis: Analysis{Base: tinyConfig(), Norms: []string{model.PostLN, model.PreLN}, Seed: 1, Seeds: 2, Batch: 2,
			Batches: bs, Pool: pool, Out: out, Command: "test"}, Depths: []int{1, 2}, Modes: []string{"random", "grad"}, Eps: 1e-3}
		if _, err := c.Run(); err != nil {
			t.Fatal(err)
		}
		pool.Close()
		b, err := os.ReadFile(filepath.Join(out, "change.csv"))
		if err != nil {
			t.Fatal(err)
		}
		csvs[i] = string(b)
	}
	if csvs[0] != csvs[1] {
		t.Errorf("change.csv differs between 1 and 2 threads:\n%s\n%s", csvs[0], csvs[1])
	}
}
