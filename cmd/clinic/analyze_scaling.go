package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/clinic-ml/clinic/asm"
	"github.com/clinic-ml/clinic/internal/limits"
	"github.com/clinic-ml/clinic/internal/phase"
	"github.com/clinic-ml/clinic/internal/plot"
	"github.com/clinic-ml/clinic/internal/scaling"
	"github.com/clinic-ml/clinic/internal/workload"
)

// runAnalyzeScaling predicts the training step's speedup on P threads
// from a work/span profile measured here (internal/scaling).
func runAnalyzeScaling(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("analyze scaling", "Predict a training step's tokens/s and speedup on 1 to 64 threads from a work/span\nprofile measured on this machine, whatever its cores: every parallel region of the\nstep is split as a pool of P workers splits it and its chunks are timed one by one.\nWrites scaling.csv, scaling.png/.svg (predicted speedup against threads) and\nreport.md. The model and its assumptions: docs/performance.md.", stdout)
	names := fs.String("workloads", "L6_d256,"+workload.Seq2SeqName, "comma-separated workloads: "+strings.Join(workload.AllNames(), ", ")+" (tokens/s of "+workload.Beam5Name+": output tokens)")
	widthsS := fs.String("threads", "1,2,4,8,16,32,64", "comma-separated thread counts to predict")
	steps := fs.Int("steps", 5, "steps recorded per thread count (each chunk's fastest time is kept)")
	batch := fs.Int("batch-size", 0, "sequences per step (0: each workload's own; pairs for "+workload.Seq2SeqName+")")
	bw := fs.Float64("bw-ratio", 12, "the target's memory bandwidth over one core's (memory-bound regions speed up at most this much)")
	measuredS := fs.String("measured", "", "speedups measured on the target, to compare: WORKLOAD:P=S,P=S;WORKLOAD:...")
	out := fs.String("out", "runs/analyze-scaling", "output folder for the CSV, figures and report.md")
	overwrite := fs.Bool("overwrite", false, overwriteUsage)
	if err := parse(fs, args); err != nil {
		return err
	}
	ws, err := parseDepths("threads", *widthsS)
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
	measured, err := parseMeasured(*measuredS)
	if err != nil {
		return err
	}
	switch {
	case *steps < 1 || *steps > 1000:
		return usagef("--steps must be in 1..1000, got %d", *steps)
	case *batch < 0 || *batch > 1<<14:
		return usagef("--batch-size must be in 0..16384, got %d", *batch)
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
	if err := checkReportDir(*out, *overwrite); err != nil {
		return err
	}
	var profiles []*scaling.Profile
	for _, n := range wls {
		fmt.Fprintf(stderr, "profiling %s at %v threads...\n", n, ws)
		p, err := scaling.Run(n, scaling.Options{Widths: ws, Steps: *steps, Batch: *batch, BWRatio: *bw, OverheadThreads: 2})
		if err != nil {
			return err
		}
		profiles = append(profiles, p)
	}
	rep, err := newReport(*out, "Predicted scaling of the training step")
	if err != nil {
		return err
	}
	rep.para("Command: `%s`", commandLine("scaling", args))
	m := profiles[0].Machine
	var alpha []string
	for ph := phase.Other; ph < phase.Count; ph++ {
		if a := m.Alpha[ph]; a > 0 {
			alpha = append(alpha, fmt.Sprintf("%s %.3f", ph, a))
		}
	}
	rep.para("Profiled on %s (kernels: %s). Each parallel region of the step was split as a pool of P workers splits it and its chunks were timed one after another on one core (the fastest of %d steps per chunk). Predicted step time T(P) = serial + Σ regions max(longest chunk · (1 + α·(t−1)) + burden, bandwidth bound), with the burden of a region of t chunks %v·(t−1) + %v (the hand-off and join measured on this machine's pool of 2 threads), the contention α by phase (%s; measured on that pool: how much slower chunks run beside another than alone) and memory-bound regions (element-wise, optimizer) at most %g× faster than on one core. Work inflation W(P)/W(1) is what splitting adds to the total chunk time.",
		limits.CPUName(), asm.CPULevel(), *steps, m.Post, m.Join, strings.Join(alpha, ", "), *bw)
	header := []string{"workload", "batch", "threads", "tokens/s", "speedup", "efficiency", "work inflation", "burden %", "measured", "predicted/measured"}
	var rows [][]string
	chart := &plot.LineChart{Title: "Predicted speedup of the training step", XLabel: "threads", YLabel: "speedup over 1 thread",
		LogX: true, LogY: true, XTicks: toFloats(ws), LegendLeft: true}
	ideal := plot.Series{Label: "ideal", Color: len(profiles), Dash: 2}
	for _, w := range ws {
		ideal.X, ideal.Y = append(ideal.X, float64(w)), append(ideal.Y, float64(w))
	}
	chart.Series = append(chart.Series, ideal)
	for pi, p := range profiles {
		s := plot.Series{Label: p.Name, Color: pi, Points: true}
		meas := plot.Series{Label: p.Name + " measured", Color: pi, Dash: 1, Points: true}
		for i, e := range p.Estimates {
			sp := p.Speedup(i)
			ms, ratio := "", ""
			if v, ok := measured[p.Name][e.Width]; ok {
				ms, ratio = short(v), fmt.Sprintf("%.2f", sp/v)
				meas.X, meas.Y = append(meas.X, float64(e.Width)), append(meas.Y, v)
			}
			rows = append(rows, []string{p.Name, strconv.Itoa(p.Batch), strconv.Itoa(e.Width), fmt.Sprintf("%.0f", p.TokensPerSecond(i)),
				fmt.Sprintf("%.2f", sp), fmt.Sprintf("%.2f", sp/float64(e.Width)), fmt.Sprintf("%.3f", p.Inflation(i)),
				fmt.Sprintf("%.1f", 100*e.Burden.Seconds()/e.Time.Seconds()), ms, ratio})
			s.X, s.Y = append(s.X, float64(e.Width)), append(s.Y, sp)
		}
		chart.Series = append(chart.Series, s)
		if len(meas.X) > 0 {
			chart.Series = append(chart.Series, meas)
		}
	}
	if err := rep.csv("scaling.csv", header, rows); err != nil {
		return err
	}
	rep.table(header, rows)
	rep.heading("By phase")
	rep.para("Predicted time per step (ms) and work inflation by phase of the step, at each thread count.")
	pheader := []string{"workload", "threads"}
	for ph := phase.Other; ph < phase.Count; ph++ {
		pheader = append(pheader, ph.String()+" ms", ph.String()+" infl.")
	}
	var prows [][]string
	for _, p := range profiles {
		for _, e := range p.Estimates {
			row := []string{p.Name, strconv.Itoa(e.Width)}
			for ph := phase.Other; ph < phase.Count; ph++ {
				pe, base := e.ByPhase[ph], p.Estimates[0].ByPhase[ph]
				infl := "-"
				if base.Work > 0 {
					infl = fmt.Sprintf("%.3f", pe.Work.Seconds()/base.Work.Seconds())
				}
				row = append(row, fmt.Sprintf("%.2f", pe.Time.Seconds()*1e3), infl)
			}
			prows = append(prows, row)
		}
	}
	rep.table(pheader, prows)
	if err := rep.csv("scaling_phases.csv", pheader, prows); err != nil {
		return err
	}
	files, err := chart.Save(*out, "scaling")
	if err != nil {
		return err
	}
	rep.figure(files, "predicted speedup against threads")
	return rep.finish(stdout, header, rows)
}

// parseMeasured reads --measured: "L6_d256:2=1.6,4=2.8;T6_d256:16=5.8".
func parseMeasured(s string) (map[string]map[int]float64, error) {
	out := map[string]map[int]float64{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for _, part := range strings.Split(s, ";") {
		name, pts, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok || !slices.Contains(workload.AllNames(), name) {
			return nil, usagef("--measured: %q is not WORKLOAD:P=S,... with a known workload", part)
		}
		out[name] = map[int]float64{}
		for _, pt := range strings.Split(pts, ",") {
			ps, vs, ok := strings.Cut(strings.TrimSpace(pt), "=")
			p, err1 := strconv.Atoi(ps)
			v, err2 := strconv.ParseFloat(vs, 64)
			if !ok || err1 != nil || err2 != nil || p < 1 || !(v > 0) || math.IsInf(v, 0) {
				return nil, usagef("--measured: %q is not THREADS=SPEEDUP", pt)
			}
			out[name][p] = v
		}
	}
	return out, nil
}
