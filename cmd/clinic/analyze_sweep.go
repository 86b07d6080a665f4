package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/clinic-ml/clinic/internal/data"
	"github.com/clinic-ml/clinic/internal/plot"
	"github.com/clinic-ml/clinic/internal/train"
	"github.com/clinic-ml/clinic/model"
)

// unigramEntropy is the entropy in nats per byte of the byte frequencies
// of text: the loss of the best model that ignores context.
func unigramEntropy(text []byte) float64 {
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

// Run statuses of the sweep.
const (
	statusTrained  = "trained"
	statusStalled  = "stalled"
	statusDiverged = "diverged"
)

// lossDiverged is both sweeps' rule for a run that blew up: its final
// validation loss is not finite, or is above ln V, the loss of guessing
// each of the V tokens of the vocabulary equally likely (label
// smoothing or not). A run can blow up to a loss of thousands and stay
// finite.
func lossDiverged(valLoss float64, vocab int) bool {
	return math.IsInf(valLoss, 0) || !(valLoss <= math.Log(float64(vocab)))
}

// sweepStatus classifies a finished run of the language-model sweep:
// diverged when the loss became NaN or infinite or lossDiverged (above
// ln 256), stalled when it is not more than margin below the unigram
// entropy h, trained otherwise.
func sweepStatus(res *train.Result, h, margin float64) string {
	v := res.Final.ValLoss
	switch {
	case res.Diverged || lossDiverged(v, 256):
		return statusDiverged
	case v > h-margin:
		return statusStalled
	}
	return statusTrained
}

func runAnalyzeSweep(args []string, stdout, stderr io.Writer) error {
	if taskOf(args) == taskTranslate {
		return runTranslateSweep(args, stdout, stderr)
	}
	fs := newFlags("analyze sweep", "The depth experiment: for each depth in --depths and each norm in --norms, train\n--steps steps on the text (like 'clinic train', quietly), record the loss curve and\nthe final validation loss, and call the run trained, stalled (final validation loss\nnot more than --stall-margin nats below the unigram entropy of the training text)\nor diverged (the loss became NaN or infinite, or ended above ln 256, worse than a\nuniform guess). Writes sweep.csv (one row per run),\nsweep_curves.csv, sweep_curves.png/.svg, report.md and each run's metrics and\ncheckpoint under DIR/runs/<norm>-L<depth>.", stdout)
	var mf modelFlags
	var o trainOpts
	mf.register(fs)
	o.register(fs)
	depthsS := fs.String("depths", "6,18", "comma-separated numbers of layers")
	normsS := fs.String("norms", "postln,preln,admin", "comma-separated variants: "+model.NormList)
	margin := fs.Float64("stall-margin", 0.1, "a run whose final validation loss is not this many nats below the unigram entropy stalled")
	for name, v := range map[string]string{"d-model": "128", "d-ff": "512", "heads": "4", "seq-len": "128",
		"steps": "400", "warmup": "50", "batch-size": "16", "lr": "1e-3", "eval-every": "20", "eval-batches": "4",
		"save-every": "0", "out": "runs/analyze-sweep"} {
		setDefault(fs, name, v)
	}
	hidden := []hiddenFlag{{"layers", "--depths"}, {"norm", "--norms"}, {"admin-profile", "--admin-init (a profile fits one depth only)"}}
	overwrite := fs.Bool("overwrite", false, "replace an earlier sweep in --out (report.md, runs/)")
	cont := fs.Bool("continue", false, "continue the sweep in --out, run with the same flags: keep its finished runs, resume the unfinished ones from their last checkpoint")
	task := fs.String("task", taskLM, "lm (byte-level language models, these flags) or translate (encoder–decoders and the BLEU table: 'clinic analyze sweep --task translate --help')")
	hideFlags(fs, hidden...)
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := checkHidden(fs, hidden...); err != nil {
		return err
	}
	if *task != taskLM {
		return usagef("--task must be lm or translate, got %q", *task)
	}
	depths, err := parseDepths("depths", *depthsS)
	if err != nil {
		return err
	}
	norms, err := parseNorms("norms", *normsS)
	if err != nil {
		return err
	}
	if !(*margin >= 0) || math.IsInf(*margin, 0) {
		return usagef("--stall-margin must be ≥ 0, got %g", *margin)
	}
	mf.cfg.Layers, mf.cfg.Norm = depths[0], norms[0]
	cfg, err := mf.config()
	if err != nil {
		return err
	}
	if err := checkDepths(cfg, depths, norms); err != nil {
		return err
	}
	o.cfg = cfg
	if o.adminInit != "profile" {
		if !slices.Contains(norms, model.Admin) {
			return usagef("--admin-init needs admin in --norms")
		}
		o.cfg.Norm = model.Admin
	}
	if err := o.check(); err != nil {
		return err
	}
	o.cfg = cfg
	text, source, err := loadText(o.dataPath)
	if err != nil {
		return err
	}
	trainText, _ := data.Split(text, o.valFrac)
	h := unigramEntropy(trainText)
	if err := checkReportDir(o.out, *overwrite || *cont, o.dataPath); err != nil {
		return err
	}
	release, err := openSweepDir(fs, o.out, *cont, *overwrite, o.dataPath)
	if err != nil {
		return err
	}
	defer release()
	rep, err := newReport(o.out, "Depth sweep: training each variant at each depth")
	if err != nil {
		return err
	}
	pool, done, err := o.workers() // every run of the sweep shares it
	if err != nil {
		return err
	}
	defer done()
	o.pool = pool
	threads := pool.Threads()

	var runs []sweepResult
	total := len(depths) * len(norms)
	for _, d := range depths {
		for _, norm := range norms {
			ro := o
			ro.cfg.Layers, ro.cfg.Norm = d, norm
			ro.out = filepath.Join(o.out, "runs", fmt.Sprintf("%s-L%d", norm, d))
			ro.quiet = true
			resPath := filepath.Join(ro.out, "result.json")
			label := fmt.Sprintf("sweep: [%d/%d] %s, %d layers", len(runs)+1, total, norm, d)
			if *cont {
				r, st, err := continuedRun(ro.out, stderr, label)
				if err != nil {
					return fmt.Errorf("%s with %d layers: %v", norm, d, err)
				}
				if r != nil {
					runs = append(runs, *r)
					continue
				}
				ro.resume = st
			}
			start := time.Now()
			fmt.Fprintf(stderr, "%s, %d steps ...\n", label, o.steps)
			res, err := trainRun(ro, io.Discard, io.Discard)
			var de *train.DivergedError
			if errors.As(err, &de) {
				err = nil // a diverged run is a result of the sweep
			}
			if err != nil {
				return fmt.Errorf("%s with %d layers: %w", norm, d, err)
			}
			r := sweepResult{Depth: d, Norm: norm, Status: sweepStatus(res, h, *margin), FinalStep: res.Final.Step,
				FinalLoss: num(res.Final.Loss), FinalValLoss: num(res.Final.ValLoss), Curve: res.Curve}
			if res.Diverged {
				r.DivergedAt = res.FailStep
			}
			if ro.resume != nil {
				// The whole run's evaluations, not only this invocation's
				// (which has none if the run had reached its last step).
				if r.Curve, err = valCurve(filepath.Join(ro.out, "metrics.jsonl")); err != nil {
					return err
				}
				if n := len(r.Curve); n > 0 && !res.Diverged {
					last := r.Curve[n-1]
					r.FinalStep, r.FinalLoss, r.FinalValLoss = last.Step, num(last.Loss), num(last.ValLoss)
					r.Status = sweepStatus(&train.Result{Final: last}, h, *margin)
				}
			}
			r.Seconds = time.Since(start).Seconds()
			if err := writeSweepResult(resPath, &r); err != nil {
				return err
			}
			fmt.Fprintf(stderr, "%s: final validation loss %s, %s (%s)\n", label,
				fourPlaces(r.FinalValLoss), r.Status, time.Since(start).Round(time.Second))
			runs = append(runs, r)
		}
	}

	header := []string{"depth", "norm", "steps", "final_loss", "final_val_loss", "unigram_entropy", "status", "diverged_at_step", "lr"}
	var rows, trows [][]string
	var curves []sweepCurve
	chart := &plot.LineChart{Title: "Validation loss during training", XLabel: "step", YLabel: "validation loss (nats/byte)",
		HLines: []plot.HLine{{Y: h, Label: fmt.Sprintf("unigram entropy %.3f", h)}}}
	for _, r := range runs {
		div := ""
		if r.DivergedAt > 0 {
			div = strconv.Itoa(r.DivergedAt)
		}
		rows = append(rows, []string{strconv.Itoa(r.Depth), r.Norm, strconv.Itoa(r.FinalStep), r.FinalLoss, r.FinalValLoss, num(h), r.Status, div, num(o.lr)})
		trows = append(trows, []string{strconv.Itoa(r.Depth), r.Norm, fourPlaces(r.FinalValLoss), r.Status})
		curves = append(curves, sweepCurve{r.Depth, r.Norm, r.Curve})
	}
	if err := rep.csv("sweep.csv", header, rows); err != nil {
		return err
	}
	names, err := saveCurves(rep, chart, o.out, depths, curves)
	if err != nil {
		return err
	}
	rep.para("Command: `%s`", commandLine("sweep", args))
	rep.para("Each run trains a %s model on %s for %d steps of %d×%d bytes (%s, peak learning rate %g, %d warm-up steps, %s schedule, dropout %g, clipping %g), seed %d, %d worker thread(s). Validation every %d steps on %d batches.",
		shapeText(cfg), source, o.steps, o.batch, cfg.SeqLen, o.optimizer, o.lr, o.warmup, o.schedule, cfg.Dropout, o.clip, o.seed, threads, o.evalEvery, o.evalBatches)
	rep.para("Status: *diverged* when the loss became NaN or infinite or the final validation loss is above ln 256 = 5.545 (worse than a uniform guess); *stalled* when the final validation loss is not more than %g nats below the unigram entropy of the training text (%.4f nats/byte: the loss of a model that ignores context); *trained* otherwise.", *margin, h)
	rep.table([]string{"depth", "norm", "final validation loss", "status"}, trows)
	rep.figure(names, "validation loss curves")
	rep.dropped(chart.Dropped)
	for _, r := range runs {
		rep.files = append(rep.files, filepath.ToSlash(filepath.Join("runs", fmt.Sprintf("%s-L%d", r.Norm, r.Depth), "metrics.jsonl")))
	}
	if err := rep.save(); err != nil {
		return err
	}
	printTable(stdout, []string{"depth", "norm", "final val loss", "status"}, trows)
	fmt.Fprintf(stdout, "unigram entropy %.4f nats/byte; wrote %s\n", h, filepath.Join(o.out, "report.md"))
	return nil
}

// sweepCurve is one run's validation curve in a sweep's report.
type sweepCurve struct {
	depth int
	norm  string
	curve []train.Point
}

// saveCurves writes sweep_curves.csv and chart (one series per run,
// coloured by norm, dashed by depth) in dir, and returns the figure's
// file names.
func saveCurves(rep *report, chart *plot.LineChart, dir string, depths []int, runs []sweepCurve) ([]string, error) {
	var rows [][]string
	for _, r := range runs {
		s := plot.Series{Label: fmt.Sprintf("%s L%d", r.norm, r.depth), Color: normColor(r.norm), Dash: slices.Index(depths, r.depth)}
		for _, p := range r.curve {
			rows = append(rows, []string{strconv.Itoa(r.depth), r.norm, strconv.Itoa(p.Step), num(p.Loss), num(p.ValLoss)})
			s.X, s.Y = append(s.X, float64(p.Step)), append(s.Y, p.ValLoss)
		}
		chart.Series = append(chart.Series, s)
	}
	if err := rep.csv("sweep_curves.csv", []string{"depth", "norm", "step", "loss", "val_loss"}, rows); err != nil {
		return nil, err
	}
	return chart.Save(dir, "sweep_curves")
}
