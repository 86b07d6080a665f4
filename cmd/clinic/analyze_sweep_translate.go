package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/clinic-ml/clinic/asm"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/clinic-ml/clinic/internal/atomicfile"
	"github.com/clinic-ml/clinic/internal/bleu"
	"github.com/clinic-ml/clinic/internal/bpe"
	"github.com/clinic-ml/clinic/internal/corpus"
	"github.com/clinic-ml/clinic/internal/data"
	"github.com/clinic-ml/clinic/internal/fileutil"
	"github.com/clinic-ml/clinic/internal/metrics"
	"github.com/clinic-ml/clinic/internal/plot"
	"github.com/clinic-ml/clinic/internal/train"
	"github.com/clinic-ml/clinic/model"
	"github.com/spf13/pflag"
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
	var tf translateFlags
	mf.register(fs)
	o.register(fs)
	tf.register(fs)
	tf.defaults(fs)
	depthsS := fs.String("depths", "6,18", "comma-separated layers per side")
	normsS := fs.String("norms", "postln,preln,admin", "comma-separated variants: "+model.NormList)
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
	if err := tf.check(fs); err != nil {
		return err
	}
	depths, err := parseDepths("depths", *depthsS)
	if err != nil {
		return err
	}
	norms, err := parseNorms("norms", *normsS)
	if err != nil {
		return err
	}
	if err := checkSize("avg-last", *avgLast, 1, maxRepeats); err != nil {
		return err
	}
	if err := checkDecodeFlags(*beam, *lenpen, *maxLenA, *maxLenB); err != nil {
		return err
	}
	switch {
	case o.saveEvery < 1:
		return usagef("--save-every must be at least 1: the averaged checkpoints are saved on it")
	case (*testSrc == "") != (*testTgt == ""):
		return usagef("--test-src and --test-tgt go together")
	case *testSrc != "" && *testData != "":
		return usagef("give the test pairs as --test-data or as --test-src/--test-tgt, not both")
	case (fs.Changed("data") || tf.src != "") && *testData == "" && *testSrc == "":
		return usagef("with your own training data, give its test pairs: --test-data, or --test-src and --test-tgt")
	}
	mf.cfg.Layers, mf.cfg.EncoderLayers, mf.cfg.Norm = depths[0], depths[0], norms[0]
	if fs.Changed("max-len") {
		mf.cfg.SeqLen = tf.maxLen
	}
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
	var test []data.Pair
	testName := "Acts"
	switch {
	case *testData != "":
		if test, err = loadTSVPairs(*testData, tf); err != nil {
			return err
		}
		testName = *testData
	case *testSrc != "":
		if test, err = data.LoadAligned(*testSrc, *testTgt); err != nil {
			return err
		}
		testName = *testSrc + " / " + *testTgt
	default:
		_, _, acts := corpus.BibleSplits()
		for _, p := range acts {
			if tf.srcLang == "en" {
				test = append(test, data.Pair{Src: p.English, Tgt: p.Spanish})
			} else {
				test = append(test, data.Pair{Src: p.Spanish, Tgt: p.English})
			}
		}
	}
	if err := checkReportDir(o.out, *overwrite || *cont, o.dataPath, tf.src, tf.tgt, tf.bpeCodes, *testData, *testSrc, *testTgt); err != nil {
		return err
	}
	release, err := openSweepDir(fs, o.out, *cont, *overwrite, tf.bpeCodes, *testData, *testSrc, *testTgt)
	if err != nil {
		return err
	}
	defer release()
	rep, err := newReport(o.out, "Translation depth sweep: the paper's table, small")
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
	// One joint BPE for every run, learned once (every run would learn
	// the same codes from the same pairs).
	if tf.bpeCodes == "" && *cont {
		// A sweep killed before it saved its codes started no run:
		// they are learned again.
		if _, err := os.Lstat(filepath.Join(o.out, "bpe.codes")); err == nil {
			tf.bpeCodes = filepath.Join(o.out, "bpe.codes")
		}
	}
	// the vocabulary of every run, which says what loss is diverged:
	// learned once here, or read from --bpe-codes (or the sweep's own)
	var codes *bpe.Codes
	if tf.bpeCodes == "" {
		trainPairs, _, _, err := loadPairs(o, tf)
		if err != nil {
			return err
		}
		if codes, err = learnCodes(o, tf, trainPairs, io.Discard); err != nil {
			return err
		}
		if err := saveCodes(filepath.Join(o.out, "bpe.codes"), codes); err != nil {
			return err
		}
		tf.bpeCodes = filepath.Join(o.out, "bpe.codes")
	} else if codes, err = loadCodes(tf.bpeCodes); err != nil {
		return err
	}
	// The test's beam search must fit too, known before hours of training.
	deepest := cfg
	deepest.Layers, deepest.EncoderLayers, deepest.Vocab = depths[len(depths)-1], depths[len(depths)-1], codes.Size()
	if err := checkFits("testing with --beam", model.TranslatorBytes(deepest, scoreBatch, scoreBatch**beam), "use a smaller --beam"); err != nil {
		return err
	}

	var runs []sweepResult
	total := len(depths) * len(norms)
	for _, d := range depths {
		for _, norm := range norms {
			ro := o
			ro.cfg.Layers, ro.cfg.EncoderLayers, ro.cfg.Norm = d, d, norm
			ro.out = filepath.Join(o.out, "runs", fmt.Sprintf("%s-L%d", norm, d))
			ro.quiet, ro.keepLast = true, *avgLast
			resPath := filepath.Join(ro.out, "result.json")
			label := fmt.Sprintf("sweep: [%d/%d] %s, %d+%d layers", len(runs)+1, total, norm, d, d)
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
			res, err := trainTranslate(ro, tf, io.Discard, io.Discard)
			r := sweepResult{Depth: d, Norm: norm, Status: statusTrained}
			var de *train.DivergedError
			if errors.As(err, &de) {
				err, r.Status, r.DivergedAt = nil, statusDiverged, de.Step
			}
			if err != nil {
				return fmt.Errorf("%s with %d layers: %w", norm, d, err)
			}
			final := res.Final
			if r.Curve, err = valCurve(filepath.Join(ro.out, "metrics.jsonl")); err != nil {
				return err
			}
			if n := len(r.Curve); n > 0 && r.Status == statusTrained {
				// The whole run's last evaluation, also when this
				// invocation only resumed it.
				final = r.Curve[n-1]
			}
			r.FinalStep, r.FinalValLoss = final.Step, num(final.ValLoss)
			if r.Status == statusTrained && lossDiverged(final.ValLoss, codes.Size()) {
				// blown up without a NaN: nothing to test
				r.Status = statusDiverged
			}
			if r.Status == statusTrained {
				sc, avg, err := testAveraged(pool, ro.out, test, *beam, *lenpen, *maxLenA, *maxLenB, stderr)
				if err != nil {
					return fmt.Errorf("%s with %d layers: testing: %v", norm, d, err)
				}
				r.BLEU, r.Averaged, r.BLEULine = sc.Score, avg, sc.Line(2)
			}
			r.Seconds = time.Since(start).Seconds()
			if err := writeSweepResult(resPath, &r); err != nil {
				return err
			}
			fmt.Fprintf(stderr, "%s: validation loss %s, test BLEU %.2f (%s, %.0fs)\n", label,
				fourPlaces(r.FinalValLoss), r.BLEU, r.Status, r.Seconds)
			runs = append(runs, r)
		}
	}

	header := []string{"depth", "norm", "steps", "final_val_loss", "test_bleu", "averaged", "status", "diverged_at_step", "seconds", "lr"}
	var rows, trows [][]string
	var curves []sweepCurve
	chart := &plot.LineChart{Title: "Validation loss during training", XLabel: "step", YLabel: "validation loss (nats/target token)"}
	for _, r := range runs {
		div, b := "", ""
		if r.DivergedAt > 0 {
			div = strconv.Itoa(r.DivergedAt)
		}
		if r.Status == statusTrained {
			b = fmt.Sprintf("%.2f", r.BLEU)
		}
		rows = append(rows, []string{strconv.Itoa(r.Depth), r.Norm, strconv.Itoa(r.FinalStep), r.FinalValLoss, b,
			strconv.Itoa(r.Averaged), r.Status, div, strconv.Itoa(int(r.Seconds)), num(o.lr)})
		if b == "" {
			b = "—"
		}
		trows = append(trows, []string{fmt.Sprintf("%d+%d", r.Depth, r.Depth), r.Norm, b, fourPlaces(r.FinalValLoss), r.Status})
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
	rep.para("Each run trains an encoder–decoder with d_model %d, %d heads, d_ff %d and the given layers on each side for %d steps of ≤ %d tokens (%s, peak learning rate %g, %d warm-up steps, %s schedule, β = (%g, %g), dropout %g, label smoothing %g, clipping %g), seed %d, %d thread(s); it averages the last %d checkpoints (one every %d steps) and translates the test set (%s, %d pairs) with beam %d, length penalty %g and outputs of at most %g·source + %d tokens. BLEU is sacreBLEU's (13a tokenization, exp smoothing) on detokenized text.",
		cfg.DModel, cfg.Heads, cfg.DFF, o.steps, tf.maxTokens, o.optimizer, o.lr, o.warmup, o.schedule, o.beta1, o.beta2, cfg.Dropout, cfg.LabelSmoothing, o.clip, o.seed, threads,
		*avgLast, o.saveEvery, testName, len(test), *beam, *lenpen, *maxLenA, *maxLenB)
	rep.para("Status: *diverged* when the loss became NaN or infinite or the final validation loss is above ln %d = %.3f (worse than guessing the %d subword tokens equally likely), and then not tested; *trained* otherwise.",
		codes.Size(), math.Log(float64(codes.Size())), codes.Size())
	rep.table([]string{"layers", "norm", "test BLEU", "final validation loss", "status"}, trows)
	rep.figure(names, "validation loss curves")
	rep.dropped(chart.Dropped)
	return rep.finish(stdout, []string{"layers", "norm", "test BLEU", "final val loss", "status"}, trows)
}

