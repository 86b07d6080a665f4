package experiment

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"time"

	"github.com/clinic-ml/clinic/asm"
	"github.com/clinic-ml/clinic/internal/data"
	"github.com/clinic-ml/clinic/internal/plot"
	"github.com/clinic-ml/clinic/internal/task/lm"
	"github.com/clinic-ml/clinic/internal/train"
)

// LMSweep is the depth experiment of the language model: each depth ×
// norm trained on the text like 'clinic train', quietly; a run is
// trained, stalled (its final validation loss not Margin nats below the
// unigram entropy of the training text) or diverged.
type LMSweep struct {
	Sweep
	Margin float64

	source string
	h      float64 // the unigram entropy of the training text
}

// Load reads the training text (before the sweep's folder is touched:
// a bad --data leaves it as it was).
func (s *LMSweep) Load() error {
	text, source, err := lm.LoadText(s.Job.Data)
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
	case res.Diverged || LossDiverged(v, 256):
		return StatusDiverged
	case v > h-margin:
		return StatusStalled
	}
	return StatusTrained
}

// startSweep begins a sweep's report and starts the pool every run of
// the sweep shares (done stops it).
func startSweep(job *train.Job, title string) (rep *report, pool *asm.Pool, done func(), err error) {
	if rep, err = newReport(job.Dir, title); err != nil {
		return nil, nil, nil, err
	}
	if pool, done, err = job.Workers(); err != nil {
		return nil, nil, nil, err
	}
	job.Pool = pool
	return rep, pool, done, nil
}

// Run trains every run (Load first) and writes the report.
func (s *LMSweep) Run() (*Summary, error) {
	rep, pool, done, err := startSweep(&s.Job, "Depth sweep: training each variant at each depth")
	if err != nil {
		return nil, err
	}
	defer done()
	runs, err := s.each(sweepRun{
		label: func(d int, norm string) string { return fmt.Sprintf("%s, %d layers", norm, d) },
		job:   func(*train.Job, int) {},
		run:   s.run,
		done: func(label string, r sweepResult, start time.Time) string {
			return fmt.Sprintf("%s: final validation loss %s, %s (%s)\n", label, fourPlaces(r.FinalValLoss), r.Status, time.Since(start).Round(time.Second))
		},
	})
	if err != nil {
		return nil, err
	}
	return s.report(rep, runs, pool.Threads())
}

// run trains one run and classifies it.
func (s *LMSweep) run(ro train.Job, d int, norm string) (sweepResult, error) {
	res, err := lm.Run(ro)
	var de *train.DivergedError
	if errors.As(err, &de) {
		err = nil // a diverged run is a result of the sweep
	}
	if err != nil {
		return sweepResult{}, fmt.Errorf("%s with %d layers: %w", norm, d, err)
	}
	r := sweepResult{Depth: d, Norm: norm, Status: SweepStatus(res, s.h, s.Margin), FinalStep: res.Final.Step,
		FinalLoss: num(res.Final.Loss), FinalValLoss: num(res.Final.ValLoss), Curve: res.Curve}
	if res.Diverged {
		r.DivergedAt = res.FailStep
	}
	if ro.Resume != nil {
		// The whole run's evaluations, not only this invocation's
		// (which has none if the run had reached its last step).
		if r.Curve, err = valCurve(filepath.Join(ro.Dir, "metrics.jsonl")); err != nil {
			return r, err
		}
		if n := len(r.Curve); n > 0 && !res.Diverged {
			last := r.Curve[n-1]
			r.FinalStep, r.FinalLoss, r.FinalValLoss = last.Step, num(last.Loss), num(last.ValLoss)
			r.Status = SweepStatus(&train.Result{Final: last}, s.h, s.Margin)
		}
	}
	return r, nil
}

// report writes sweep.csv, the curves and report.md.
func (s *LMSweep) report(rep *report, runs []sweepResult, threads int) (*Summary, error) {
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
		rows = append(rows, []string{strconv.Itoa(r.Depth), r.Norm, strconv.Itoa(r.FinalStep), r.FinalLoss, r.FinalValLoss, num(h), r.Status, div, num(j.Optim.LR)})
		trows = append(trows, []string{strconv.Itoa(r.Depth), r.Norm, fourPlaces(r.FinalValLoss), r.Status})
	}
	if err := rep.csv("sweep.csv", header, rows); err != nil {
		return nil, err
	}
	names, err := saveCurves(rep, chart, s.Depths, runs)
	if err != nil {
		return nil, err
	}
	rep.para("Command: `%s`", s.Command)
	rep.para("Each run trains a %s model on %s for %d steps of %d×%d bytes (%s, peak learning rate %g, %d warm-up steps, %s schedule, dropout %g, clipping %g), seed %d, %d worker thread(s). Validation every %d steps on %d batches.",
		shapeText(cfg), s.source, j.Steps, j.Batch, cfg.SeqLen, j.Optim.Name, j.Optim.LR, j.Optim.Warmup, j.Optim.Schedule, cfg.Dropout, j.Optim.Clip, j.Seed, threads, j.EvalEvery, j.EvalBatches)
	rep.para("Status: *diverged* when the loss became NaN or infinite or the final validation loss is above ln 256 = 5.545 (worse than a uniform guess); *stalled* when the final validation loss is not more than %g nats below the unigram entropy of the training text (%.4f nats/byte: the loss of a model that ignores context); *trained* otherwise.", s.Margin, h)
	rep.table([]string{"depth", "norm", "final validation loss", "status"}, trows)
	rep.figure(names, "validation loss curves")
	rep.dropped(chart.Dropped)
	for _, r := range runs {
		rep.files = append(rep.files, filepath.ToSlash(filepath.Join("runs", fmt.Sprintf("%s-L%d", r.Norm, r.Depth), "metrics.jsonl")))
	}
	if err := rep.save(); err != nil {
		return nil, err
	}
	return &Summary{[]string{"depth", "norm", "final val loss", "status"}, trows,
		fmt.Sprintf("unigram entropy %.4f nats/byte; wrote %s", h, filepath.Join(j.Dir, "report.md"))}, nil
}
