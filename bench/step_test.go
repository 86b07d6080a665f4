package bench

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/clinic-ml/clinic/admin"
	"github.com/clinic-ml/clinic/asm"
	"github.com/clinic-ml/clinic/internal/corpus"
	"github.com/clinic-ml/clinic/internal/optim"
	"github.com/clinic-ml/clinic/internal/phase"
	"github.com/clinic-ml/clinic/internal/train"
	"github.com/clinic-ml/clinic/model"
)

// stepConfigs are the training-step benchmarks' configs: the entries of
// the generated layer code's list (gen/layergen/configs.go) marked
// Bench, so the benchmarks guard exactly the code that is specialized.
func stepConfigs() []model.SpecializedConfig {
	var cs []model.SpecializedConfig
	for _, sc := range model.SpecializedConfigs() {
		if sc.Bench && sc.EncoderLayers == 0 {
			cs = append(cs, sc)
		}
	}
	return cs
}

// paths runs f as a sub-benchmark on the generated layer code and on the
// generic path, one after the other, so they compare in one run.
func paths(b *testing.B, f func(b *testing.B)) {
	for _, path := range []string{"specialized", "generic"} {
		b.Run(path, func(b *testing.B) {
			model.SetSpecialized(path == "specialized")
			defer model.SetSpecialized(true)
			f(b)
		})
	}
}

// newStepTrainer plans an Admin model of sc (ω profiled, as 'clinic
// train' does) on the built-in corpus and the trainer that steps it.
func newStepTrainer(b *testing.B, sc model.SpecializedConfig, clock *phase.Clock, pool *asm.Pool) *train.Trainer {
	lm, err := train.NewLM(train.LMConfig{Model: sc.Config(256), Batch: sc.Batch, Seed: 1, Train: corpus.SOTU(), TrainName: "built-in corpus", Pool: pool})
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
	lm.M.SetClock(clock)
	tr, err := train.New(lm, train.Options{Steps: 1 << 30, EvalEvery: 1 << 30, Clock: clock,
		Optim: optim.Config{Name: "adam", LR: 1e-4, Beta1: 0.9, Beta2: 0.98, Eps: 1e-8, Warmup: 100, Clip: 1}})
	if err != nil {
		b.Fatal(err)
	}
	step(b, tr) // first touch of every buffer
	return tr
}

func step(b *testing.B, tr *train.Trainer) {
	if st, err := tr.Step(); err != nil || st.Diverged {
		b.Fatalf("step %d: %+v %v", st.Step, st, err)
	}
}

// BenchmarkTrainStep measures one full training step (forward, backward,
// gradient norm and clipping, Adam), in tokens per second: the same
// train.Trainer.Step that 'clinic train' runs. The L configs train the
// byte-level language model on the built-in corpus (tokens: bytes); T6_d256
// trains a 6+6-layer encoder–decoder on the fixed batch its PyTorch twin
// (torch_seq2seq.py) uses (tokens: target tokens).
func BenchmarkTrainStep(b *testing.B) {
	for _, threads := range []int{1, 2} {
		b.Run(fmt.Sprintf("T6_d256/threads=%d", threads), func(b *testing.B) { paths(b, func(b *testing.B) { benchSeq2Seq(b, threads) }) })
	}
	for _, sc := range stepConfigs() {
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/threads=%d", sc.Name, threads), func(b *testing.B) {
				paths(b, func(b *testing.B) {
					pool := asm.NewPool(threads)
					defer pool.Close()
					tr := newStepTrainer(b, sc, nil, pool)
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						step(b, tr)
					}
					b.ReportMetric(float64(sc.Batch*sc.T*b.N)/b.Elapsed().Seconds(), "tokens/s")
					if mb := peakRSSMB(); mb > 0 {
						b.ReportMetric(mb, "peak-RSS-MB")
					}
				})
			})
		}
	}
}