// saveCodes writes BPE codes atomically.
func saveCodes(path string, c *bpe.Codes) error {
	b, err := c.MarshalText()
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, b)
}

// testAveraged averages the numbered checkpoints in dir and scores its
// beam-search translations of test, warning on warn when sources longer
// than the model's seq-len were truncated (as 'clinic translate' does).
func testAveraged(pool *asm.Pool, dir string, test []data.Pair, beam int, lenpen, maxLenA float64, maxLenB int, warn io.Writer) (bleu.Score, int, error) {
	paths, err := train.KeptCheckpoints(dir)
	if err != nil {
		return bleu.Score{}, 0, err
	}
	if len(paths) == 0 {
		return bleu.Score{}, 0, fmt.Errorf("no checkpoints to average in %s", dir)
	}
	var ps []*model.Params
	var meta map[string]string
	for _, path := range paths {
		p, m, err := model.LoadCheckpoint(path)
		if err != nil {
			return bleu.Score{}, 0, err
		}
		ps, meta = append(ps, p), m
	}
	avg, err := model.Average(ps)
	if err != nil {
		return bleu.Score{}, 0, err
	}
	codes, err := translatorCodes(paths[len(paths)-1], avg, meta)
	if err != nil {
		return bleu.Score{}, 0, err
	}
	const batch = scoreBatch
	maxHyp, err := sizeProduct("--beam", batch, beam)
	if err != nil {
		return bleu.Score{}, 0, err
	}
	tr, err := model.NewTranslator(avg, batch, maxHyp)
	if err != nil {
		return bleu.Score{}, 0, err
	}
	tr.SetPool(pool)
	srcs := make([][]int32, len(test))
	refs := make([]string, len(test))
	cut := 0
	for i, p := range test {
		var n int
		if srcs[i], n = train.SourceIDs(codes, p.Src, avg.Cfg.SeqLen); n > avg.Cfg.SeqLen-1 {
			cut++
		}
		refs[i] = p.Tgt
	}
	if cut > 0 {
		fmt.Fprintf(warn, "clinic analyze: warning: %d of %d test sources are longer than the model's seq-len (%d subword tokens with the EOS) and were truncated\n", cut, len(test), avg.Cfg.SeqLen)
	}
	opt := train.DecodeOptions(avg.Cfg, beam, lenpen)
	opt.MaxLenA, opt.MaxLenB = maxLenA, maxLenB
	opt.Pool = pool
	hyps, err := train.TranslateIDs(tr, codes, srcs, batch, opt)
	if err != nil {
		return bleu.Score{}, 0, err
	}
	sc, err := bleu.Corpus(hyps, [][]string{refs}, bleu.Options{})
	return sc, len(ps), err
}

