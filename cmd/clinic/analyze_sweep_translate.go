package main

import (
	"io"

	"github.com/clinic-ml/clinic/internal/experiment"
	"github.com/clinic-ml/clinic/internal/limits"
	"github.com/clinic-ml/clinic/internal/task"
	"github.com/clinic-ml/clinic/internal/task/translation"
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
	normsS := fs.String("norms", "postln,preln,admin", "comma-separated variants: postln, preln, admin, deepnorm, rezero, tfixup")
	avgLast := fs.Int("avg-last", 5, "average the last N checkpoints (saved every --save-every steps) before testing")
	beam := fs.Int("beam", 5, "beam size for the test set")
	lenpen := fs.Float64("lenpen", 1, "length penalty for the test set")
	// fairseq generate's own default (a = 0, b = 200) lets a model early in
	// training repeat itself to 200 tokens on every sentence, which
	// costs more than the training at this scale and says nothing more.
	maxLenA := fs.Float64("max-len-a", 1.2, "test outputs have at most a·srclen + b tokens (fairseq's validation setting; 0 and 200 are its generate defaults)")
	maxLenB := fs.Int("max-len-b", 10, "see --max-len-a")
	testData := fs.String("test-data", "", "test pairs, a TSV in --columns (default: the built-in corpus's test book, Acts)")
	testSrc := fs.String("test-src", "", "test source sentences, one per line (with --test-tgt; instead of --test-data)")
	testTgt := fs.String("test-tgt", "", "test reference translations, line-aligned with --test-src")
	cont := fs.Bool("continue", false, "continue the sweep in --out, run with the same flags: keep its finished runs, resume the unfinished ones from their last checkpoint")
	for name, v := range map[string]string{"d-model": "128", "d-ff": "512", "heads": "4", "steps": "2000",
		"save-every": "100", "eval-every": "100", "bleu-every": "0", "out": "runs/analyze-sweep-translate"} {
		setDefault(fs, name, v)
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
	if err := limits.CheckSize("avg-last", *avgLast, 1, limits.MaxRepeats); err != nil {
		return err
	}
	if err := checkDecodeFlags(*beam, *lenpen, *maxLenA, *maxLenB); err != nil {
		return err
	}
	switch {
	case o.SaveEvery < 1:
		return usagef("--save-every must be at least 1: the averaged checkpoints are saved on it")
	case (*testSrc == "") != (*testTgt == ""):
		return usagef("--test-src and --test-tgt go together")
	case *testSrc != "" && *testData != "":
		return usagef("give the test pairs as --test-data or as --test-src/--test-tgt, not both")
	case (fs.Changed("data") || tf.Src != "") && *testData == "" && *testSrc == "":
		return usagef("with your own training data, give its test pairs: --test-data, or --test-src and --test-tgt")
	}
	depths, norms, err := sweepConfig(&mf, &o, *depthsS, *normsS, true)
	if err != nil {
		return err
	}
	s := &experiment.TranslateSweep{Sweep: o.sweep(depths, norms, *cont, args, stderr), Options: tf.Options, AvgLast: *avgLast,
		Beam: *beam, LenPen: *lenpen, MaxLenA: *maxLenA, MaxLenB: *maxLenB, TestData: *testData, TestSrc: *testSrc, TestTgt: *testTgt}
	if err := s.Load(); err != nil {
		return err
	}
	if err := checkReportDir(o.Dir, *overwrite || *cont, o.Data, tf.Src, tf.Tgt, tf.BPECodes, *testData, *testSrc, *testTgt); err != nil {
		return err
	}
	release, err := openSweepDir(fs, o.Dir, *cont, *overwrite, tf.BPECodes, *testData, *testSrc, *testTgt)
	if err != nil {
		return err
	}
	defer release()
	return printSummary(stdout)(s.Run())
}