// BenchmarkStepPhases splits the training step's wall time into phases:
// large GEMMs (projections, FFN, logits, and their gradients), the
// attention core (per-head QKᵀ, softmax, P·V and backward), element-wise
// and normalization kernels (embedding, dropout, residual adds,
// LayerNorm, cross-entropy, bias and ω gradients), the optimizer
// (zeroing gradients, norm, clipping, Adam) and other (batch sampling,
// glue). Each phase reports ms per step and the percentage of the step;
// idle-% is the share of all threads' time that threads sat waiting
// (the pool's other threads with no chunk to run, the caller waiting
// for them), 0 at one thread.
func BenchmarkStepPhases(b *testing.B) {
	for _, sc := range stepConfigs()[:2] {
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/threads=%d", sc.Name, threads), func(b *testing.B) {
				paths(b, func(b *testing.B) {
					pool := asm.NewPool(threads)
					defer pool.Close()
					clock := &phase.Clock{}
					tr := newStepTrainer(b, sc, clock, pool)
					clock.Start(pool)
					clock.Reset()
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						step(b, tr)
					}
					clock.Stop()
					b.StopTimer()
					total := clock.Total()
					var idle float64
					for ph := phase.Other; ph < phase.Count; ph++ {
						ms := clock.Wall[ph].Seconds() * 1e3 / float64(b.N)
						b.ReportMetric(ms, ph.String()+"-ms")
						b.ReportMetric(100*clock.Wall[ph].Seconds()/total.Seconds(), ph.String()+"-%")
						if threads > 1 {
							// the share of the phase's thread time spent waiting
							b.ReportMetric(100*clock.Idle[ph].Seconds()/(float64(threads)*clock.Wall[ph].Seconds()), ph.String()+"-idle-%")
						}
						idle += clock.Idle[ph].Seconds()
					}
					b.ReportMetric(100*idle/(float64(threads)*total.Seconds()), "idle-%")
					b.ReportMetric(float64(sc.Batch*sc.T*b.N)/total.Seconds(), "tokens/s")
				})
			})
		}
	}
}

// pairTask trains an encoder–decoder on one fixed batch: the shape of
// bench/torch_seq2seq.py's, 128 pairs padded to 32 tokens a side with
// lengths 17..32 (4,096 padded tokens a side, fairseq's --max-tokens
// 4096), vocabulary 8,192.
type pairTask struct {
	m *model.Seq2Seq
	b model.Pair
}

func newPairTask(b *testing.B, pool *asm.Pool) *pairTask {
	const B, T, V = 128, 32, 8192
	cfg := model.Config{EncoderLayers: 6, Layers: 6, DModel: 256, Heads: 4, DFF: 1024, SeqLen: T, Vocab: V,
		Dropout: 0.1, AttnDropout: 0.1, ActDropout: 0.1, Norm: model.Admin, Activation: "relu", LNEps: 1e-5, LabelSmoothing: 0.1}
	p, err := model.NewParams(cfg)
	if err != nil {
		b.Fatal(err)
	}
	p.Init(1)
	m, err := model.NewSeq2Seq(p, B*T, 1)
	if err != nil {
		b.Fatal(err)
	}
	m.SetPool(pool)
	r := rand.New(rand.NewPCG(1, 2))
	t := &pairTask{m: m, b: model.Pair{Bsz: B, SrcT: T, TgtT: T, Src: make([]int32, B*T), TgtIn: make([]int32, B*T),
		TgtOut: make([]int32, B*T), SrcLens: make([]int32, B), TgtLens: make([]int32, B)}}
	for i := 0; i < B; i++ {
		t.b.SrcLens[i], t.b.TgtLens[i] = int32(17+r.IntN(T-16)), int32(17+r.IntN(T-16))
		for j := 0; j < T; j++ {
			t.b.Src[i*T+j], t.b.TgtIn[i*T+j], t.b.TgtOut[i*T+j] = int32(3+r.IntN(V-3)), int32(3+r.IntN(V-3)), int32(3+r.IntN(V-3))
			if j >= int(t.b.TgtLens[i]) {
				t.b.TgtOut[i*T+j] = -1
			}
		}
	}
	pr, err := admin.RunSeq2Seq(m, &t.b, 1)
	if err != nil {
		b.Fatal(err)
	}
	if err := pr.Apply(p); err != nil {
		b.Fatal(err)
	}
	return t
}

func (t *pairTask) Params() *model.Params { return t.m.P }
func (t *pairTask) Pool() *asm.Pool       { return t.m.Pool() }
func (t *pairTask) TrainForward() (float64, int, error) {
	return t.m.Forward(&t.b, true)
}
func (t *pairTask) Backward() error                  { return t.m.Backward() }
func (t *pairTask) Evaluate() (float64, error)       { return 0, nil }
func (t *pairTask) SaveCheckpoint(string, int) error { return nil }

func benchSeq2Seq(b *testing.B, threads int) {
	pool := asm.NewPool(threads)
	defer pool.Close()
	task := newPairTask(b, pool)
	tr, err := train.New(task, train.Options{Steps: 1 << 30, EvalEvery: 1 << 30,
		Optim: optim.Config{Name: "adam", LR: 1e-4, Beta1: 0.9, Beta2: 0.98, Eps: 1e-8, Warmup: 100, Clip: 1}})
	if err != nil {
		b.Fatal(err)
	}
	step(b, tr)
	tokens := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		st, err := tr.Step()
		if err != nil || st.Diverged {
			b.Fatalf("step: %+v %v", st, err)
		}
		tokens += st.Tokens
	}
	b.ReportMetric(float64(tokens)/b.Elapsed().Seconds(), "tokens/s")
	if mb := peakRSSMB(); mb > 0 {
		b.ReportMetric(mb, "peak-RSS-MB")
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
