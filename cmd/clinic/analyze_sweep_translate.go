package main

import (
	"io"

	"github.com/clinic-ml/clinic/internal/experiment"
	"github.com/clinic-ml/clinic/internal/rundir"
	"github.com/clinic-ml/clinic/internal/task"
	"github.com/clinic-ml/clinic/internal/task/translation"
	"github.com/clinic-ml/clinic/model"
)

// runTranslateSweep is 'clinic analyze sweep --task translate': the
// paper's depth table at a scale a CPU server affords.
func runTranslateSweep(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("analyze sweep --task translate", "The paper's translation table, small: for each depth in --depths (layers on each side)\n"+
		"and each norm in --norms, train an encoder–decoder (like 'clinic train --task translate',\n"+
		"quietly), average its last --avg-last checkpoints, translate the test set with beam\n"+
		"search and score it with BLEU (sacreBLEU 13a). The built-in corpus's test set is Acts;\n"+
		"with --data give --test-data (a TSV in --columns), with --src/--tgt give --test-src and\n"+
		"--test-tgt (or --test-data). A run whose loss became NaN or infinite, or ended above\n"+
		"ln V (V the vocabulary size: worse than a uniform guess), diverged and is not tested.\n"+
		"Writes sweep.csv, sweep_curves.csv, sweep_curves.png/.svg, report.md, and each run under DIR/runs/<norm>-L<depth>.", stdout)
	var mf modelFlags
	var o trainOpts
	mf.register(fs)
	o.register(fs)
	tasks := task.AddFlags(fs, translation.Kind{}.Name())
	depthsS := fs.String("depths", "6,18", "comma-separated layers per side")
	normsS := fs.String("norms", "postln,preln,admin", "comma-separated variants: "+model.NormList)
	s := &experiment.TranslateSweep{}
	fs.IntVar(&s.AvgLast, "avg-last", 5, "average the last N checkpoints (saved every --save-every steps) before testing")
	fs.IntVar(&s.Beam, "beam", 5, "beam size for the test set")
	fs.Float64Var(&s.LenPen, "lenpen", 1, "length penalty for the test set")
	// fairseq generate's own default (a = 0, b = 200) lets a model early in
	// training repeat itself to 200 tokens on every sentence, which
	// costs more than the training at this scale and says nothing more.
	fs.Float64Var(&s.MaxLenA, "max-len-a", 1.2, "test outputs have at most a·srclen + b tokens (fairseq's validation setting; 0 and 200 are its generate defaults)")
	fs.IntVar(&s.MaxLenB, "max-len-b", 10, "see --max-len-a")
	fs.StringVar(&s.TestData, "test-data", "", "test pairs, a TSV in --columns (default: the built-in corpus's test book, Acts)")
	fs.StringVar(&s.TestSrc, "test-src", "", "test source sentences, one per line (with --test-tgt; instead of --test-data)")
	fs.StringVar(&s.TestTgt, "test-tgt", "", "test reference translations, line-aligned with --test-src")
	cont := fs.Bool("continue", false, "continue the sweep in --out, run with the same flags: keep its finished runs, resume the unfinished ones from their last checkpoint")
	for name, v := range map[string]string{"d-model": "128", "d-ff": "512", "heads": "4", "steps": "2000",
		"save-every": "100", "eval-every": "100", "bleu-every": "0", "out": "runs/analyze-sweep-translate"} {
		task.SetDefault(fs, name, v)
	}
	hidden := []hiddenFlag{{"layers", "--depths"}, {"encoder-layers", "--depths"}, {"norm", "--norms"},
		{"admin-profile", "--admin-init (a profile fits one depth only)"}, {"keep-last", "--avg-last"}}
	overwrite := fs.Bool("overwrite", false, "replace an earlier sweep in --out (report.md, runs/)")
	hideFlags(fs, hidden...)
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := checkHidden(fs, hidden...); err != nil {
		return err
	}
	kind, err := tasks.Check(fs, &mf.cfg)
	if err != nil {
		return err
	}
	tf := kind.(*translation.Flags)
	if err := s.Check(o.SaveEvery, fs.Changed("data") || tf.Src != ""); err != nil {
		return err
	}
	depths, norms, err := sweepConfig(&mf, &o, *depthsS, *normsS, true)
	if err != nil {
		return err
	}
	s.Sweep, s.Options = o.sweep(depths, norms, *cont, args, stderr), tf.Options
	if err := s.Load(); err != nil {
		return err
	}
	if err := rundir.CheckReportDir(o.Dir, *overwrite || *cont, o.Data, tf.Src, tf.Tgt, tf.BPECodes, s.TestData, s.TestSrc, s.TestTgt); err != nil {
		return err
	}
	release, err := openSweepDir(fs, o.Dir, *cont, *overwrite, tf.BPECodes, s.TestData, s.TestSrc, s.TestTgt)
	if err != nil {
		return err
	}
	defer release()
	return printSummary(stdout)(s.Run())
}