// sweepResult is one finished run of a sweep (the LM's or the
// translation's), saved as runs/<norm>-L<depth>/result.json so that
// --continue keeps it.
type sweepResult struct {
	Depth        int           `json:"depth"`
	Norm         string        `json:"norm"`
	Status       string        `json:"status"`
	FinalStep    int           `json:"final_step"`
	FinalLoss    string        `json:"final_loss,omitempty"` // the LM sweep's last training loss
	FinalValLoss string        `json:"final_val_loss"`       // a string: it may be NaN
	DivergedAt   int           `json:"diverged_at,omitempty"`
	BLEU         float64       `json:"test_bleu,omitempty"`
	BLEULine     string        `json:"test_bleu_line,omitempty"`
	Averaged     int           `json:"averaged"`
	Seconds      float64       `json:"seconds"`
	Curve        []train.Point `json:"curve"`
}

func writeSweepResult(path string, r *sweepResult) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, append(b, '\n'))
}

func readSweepResult(path string) (*sweepResult, error) {
	b, err := fileutil.ReadRegular(path, maxSmallFile)
	if err != nil {
		return nil, err
	}
	var r sweepResult
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return &r, nil
}

// valCurve reads a run's validation points from its metrics (the whole
// run, also when it was resumed).
func valCurve(path string) ([]train.Point, error) {
	recs, err := metrics.ReadAll(path)
	if err != nil {
		return nil, err
	}
	var pts []train.Point
	for _, r := range recs {
		v, ok := r["val_loss"].(float64)
		if !ok {
			continue
		}
		step, _ := r["step"].(float64)
		loss, _ := r["loss"].(float64)
		pts = append(pts, train.Point{Step: int(step), Loss: loss, ValLoss: v})
	}
	return pts, nil
}

