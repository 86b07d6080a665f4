package experiment

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/clinic-ml/clinic/asm"
	"github.com/clinic-ml/clinic/internal/limits"
	"github.com/clinic-ml/clinic/internal/phase"
	"github.com/clinic-ml/clinic/internal/plot"
	"github.com/clinic-ml/clinic/internal/scaling"
	"github.com/clinic-ml/clinic/internal/workload"
)

// Scaling predicts a training step's tokens/s and speedup at each
// thread count of Widths from a work/span profile of each workload
// measured here (internal/scaling), compared with Measured speedups
// (workload → threads → speedup) where given.
type Scaling struct {
	Workloads []string
	Widths    []int
	Steps     int
	Batch     int
	BF16      bool // profile training with bf16 GEMM inputs
	BWRatio   float64
	Measured  map[string]map[int]float64
	Out       string
	Command   string
	Log       io.Writer
}

func (sc *Scaling) log() io.Writer { return orDiscard(sc.Log) }

// Run profiles every workload and writes the report.
func (sc *Scaling) Run() (*Summary, error) {
	var profiles []*scaling.Profile
	for _, n := range sc.Workloads {
		fmt.Fprintf(sc.log(), "profiling %s at %v threads...\n", n, sc.Widths)
		steps := sc.Steps
		if steps <= 0 {
			steps = workload.ProfileSteps(n)
		}
		p, err := scaling.Run(n, scaling.Options{Widths: sc.Widths, Steps: steps, Batch: sc.Batch, BF16: sc.BF16, BWRatio: sc.BWRatio, OverheadThreads: 2})
		if err != nil {
			return nil, err
		}
		profiles = append(profiles, p)
	}
	rep, err := NewReport(sc.Out, "Predicted scaling of the training step")
	if err != nil {
		return nil, err
	}
	rep.Para("Command: `%s`", sc.Command)
	prec := "fp32"
	if sc.BF16 {
		prec = "bf16 (" + asm.BF16Level() + ")"
	}
	rep.Para("Profiled on %s (kernels: %s; the training steps' GEMM inputs in %s). Each parallel region of the step was split as a pool of P workers splits it and its chunks were timed one after another on one core (the fastest of the steps recorded per chunk, listed below). Predicted step time T(P) = serial + Σ regions max(longest chunk · (1 + α·(t−1)) + burden, bandwidth bound), with the burden of a region of t chunks Post + Wake·(t−1) + Join (publishing the call, checking each further worker for a wake-up, and the join) and the contention α by phase (how much slower chunks run beside another than alone) measured for each workload on this machine's pool of 2 threads, as listed below, and memory-bound regions (element-wise, optimizer) at most %g× faster than on one core. Work inflation W(P)/W(1) is what splitting adds to the total chunk time. α is also measured in two parts, with the chunks run one at a time on their own workers (staggered): placement β (a chunk on its own worker against after the previous chunk on one core: its operands in another core's cache) and concurrency (chunks at once against staggered: shared caches, memory, the clock). The column \"speedup, split α\" is the prediction that carries placement as a constant cost, β·2(t−1)/t, and only concurrency as the linear term. α is the median over the pairs of steps measured; the columns \"speedup, α q3\" and \"speedup, α q1\" are the prediction with every phase's α at its upper and at its lower quartile over those pairs (listed in brackets below): how far the machine's noise moved the prediction within this run (a shared machine moves α between runs too).",
		limits.CPUName(), asm.CPULevel(), prec, sc.BWRatio)
	for _, p := range profiles {
		rep.Para("%s", machineLine(p))
	}
	header := []string{"workload", "batch", "threads", "tokens/s", "speedup", "efficiency", "work inflation", "burden %", "measured", "predicted/measured", "speedup, split α", "speedup, α q3", "speedup, α q1"}
	var rows [][]string
	chart := &plot.LineChart{Title: "Predicted speedup of the training step", XLabel: "threads", YLabel: "speedup over 1 thread",
		LogX: true, LogY: true, XTicks: toFloats(sc.Widths), LegendLeft: true}
	ideal := plot.Series{Label: "ideal", Color: len(profiles), Dash: 2}
	for _, w := range sc.Widths {
		ideal.X, ideal.Y = append(ideal.X, float64(w)), append(ideal.Y, float64(w))
	}
	chart.Series = append(chart.Series, ideal)
	for pi, p := range profiles {
		s := plot.Series{Label: p.Name, Color: pi, Points: true}
		meas := plot.Series{Label: p.Name + " measured", Color: pi, Dash: 1, Points: true}
		for i, e := range p.Estimates {
			sp := p.Speedup(i)
			blo, bhi := p.SpeedupBand(i)
			ms, ratio := "", ""
			if v, ok := sc.Measured[p.Name][e.Width]; ok {
				ms, ratio = short(v), fmt.Sprintf("%.2f", sp/v)
				meas.X, meas.Y = append(meas.X, float64(e.Width)), append(meas.Y, v)
			}
			rows = append(rows, []string{p.Name, strconv.Itoa(p.Batch), strconv.Itoa(e.Width), fmt.Sprintf("%.0f", p.TokensPerSecond(i)),
				fmt.Sprintf("%.2f", sp), fmt.Sprintf("%.2f", sp/float64(e.Width)), fmt.Sprintf("%.3f", p.Inflation(i)),
				fmt.Sprintf("%.1f", 100*e.Burden.Seconds()/e.Time.Seconds()), ms, ratio, fmt.Sprintf("%.2f", p.SplitSpeedup(i)), fmt.Sprintf("%.2f", blo), fmt.Sprintf("%.2f", bhi)})
			s.X, s.Y = append(s.X, float64(e.Width)), append(s.Y, sp)
		}
		chart.Series = append(chart.Series, s)
		if len(meas.X) > 0 {
			chart.Series = append(chart.Series, meas)
		}
	}
	if err := rep.CSV("scaling.csv", header, rows); err != nil {
		return nil, err
	}
	rep.Table(header, rows)
	rep.Heading("By phase")
	rep.Para("Predicted time per step (ms) and work inflation by phase of the step, at each thread count.")
	pheader, prows := phaseRows(profiles)
	rep.Table(pheader, prows)
	if err := rep.CSV("scaling_phases.csv", pheader, prows); err != nil {
		return nil, err
	}
	files, err := chart.Save(sc.Out, "scaling")
	if err != nil {
		return nil, err
	}
	rep.Figure(files, "predicted speedup against threads")
	return rep.Finish(header, rows)
}

// phaseRows are the predicted time and work inflation of each phase,
// by workload and thread count.
func phaseRows(profiles []*scaling.Profile) ([]string, [][]string) {
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
	return pheader, prows
}

// machineLine is the report's line of what was measured for profile p:
// its steps, the pool's burden and α by phase.
func machineLine(p *scaling.Profile) string {
	m := p.Machine
	var alpha []string
	for ph := phase.Other; ph < phase.Count; ph++ {
		if a := m.Alpha[ph]; a > 0 || m.Placement[ph] > 0 || m.Concurrency[ph] > 0 {
			alpha = append(alpha, fmt.Sprintf("%s %.3f [%.3f–%.3f] (placement %.3f, concurrency %.3f)", ph, a, m.AlphaLow[ph], m.AlphaHigh[ph], m.Placement[ph], m.Concurrency[ph]))
		}
	}
	if len(alpha) == 0 {
		alpha = []string{"none measured"}
	}
	return fmt.Sprintf("- %s: %d steps per thread count; burden %v + %v·(t−1) + %v; α %s", p.Name, p.Steps, m.Post, m.Wake, m.Join, strings.Join(alpha, ", "))
}
