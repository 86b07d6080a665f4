package lm

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"time"

	"github.com/clinic-ml/clinic/internal/data"
	"github.com/clinic-ml/clinic/internal/experiment"
	"github.com/clinic-ml/clinic/internal/plot"
	"github.com/clinic-ml/clinic/internal/train"
)

// Sweep is the depth experiment of the language model: each depth ×
// norm trained on the text like 'clinic train', quietly; a run is
// trained, stalled (its final validation loss not Margin nats below the
// unigram entropy of the training text) or diverged. The loop over the
// runs, continuing and the report are experiment's, shared with every
// task's sweep.
type Sweep struct {
	experiment.Sweep
	Margin float64

	source string
	h      float64 // the unigram entropy of the training text
}

// Load reads the training text (before the sweep's folder is touched:
// a bad --data leaves it as it was).
func (s *Sweep) Load() error {
	text, source, err := LoadText(s.Job.Data)
	if err != nil {
		return err
	}
	trainText, _ := data.Split(text, s.Job.ValFrac)
	s.source, s.h = source, UnigramEntropy(trainText)
	return nil
}

// UnigramEntropy is the entropy in nats per byte of the byte
// frequencies of text: the loss of the best model that ignores context.
func UnigramEntropy(text []byte) float64 {
	var counts [256]int
	for _, b := range text {
		counts[b]++
	}
	var h float64
	n := float64(len(text))
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / n
			h -= p * math.Log(p)
		}
	}
	return h
}

// SweepStatus classifies a finished run of the language-model sweep:
// diverged when the loss became NaN or infinite or LossDiverged (above
// ln 256), stalled when it is not more than margin below the unigram
// entropy h, trained otherwise.
func SweepStatus(res *train.Result, h, margin float64) string {
	v := res.Final.ValLoss
	switch {
	case res.Diverged || experiment.LossDiverged(v, 256):
		return experiment.StatusDiverged
	case v > h-margin:
		return experiment.StatusStalled
	}
	return experiment.StatusTrained
}

// Run trains every run (Load first) and writes the report.
func (s *Sweep) Run() (*experiment.Summary, error) {
	rep, pool, done, err := s.Start("Depth sweep: training each variant at each depth")
	if err != nil {
		return nil, err
	}
	defer done()
	runs, err := s.Each(experiment.SweepRun{
		Label: func(d int, norm string) string { return fmt.Sprintf("%s, %d layers", norm, d) },
		Job:   func(*train.Job, int) {},
		Run:   s.run,
		Done: func(label string, r experiment.SweepResult, start time.Time) string {
			return fmt.Sprintf("%s: final validation loss %s, %s (%s)\n", label, experiment.FourPlaces(r.FinalValLoss), r.Status, time.Since(start).Round(time.Second))
		},
	})
	if err != nil {
		return nil, err
	}
	return s.report(rep, runs, pool.Threads())
}

// run trains one run and classifies it.
func (s *Sweep) run(ro train.Job, d int, norm string) (experiment.SweepResult, error) {
	res, err := Run(ro)
	var de *train.DivergedError
	if errors.As(err, &de) {
		err = nil // a diverged run is a result of the sweep
	}
	if err != nil {
		return experiment.SweepResult{}, fmt.Errorf("%s with %d layers: %w", norm, d, err)
	}
	r := experiment.SweepResult{Depth: d, Norm: norm, Status: SweepStatus(res, s.h, s.Margin), FinalStep: res.Final.Step,
		FinalLoss: experiment.Num(res.Final.Loss), FinalValLoss: experiment.Num(res.Final.ValLoss), Curve: res.Curve}
	if res.Diverged {
		r.DivergedAt = res.FailStep
	}
	if ro.Resume != nil {
		// The whole run's evaluations, not only this invocation's
		// (which has none if the run had reached its last step).
		if r.Curve, err = experiment.ValCurve(filepath.Join(ro.Dir, train.MetricsFile)); err != nil {
			return r, err
		}
		if n := len(r.Curve); n > 0 && !res.Diverged {
			last := r.Curve[n-1]
			r.FinalStep, r.FinalLoss, r.FinalValLoss = last.Step, experiment.Num(last.Loss), experiment.Num(last.ValLoss)
			r.Status = SweepStatus(&train.Result{Final: last}, s.h, s.Margin)
		}
	}
	return r, nil
}

// report writes sweep.csv, the curves and report.md.
func (s *Sweep) report(rep *experiment.Report, runs []experiment.SweepResult, threads int) (*experiment.Summary, error) {
	j, cfg, h := s.Job, s.Job.Model, s.h
	header := []string{"depth", "norm", "steps", "final_loss", "final_val_loss", "unigram_entropy", "status", "diverged_at_step", "lr"}
	var rows, trows [][]string
	chart := &plot.LineChart{Title: "Validation loss during training", XLabel: "step", YLabel: "validation loss (nats/byte)",
		HLines: []plot.HLine{{Y: h, Label: fmt.Sprintf("unigram entropy %.3f", h)}}}
	for _, r := range runs {
		div := ""
		if r.DivergedAt > 0 {
			div = strconv.Itoa(r.DivergedAt)
		}
		rows = append(rows, []string{strconv.Itoa(r.Depth), r.Norm, strconv.Itoa(r.FinalStep), r.FinalLoss, r.FinalValLoss, experiment.Num(h), r.Status, div, experiment.Num(j.Optim.LR)})
		trows = append(trows, []string{strconv.Itoa(r.Depth), r.Norm, experiment.FourPlaces(r.FinalValLoss), r.Status})
	}
	names, err := experiment.SaveSweep(rep, s.Command, header, rows, chart, s.Depths, runs)
	if err != nil {
		return nil, err
	}
	rep.Para("Each run trains a %s model on %s for %d steps of %s (%s, peak learning rate %g, %d warm-up steps, %s schedule, dropout %g, clipping %g), seed %d, %d worker thread(s), %s GEMMs. Validation every %d steps on %d batches.",
		experiment.ShapeText(cfg), s.source, j.Steps, j.StepBatches(fmt.Sprintf("%d×%d bytes", j.Batch, cfg.SeqLen)), j.Optim.Name, j.Optim.LR, j.Optim.Warmup, j.Optim.Schedule, cfg.Dropout, j.Optim.Clip, j.Seed, threads, experiment.PrecisionText(j.Model), j.EvalEvery, j.EvalBatches)
	rep.Para("Status: *diverged* when the loss became NaN or infinite or the final validation loss is above ln 256 = 5.545 (worse than a uniform guess); *stalled* when the final validation loss is not more than %g nats below the unigram entropy of the training text (%.4f nats/byte: the loss of a model that ignores context); *trained* otherwise.", s.Margin, h)
	rep.Table([]string{"depth", "norm", "final validation loss", "status"}, trows)
	rep.Figure(names, "validation loss curves")
	rep.Dropped(chart.Dropped)
	for _, r := range runs {
		rep.Files = append(rep.Files, filepath.ToSlash(filepath.Join("runs", fmt.Sprintf("%s-L%d", r.Norm, r.Depth), train.MetricsFile)))
	}
	if err := rep.Save(); err != nil {
		return nil, err
	}
	return &experiment.Summary{Header: []string{"depth", "norm", "final val loss", "status"}, Rows: trows,
		Note: fmt.Sprintf("unigram entropy %.4f nats/byte; wrote %s", h, filepath.Join(j.Dir, "report.md"))}, nil
}
