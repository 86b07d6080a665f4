package translation

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/clinic-ml/clinic/asm"
	"github.com/clinic-ml/clinic/internal/bleu"
	"github.com/clinic-ml/clinic/internal/bpe"
	"github.com/clinic-ml/clinic/internal/corpus"
	"github.com/clinic-ml/clinic/internal/data"
	"github.com/clinic-ml/clinic/internal/experiment"
	"github.com/clinic-ml/clinic/internal/limits"
	"github.com/clinic-ml/clinic/internal/plot"
	"github.com/clinic-ml/clinic/internal/train"
	"github.com/clinic-ml/clinic/internal/translate"
	"github.com/clinic-ml/clinic/model"
)

// Sweep is the paper's translation table, small: each depth (layers on
// each side) × norm trained like 'clinic train --task translate',
// quietly; its last AvgLast checkpoints averaged, the test set
// translated with beam search and scored with BLEU. The loop over the
// runs, continuing and the report are experiment's, shared with every
// task's sweep.
type Sweep struct {
	experiment.Sweep
	Options Options
	AvgLast int
	// The test's beam search.
	Beam             int
	LenPen, MaxLenA  float64
	MaxLenB          int
	TestData         string // a TSV in Options.Columns
	TestSrc, TestTgt string // else line-aligned files; else the built-in Acts

	test     []data.Pair
	testName string
	codes    *bpe.Codes
}

// Check refuses settings the sweep cannot run, naming their flags:
// saveEvery is the training's (the averaged checkpoints are saved on
// it), ownData whether the training data is not the built-in corpus
// (its test pairs must then be given).
func (s *Sweep) Check(saveEvery int, ownData bool) error {
	if err := limits.CheckSize("avg-last", s.AvgLast, 1, limits.MaxRepeats); err != nil {
		return err
	}
	if err := translate.CheckDecode(s.Beam, s.LenPen, s.MaxLenA, s.MaxLenB); err != nil {
		return err
	}
	switch {
	case saveEvery < 1:
		return limits.Usagef("--save-every must be at least 1: the averaged checkpoints are saved on it")
	case (s.TestSrc == "") != (s.TestTgt == ""):
		return limits.Usagef("--test-src and --test-tgt go together")
	case s.TestSrc != "" && s.TestData != "":
		return limits.Usagef("give the test pairs as --test-data or as --test-src/--test-tgt, not both")
	case ownData && s.TestData == "" && s.TestSrc == "":
		return limits.Usagef("with your own training data, give its test pairs: --test-data, or --test-src and --test-tgt")
	}
	return nil
}

// Load reads the test pairs (before the sweep's folder is touched).
func (s *Sweep) Load() error {
	var err error
	s.testName = "Acts"
	switch {
	case s.TestData != "":
		s.testName = s.TestData
		s.test, err = LoadTSVPairs(s.TestData, s.Options)
	case s.TestSrc != "":
		s.testName = s.TestSrc + " / " + s.TestTgt
		s.test, err = data.LoadAligned(s.TestSrc, s.TestTgt)
	default:
		_, _, acts := corpus.BibleSplits()
		for _, p := range acts {
			if s.Options.SrcLang == "en" {
				s.test = append(s.test, data.Pair{Src: p.English, Tgt: p.Spanish})
			} else {
				s.test = append(s.test, data.Pair{Src: p.Spanish, Tgt: p.English})
			}
		}
	}
	return err
}

// vocabulary sets the codes of every run, which say what loss is
// diverged: one joint BPE learned once (every run would learn the same
// codes from the same pairs) and saved in the sweep's folder, or read
// from Options.BPECodes (or the sweep's own, continued).
func (s *Sweep) vocabulary() error {
	dir := s.Job.Dir
	if s.Options.BPECodes == "" && s.Continue {
		// A sweep killed before it saved its codes started no run:
		// they are learned again.
		if _, err := os.Lstat(filepath.Join(dir, "bpe.codes")); err == nil {
			s.Options.BPECodes = filepath.Join(dir, "bpe.codes")
		}
	}
	var err error
	if s.Options.BPECodes != "" {
		s.codes, err = bpe.ReadFile(s.Options.BPECodes)
		return err
	}
	trainPairs, _, _, err := LoadPairs(s.Job, s.Options)
	if err != nil {
		return err
	}
	if s.codes, err = LearnCodes(s.Job, s.Options.BPEMerges, trainPairs); err != nil {
		return err
	}
	if err := bpe.WriteFile(filepath.Join(dir, "bpe.codes"), s.codes); err != nil {
		return err
	}
	s.Options.BPECodes = filepath.Join(dir, "bpe.codes")
	return nil
}

