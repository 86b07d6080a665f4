package main

import (
	"io"
	"math"

	"github.com/clinic-ml/clinic/internal/experiment"
	"github.com/clinic-ml/clinic/internal/rundir"
	"github.com/clinic-ml/clinic/internal/task"
	"github.com/clinic-ml/clinic/internal/task/lm"
	"github.com/clinic-ml/clinic/model"
)

func runLMSweep(args []string, stdout, stderr io.Writer) error {
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
		task.SetDefault(fs, name, v)
	}
	hidden := []hiddenFlag{{"layers", "--depths"}, {"norm", "--norms"}, {"admin-profile", "--admin-init (a profile fits one depth only)"}}
	overwrite := fs.Bool("overwrite", false, "replace an earlier sweep in --out (report.md, runs/)")
	cont := fs.Bool("continue", false, "continue the sweep in --out, run with the same flags: keep its finished runs, resume the unfinished ones from their last checkpoint")
	taskName := fs.String("task", lm.Kind{}.Name(), "lm (byte-level language models, these flags) or translate (encoder–decoders and the BLEU table: 'clinic analyze sweep --task translate --help')")
	hideFlags(fs, hidden...)
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := checkHidden(fs, hidden...); err != nil {
		return err
	}
	if _, err := task.Lookup(*taskName); err != nil {
		return err
	}
	if !(*margin >= 0) || math.IsInf(*margin, 0) {
		return usagef("--stall-margin must be ≥ 0, got %g", *margin)
	}
	depths, norms, err := sweepConfig(&mf, &o, *depthsS, *normsS, false)
	if err != nil {
		return err
	}
	s := &experiment.LMSweep{Sweep: o.sweep(depths, norms, *cont, args, stderr), Margin: *margin}
	if err := s.Load(); err != nil {
		return err
	}
	if err := rundir.CheckReportDir(o.Dir, *overwrite || *cont, o.Data); err != nil {
		return err
	}
	release, err := openSweepDir(fs, o.Dir, *cont, *overwrite, o.Data)
	if err != nil {
		return err
	}
	defer release()
	return printSummary(stdout)(s.Run())
}
