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
	"github.com/clinic-ml/clinic/internal/data"
	"github.com/clinic-ml/clinic/internal/optim"
	"github.com/clinic-ml/clinic/model"
)

// StepConfigs are the training-step configurations of DESIGN.md §3.
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
// Adam) on the built-in corpus, in tokens per second.
func BenchmarkTrainStep(b *testing.B) {
	text := corpus.SOTU()
	for _, sc := range StepConfigs {
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/threads=%d", sc.Name, threads), func(b *testing.B) {
				asm.SetThreads(threads)
				defer asm.SetThreads(0)
				cfg := model.Config{Layers: sc.Layers, DModel: sc.D, Heads: sc.H, DFF: sc.F, SeqLen: sc.T, Vocab: 256,
					Dropout: 0.1, AttnDropout: 0.1, ActDropout: 0.1, Norm: model.Admin, Activation: "relu", LNEps: 1e-5}
				p, err := model.NewParams(cfg)
				if err != nil {
					b.Fatal(err)
				}
				p.Init(1)
				m, err := model.New(p, sc.B, 1)
				if err != nil {
					b.Fatal(err)
				}
				s, _ := data.NewSampler(text, sc.B, sc.T, 1)
				n := sc.B * sc.T
				tok, tgt := make([]int32, n), make([]int32, n)
				var ws, gs [][]float32
				for _, q := range p.List {
					ws, gs = append(ws, q.W), append(gs, q.G)
				}
				opt, _ := optim.New(optim.Config{Name: "adam", LR: 1e-4, Beta1: 0.9, Beta2: 0.98, Eps: 1e-8, Warmup: 100, Clip: 1}, ws)
				step := func() {
					s.Next(tok, tgt)
					p.ZeroGrad()
					if _, err := m.Forward(tok, tgt, sc.B, sc.T, true); err != nil {
						b.Fatal(err)
					}
					m.Backward()
					opt.Step(gs)
				}
				step()
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