// continuedRun is what a continued sweep does with the run in dir
// (label names it in the log): its result if it finished (the run is
// kept), else its trainer state if it has one (the run resumes from
// it), else neither (it starts).
func continuedRun(dir string, stderr io.Writer, label string) (*sweepResult, *train.State, error) {
	if r, err := readSweepResult(filepath.Join(dir, "result.json")); err == nil {
		fmt.Fprintf(stderr, "%s: finished earlier, kept\n", label)
		return r, nil, nil
	}
	st, err := train.ReadState(filepath.Join(dir, stateFile))
	switch {
	case err == nil:
		fmt.Fprintf(stderr, "%s: resuming at step %d\n", label, st.Step)
		return nil, st, nil
	case errors.Is(err, train.ErrNoState):
		return nil, nil, nil
	}
	return nil, nil, err
}

// sweepFlagsFile records the flags of a sweep, which --continue must
// repeat.
const sweepFlagsFile = "sweep_flags.json"

// sweepMayChange are the flags a continued sweep may set anew.
var sweepMayChange = []string{"threads", "specialized", "continue", "overwrite", "help"}

func sweepFlags(fs *pflag.FlagSet) map[string]string {
	m := map[string]string{}
	fs.VisitAll(func(f *pflag.Flag) {
		if !slices.Contains(sweepMayChange, f.Name) {
			m[f.Name] = f.Value.String()
		}
	})
	return m
}

func saveSweepFlags(dir string, fs *pflag.FlagSet) error {
	b, err := json.MarshalIndent(sweepFlags(fs), "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, sweepFlagsFile), append(b, '\n'))
}

// openSweepDir locks the sweep directory dir: with cont, an earlier
// sweep there run with the flags fs repeats (continueSweep); else a new
// sweep (an earlier one only with overwrite), whose flags it records.
// keep lists input files that may lie in dir.
func openSweepDir(fs *pflag.FlagSet, dir string, cont, overwrite bool, keep ...string) (func(), error) {
	if cont {
		if overwrite {
			return nil, usagef("--continue keeps the earlier sweep, --overwrite replaces it: give one")
		}
		return continueSweep(dir, fs)
	}
	release, err := prepareSweepDir(dir, overwrite, keep...)
	if err != nil {
		return nil, err
	}
	if err := saveSweepFlags(dir, fs); err != nil {
		release()
		return nil, err
	}
	return release, nil
}

// continueSweep locks the sweep in dir and checks that fs repeats its
// flags.
func continueSweep(dir string, fs *pflag.FlagSet) (func(), error) {
	b, err := fileutil.ReadRegular(filepath.Join(dir, sweepFlagsFile), maxSmallFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil, usagef("--continue: %s holds no sweep to continue (%v)", dir, errors.Unwrap(err))
	}
	if err != nil {
		return nil, fmt.Errorf("--continue: %v", err)
	}
	var saved map[string]string
	if err := json.Unmarshal(b, &saved); err != nil {
		return nil, fmt.Errorf("--continue: %s: %v", filepath.Join(dir, sweepFlagsFile), err)
	}
	for n, v := range sweepFlags(fs) {
		if sv, ok := saved[n]; ok && sv != v {
			return nil, usagef("--%s %s differs from the sweep in %s, run with --%s %s (on --continue only --threads may change)", n, v, dir, n, sv)
		}
	}
	release, err := lockRunDir(dir)
	if err != nil {
		return nil, err
	}
	// The runs' temporary files of saves a kill cut short go too.
	runs, _ := filepath.Glob(filepath.Join(dir, "runs", "*"))
	for _, sub := range runs {
		if st, err := os.Lstat(sub); err != nil || !st.IsDir() {
			continue
		}
		if err := cleanRunDir(sub, false, nil, nil, nil); err != nil {
			release()
			return nil, err
		}
	}
	return release, nil
}

// fourPlaces formats a loss kept as a string (it may be NaN) to four
// decimals for tables.
func fourPlaces(v string) string {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return v
	}
	return fmt.Sprintf("%.4f", f)
}
