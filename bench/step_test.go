package bench

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clinic-ml/clinic/asm"
	"github.com/clinic-ml/clinic/internal/phase"
	"github.com/clinic-ml/clinic/internal/scaling"
	"github.com/clinic-ml/clinic/internal/workload"
)

// The step benchmarks' thread counts and batch size, from flags, so a
// server's user measures their own machine:
//
//	go test -bench TrainStep ./bench -args -threads 1,2,4,8,16,32 -batch 128
var (
	threadsFlag = flag.String("threads", "1,2", "comma-separated thread counts of the step benchmarks")
	pinFlag     = flag.Bool("pin", false, "bind the step benchmarks' worker threads to CPUs (asm.Pool.Pin, 'clinic train --pin-threads')")
	batchFlag   = flag.Int("batch", 0, "sequences per step of the language-model step benchmarks (0: each config's own); pairs for T6_d256")
	precFlag    = flag.String("precision", "fp32", "comma-separated precisions of the step benchmarks: fp32, bf16 ('clinic train --precision')")
)

// threadCounts parses -threads.
func threadCounts(b *testing.B) []int {
	var ts []int
	for _, f := range strings.Split(*threadsFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > asm.MaxThreads {
			b.Fatalf("-threads %q: want positive thread counts", *threadsFlag)
		}
		ts = append(ts, n)
	}
	return ts
}

// path is one way of running a step: the layer code and the precision.
type path struct {
	generic, bf16 bool
}

// paths runs f as a sub-benchmark on the generated layer code and on the
// generic path (model.Config.Generic), at each -precision, one after the
// other, so they compare in one run: "specialized", "generic", and
// "specialized-bf16", "generic-bf16" for bf16.
func paths(b *testing.B, f func(b *testing.B, p path)) {
	for _, prec := range strings.Split(*precFlag, ",") {
		prec = strings.TrimSpace(prec)
		if prec != "fp32" && prec != "bf16" {
			b.Fatalf("-precision %q: want fp32 and/or bf16", *precFlag)
		}
		for _, name := range []string{"specialized", "generic"} {
			p := path{generic: name == "generic", bf16: prec == "bf16"}
			if p.bf16 {
				name += "-bf16"
			}
			b.Run(name, func(b *testing.B) { f(b, p) })
		}
	}
}

