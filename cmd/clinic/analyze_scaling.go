package main

import (
	"io"
	"math"
	"slices"
	"strings"

	"github.com/clinic-ml/clinic/asm"
	"github.com/clinic-ml/clinic/internal/experiment"
	"github.com/clinic-ml/clinic/internal/limits"
	"github.com/clinic-ml/clinic/internal/rundir"
	"github.com/clinic-ml/clinic/internal/workload"
)

// runAnalyzeScaling predicts the training step's speedup on P threads
// from a work/span profile measured here (internal/scaling).
func runAnalyzeScaling(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("analyze scaling", "Predict a training step's tokens/s and speedup on 1 to 64 threads from a work/span\nprofile measured on this machine, whatever its cores: every parallel region of the\nstep is split as a pool of P workers splits it and its chunks are timed one by one.\nWrites scaling.csv, scaling.png/.svg (predicted speedup against threads) and\nreport.md. The model and its assumptions: docs/performance.md.", stdout)
	names := fs.String("workloads", "L6_d256,"+workload.Seq2SeqName, "comma-separated workloads: "+strings.Join(workload.AllNames(), ", ")+" (tokens/s of "+workload.Beam5Name+": output tokens; its step translates the 1,003 Acts verses, half a minute on one core: its profile takes a quarter of an hour)")
	widthsS := fs.String("threads", "1,2,4,8,16,32,64", "comma-separated thread counts to predict")
	steps := fs.Int("steps", 0, "steps recorded per thread count, each chunk's fastest time kept (0: each workload's own, 5; 3 for "+workload.Beam5Name+")")
	batch := fs.Int("batch-size", 0, "sequences per step (0: each workload's own; pairs for "+workload.Seq2SeqName+")")
	prec := fs.String("precision", "fp32", "GEMM precision of the training steps profiled: fp32 or bf16 (as 'clinic train --precision'; bf16 needs a CPU with AVX512-BF16)")
	bw := fs.Float64("bw-ratio", 12, "the target's memory bandwidth over one core's (memory-bound regions speed up at most this much)")
	measuredS := fs.String("measured", "", "speedups measured on the target, to compare: WORKLOAD:P=S,P=S;WORKLOAD:...")
	out := fs.String("out", "runs/analyze-scaling", "output folder for the CSV, figures and report.md")
	overwrite := fs.Bool("overwrite", false, overwriteUsage)
	if err := parse(fs, args); err != nil {
		return err
	}
	ws, err := experiment.ParseDepths("threads", *widthsS)
	if err != nil {
		return err
	}
	for _, w := range ws {
		if w > asm.MaxThreads {
			return usagef("--threads %d: at most %d", w, asm.MaxThreads)
		}
	}
	var wls []string
	for _, n := range strings.Split(*names, ",") {
		n = strings.TrimSpace(n)
		if !slices.Contains(workload.AllNames(), n) {
			return usagef("--workloads: unknown workload %q (have %s)", n, strings.Join(workload.AllNames(), ", "))
		}
		wls = append(wls, n)
	}
	measured, err := experiment.ParseMeasured(*measuredS)
	if err != nil {
		return err
	}
	switch {
	case *steps < 0 || *steps > 1000:
		return usagef("--steps must be in 0..1000, got %d", *steps)
	case *batch < 0 || *batch > 1<<14:
		return usagef("--batch-size must be in 0..16384, got %d", *batch)
	case *prec != "fp32" && *prec != "bf16":
		return usagef("--precision must be fp32 or bf16, got %q", *prec)
	case *prec == "bf16" && asm.BF16Level() == asm.LevelGeneric:
		return usagef("--precision bf16: this CPU has no bf16 kernel (AVX512-BF16), and a profile of the pure-Go twin would say nothing of one")
	case !(*bw >= 1) || math.IsInf(*bw, 0):
		return usagef("--bw-ratio must be ≥ 1 and finite, got %g", *bw)
	case *out == "":
		return usagef("--out must name a directory")
	}
	for _, n := range wls {
		need, err := workload.Bytes(n, *batch)
		if err != nil {
			return err
		}
		if err := limits.CheckFits("profiling "+n, need, "use a smaller --batch-size"); err != nil {
			return err
		}
	}
	if err := rundir.CheckReportDir(*out, *overwrite); err != nil {
		return err
	}
	sc := &experiment.Scaling{Workloads: wls, Widths: ws, Steps: *steps, Batch: *batch, BF16: *prec == "bf16", BWRatio: *bw, Measured: measured,
		Out: *out, Command: experiment.CommandLine("scaling", args), Log: stderr}
	return printSummary(stdout)(sc.Run())
}