// Run trains and tests every run (Load first) and writes the report.
func (s *Sweep) Run() (*experiment.Summary, error) {
	rep, pool, done, err := s.Start("Translation depth sweep: the paper's table, small")
	if err != nil {
		return nil, err
	}
	defer done()
	if err := s.vocabulary(); err != nil {
		return nil, err
	}
	// The test's beam search must fit too, known before hours of training.
	deepest := s.Job.Model
	deepest.Layers, deepest.EncoderLayers, deepest.Vocab = s.Depths[len(s.Depths)-1], s.Depths[len(s.Depths)-1], s.codes.Size()
	pl := translate.Plan{Batch: ScoreBatch, Hyps: ScoreBatch * s.Beam, Src: deepest.SeqLen, Pos: deepest.SeqLen}
	if err := limits.CheckFits("testing with --beam", pl.Bytes(deepest), "use a smaller --beam"); err != nil {
		return nil, err
	}
	runs, err := s.Each(experiment.SweepRun{
		Label: func(d int, norm string) string { return fmt.Sprintf("%s, %d+%d layers", norm, d, d) },
		Job:   func(j *train.Job, d int) { j.Model.EncoderLayers, j.KeepLast = d, s.AvgLast },
		Run:   func(j train.Job, d int, norm string) (experiment.SweepResult, error) { return s.run(j, d, norm, pool) },
		Done: func(label string, r experiment.SweepResult, _ time.Time) string {
			return fmt.Sprintf("%s: validation loss %s, test BLEU %.2f (%s, %.0fs)\n", label, experiment.FourPlaces(r.FinalValLoss), r.BLEU, r.Status, r.Seconds)
		},
	})
	if err != nil {
		return nil, err
	}
	return s.report(rep, runs, pool.Threads())
}

// run trains one run, classifies it and tests it if it trained.
func (s *Sweep) run(ro train.Job, d int, norm string, pool *asm.Pool) (experiment.SweepResult, error) {
	res, err := Run(ro, s.Options)
	r := experiment.SweepResult{Depth: d, Norm: norm, Status: experiment.StatusTrained}
	var de *train.DivergedError
	if errors.As(err, &de) {
		err, r.Status, r.DivergedAt = nil, experiment.StatusDiverged, de.Step
	}
	if err != nil {
		return r, fmt.Errorf("%s with %d layers: %w", norm, d, err)
	}
	final := res.Final
	if r.Curve, err = experiment.ValCurve(filepath.Join(ro.Dir, train.MetricsFile)); err != nil {
		return r, err
	}
	if n := len(r.Curve); n > 0 && r.Status == experiment.StatusTrained {
		// The whole run's last evaluation, also when this invocation
		// only resumed it.
		final = r.Curve[n-1]
	}
	r.FinalStep, r.FinalValLoss = final.Step, experiment.Num(final.ValLoss)
	if r.Status == experiment.StatusTrained && experiment.LossDiverged(final.ValLoss, s.codes.Size()) {
		// blown up without a NaN: nothing to test
		r.Status = experiment.StatusDiverged
	}
	if r.Status == experiment.StatusTrained {
		sc, avg, err := s.testAveraged(pool, ro.Dir)
		if err != nil {
			return r, fmt.Errorf("%s with %d layers: testing: %v", norm, d, err)
		}
		r.BLEU, r.Averaged, r.BLEULine = sc.Score, avg, sc.Line(2)
	}
	return r, nil
}

