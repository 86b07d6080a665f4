package bench

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/clinic-ml/clinic/asm"
	"github.com/clinic-ml/clinic/internal/corpus"
	"github.com/clinic-ml/clinic/internal/optim"
	"github.com/clinic-ml/clinic/internal/train"
	"github.com/clinic-ml/clinic/model"
)

// StepConfigs are the training-step configurations the README's
// performance table reports.
var StepConfigs = []struct {
	Name               string
	Layers, D, H, F, T int
	B                  int
}{
	{"L6_d256", 6, 256, 4, 1024, 128, 16},
	{"L18_d256", 18, 256, 4, 1024, 128, 16},
	{"L6_d512", 6, 512, 8, 2048, 256, 8},
}

// BenchmarkTrainStep measures one full training step (forward, backward,
// gradient norm and clipping, Adam) on the built-in corpus, in tokens per
// second: the same train.Trainer.Step that 'clinic train' runs.
func BenchmarkTrainStep(b *testing.B) {
	text := corpus.SOTU()
	for _, sc := range StepConfigs {
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/threads=%d", sc.Name, threads), func(b *testing.B) {
				asm.SetThreads(threads)
				defer asm.SetThreads(0)
				cfg := model.Config{Layers: sc.Layers, DModel: sc.D, Heads: sc.H, DFF: sc.F, SeqLen: sc.T, Vocab: 256,
					Dropout: 0.1, AttnDropout: 0.1, ActDropout: 0.1, Norm: model.Admin, Activation: "relu", LNEps: 1e-5}
				lm, err := train.NewLM(train.LMConfig{Model: cfg, Batch: sc.B, Seed: 1, Train: text, TrainName: "built-in corpus"})
				if err != nil {
					b.Fatal(err)
				}
				pr, err := lm.ProfileAdmin()
				if err != nil {
					b.Fatal(err)
				}
				if err := lm.SetAdminProfile(pr); err != nil {
					b.Fatal(err)
				}
				tr, err := train.New(lm, train.Options{Steps: 1 << 30, EvalEvery: 1 << 30,
					Optim: optim.Config{Name: "adam", LR: 1e-4, Beta1: 0.9, Beta2: 0.98, Eps: 1e-8, Warmup: 100, Clip: 1}})
				if err != nil {
					b.Fatal(err)
				}
				step := func() {
					if st, err := tr.Step(); err != nil || st.Diverged {
						b.Fatalf("step %d: %+v %v", st.Step, st, err)
					}
				}
				step()
				n := sc.B * sc.T
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					step()
				}
				b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "tokens/s")
				if mb := peakRSSMB(); mb > 0 {
					b.ReportMetric(mb, "peak-RSS-MB")
				}
			})
		}
	}
}

// peakRSSMB is the process's peak resident set (VmHWM) in MB, 0 where
// /proc is missing. Run one configuration per process to compare it.
func peakRSSMB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}