// newStep builds workload name on pool (see internal/workload).
func newStep(b *testing.B, name string, p path, pool *asm.Pool, clock *phase.Clock) *workload.Step {
	s, err := workload.New(name, workload.Options{Batch: *batchFlag, Generic: p.generic, BF16: p.bf16}, pool, clock)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func step(b *testing.B, s *workload.Step) {
	if err := s.Step(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkTrainStep measures one full training step (forward, backward,
// gradient norm and clipping, Adam), in tokens per second: the same
// train.Trainer.Step that 'clinic train' runs. The L configs train the
// byte-level language model on the built-in corpus (tokens: bytes); T6_d256
// trains a 6+6-layer encoder–decoder on the fixed batch its PyTorch twin
// (torch_seq2seq.py) uses (tokens: target tokens).
func BenchmarkTrainStep(b *testing.B) {
	for _, name := range workload.Names() {
		for _, threads := range threadCounts(b) {
			b.Run(fmt.Sprintf("%s/threads=%d", name, threads), func(b *testing.B) {
				run := func(b *testing.B, p path) {
					pool := asm.NewPool(threads)
					defer pool.Close()
					if *pinFlag {
						if err := pool.Pin(); err != nil {
							b.Fatal(err)
						}
					}
					s := newStep(b, name, p, pool, nil)
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						step(b, s)
					}
					b.ReportMetric(float64(s.Tokens*b.N)/b.Elapsed().Seconds(), "tokens/s")
					if mb := peakRSSMB(); mb > 0 {
						b.ReportMetric(mb, "peak-RSS-MB")
					}
				}
				paths(b, run)
			})
		}
	}
}

// BenchmarkThreadSpeedup measures the step's speedup from 1 thread to
// each other count of -threads in one process: a model on a 1-thread
// pool and one on a pool of t threads take steps in turn (in alternating
// order), and the speedup is the median over the pairs of the 1-thread
// step's time over the t-thread one's. On a shared machine the load
// drifts by 10-15% between runs of BenchmarkTrainStep, more than a
// change to the parallel code moves the ratio; a pair of steps a few
// hundred milliseconds apart sees nearly the same load.
//
//	go test -run '^$' -bench ThreadSpeedup -benchtime 12x ./bench
func BenchmarkThreadSpeedup(b *testing.B) {
	for _, name := range workload.Names() {
		for _, threads := range threadCounts(b) {
			if threads == 1 {
				continue
			}
			b.Run(fmt.Sprintf("%s/threads=%d", name, threads), func(b *testing.B) {
				one, many := asm.NewPool(1), asm.NewPool(threads)
				defer one.Close()
				defer many.Close()
				s1, st := newStep(b, name, path{}, one, nil), newStep(b, name, path{}, many, nil)
				step(b, s1)
				step(b, st)
				timed := func(s *workload.Step) float64 {
					t0 := time.Now()
					step(b, s)
					return time.Since(t0).Seconds()
				}
				ratios, t1, tt := make([]float64, b.N), make([]float64, b.N), make([]float64, b.N)
				b.ResetTimer()
				for i := range b.N {
					if i%2 == 0 {
						t1[i], tt[i] = timed(s1), timed(st)
					} else {
						tt[i], t1[i] = timed(st), timed(s1)
					}
					ratios[i] = t1[i] / tt[i]
				}
				b.ReportMetric(median(ratios), "speedup")
				b.ReportMetric(float64(s1.Tokens)/median(t1), "tokens/s-1T")
				b.ReportMetric(float64(st.Tokens)/median(tt), "tokens/s")
			})
		}
	}
}

// median is the middle of x (the mean of the two middle ones for an
// even count); x is reordered.
func median(x []float64) float64 {
	slices.Sort(x)
	n := len(x)
	if n%2 == 1 {
		return x[n/2]
	}
	return (x[n/2-1] + x[n/2]) / 2
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
	for _, name := range workload.Names()[:2] {
		for _, threads := range threadCounts(b) {
			b.Run(fmt.Sprintf("%s/threads=%d", name, threads), func(b *testing.B) {
				paths(b, func(b *testing.B, p path) {
					pool := asm.NewPool(threads)
					defer pool.Close()
					clock := &phase.Clock{}
					tr := newStep(b, name, p, pool, clock)
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
					b.ReportMetric(float64(tr.Tokens*b.N)/total.Seconds(), "tokens/s")
				})
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

// BenchmarkScalingProfile runs the work/span profile of the training
// step (internal/scaling; 'clinic analyze scaling' prints it as a table)
// and reports the predicted speedup and work inflation at each count of
// -threads beyond 1, e.g.
//
//	go test -bench ScalingProfile -benchtime 1x ./bench -args -threads 1,2,4,8,16,32,64
func BenchmarkScalingProfile(b *testing.B) {
	for _, name := range []string{"L6_d256", workload.Seq2SeqName} {
		b.Run(name, func(b *testing.B) {
			for range b.N {
				p, err := scaling.Run(name, scaling.Options{Widths: threadCounts(b), Steps: 3, Batch: *batchFlag, BWRatio: 12, OverheadThreads: 2})
				if err != nil {
					b.Fatal(err)
				}
				for i, e := range p.Estimates[1:] {
					b.ReportMetric(p.Speedup(i+1), fmt.Sprintf("speedup-%d", e.Width))
					b.ReportMetric(p.SplitSpeedup(i+1), fmt.Sprintf("split-speedup-%d", e.Width))
					b.ReportMetric(p.Inflation(i+1), fmt.Sprintf("inflation-%d", e.Width))
				}
				b.ReportMetric(p.TokensPerSecond(0), "tokens/s-1")
			}
		})
	}
}