// report writes sweep.csv, the curves and report.md.
func (s *Sweep) report(rep *experiment.Report, runs []experiment.SweepResult, threads int) (*experiment.Summary, error) {
	j, cfg, v := s.Job, s.Job.Model, s.codes.Size()
	header := []string{"depth", "norm", "steps", "final_val_loss", "test_bleu", "averaged", "status", "diverged_at_step", "seconds", "lr"}
	var rows, trows [][]string
	chart := &plot.LineChart{Title: "Validation loss during training", XLabel: "step", YLabel: "validation loss (nats/target token)"}
	for _, r := range runs {
		div, b := "", ""
		if r.DivergedAt > 0 {
			div = strconv.Itoa(r.DivergedAt)
		}
		if r.Status == experiment.StatusTrained {
			b = fmt.Sprintf("%.2f", r.BLEU)
		}
		rows = append(rows, []string{strconv.Itoa(r.Depth), r.Norm, strconv.Itoa(r.FinalStep), r.FinalValLoss, b,
			strconv.Itoa(r.Averaged), r.Status, div, strconv.Itoa(int(r.Seconds)), experiment.Num(j.Optim.LR)})
		if b == "" {
			b = "—"
		}
		trows = append(trows, []string{fmt.Sprintf("%d+%d", r.Depth, r.Depth), r.Norm, b, experiment.FourPlaces(r.FinalValLoss), r.Status})
	}
	names, err := experiment.SaveSweep(rep, s.Command, header, rows, chart, s.Depths, runs)
	if err != nil {
		return nil, err
	}
	rep.Para("Each run trains an encoder–decoder with d_model %d, %d heads, d_ff %d and the given layers on each side for %d steps of %s (%s, peak learning rate %g, %d warm-up steps, %s schedule, β = (%g, %g), dropout %g, label smoothing %g, clipping %g), seed %d, %d thread(s), %s GEMMs; it averages the last %d checkpoints (one every %d steps) and translates the test set (%s, %d pairs) with beam %d, length penalty %g and outputs of at most %g·source + %d tokens. BLEU is sacreBLEU's (13a tokenization, exp smoothing) on detokenized text.",
		cfg.DModel, cfg.Heads, cfg.DFF, j.Steps, j.StepBatches(fmt.Sprintf("≤ %d tokens", s.Options.MaxTokens)), j.Optim.Name, j.Optim.LR, j.Optim.Warmup, j.Optim.Schedule, j.Optim.Beta1, j.Optim.Beta2, cfg.Dropout, cfg.LabelSmoothing, j.Optim.Clip, j.Seed, threads, experiment.PrecisionText(j.Model),
		s.AvgLast, j.SaveEvery, s.testName, len(s.test), s.Beam, s.LenPen, s.MaxLenA, s.MaxLenB)
	rep.Para("Status: *diverged* when the loss became NaN or infinite or the final validation loss is above ln %d = %.3f (worse than guessing the %d subword tokens equally likely), and then not tested; *trained* otherwise.",
		v, math.Log(float64(v)), v)
	rep.Table([]string{"layers", "norm", "test BLEU", "final validation loss", "status"}, trows)
	rep.Figure(names, "validation loss curves")
	rep.Dropped(chart.Dropped)
	return rep.Finish([]string{"layers", "norm", "test BLEU", "final val loss", "status"}, trows)
}

// testAveraged averages the numbered checkpoints in dir and scores its
// beam-search translations of the test set, warning on the log when
// sources longer than the model's seq-len were truncated (as 'clinic
// translate' does).
func (s *Sweep) testAveraged(pool *asm.Pool, dir string) (bleu.Score, int, error) {
	avg, codes, n, err := averaged(dir)
	if err != nil {
		return bleu.Score{}, 0, err
	}
	srcs := make([][]int32, len(s.test))
	refs := make([]string, len(s.test))
	cut := 0
	for i, p := range s.test {
		var n int
		if srcs[i], n = translate.SourceIDs(codes, p.Src, avg.Cfg.SeqLen); n > avg.Cfg.SeqLen-1 {
			cut++
		}
		refs[i] = p.Tgt
	}
	if cut > 0 {
		fmt.Fprintf(s.Progress(), "clinic analyze: warning: %d of %d test sources are longer than the model's seq-len (%d subword tokens with the EOS) and were truncated\n", cut, len(s.test), avg.Cfg.SeqLen)
	}
	opt := translate.Options(avg.Cfg, s.Beam, s.LenPen)
	opt.MaxLenA, opt.MaxLenB = s.MaxLenA, s.MaxLenB
	hyps, err := translate.Sentences(avg, codes, srcs, ScoreBatch, opt, pool, "testing with --beam")
	if err != nil {
		return bleu.Score{}, 0, err
	}
	sc, err := bleu.Corpus(hyps, [][]string{refs}, bleu.Options{})
	return sc, n, err
}

// averaged is the average of the numbered checkpoints in dir
// (AverageFiles), its codes and how many were averaged.
func averaged(dir string) (*model.Params, *bpe.Codes, int, error) {
	paths, err := train.KeptCheckpoints(dir)
	if err != nil {
		return nil, nil, 0, err
	}
	if len(paths) == 0 {
		return nil, nil, 0, fmt.Errorf("no checkpoints to average in %s", dir)
	}
	avg, meta, err := experiment.Average(paths)
	if err != nil {
		return nil, nil, 0, err
	}
	codes, err := translate.Codes(paths[len(paths)-1], avg, meta)
	return avg, codes, len(paths), err
}
