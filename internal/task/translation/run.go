package translation

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/clinic-ml/clinic/asm"
	"github.com/clinic-ml/clinic/internal/bpe"
	"github.com/clinic-ml/clinic/internal/corpus"
	"github.com/clinic-ml/clinic/internal/data"
	"github.com/clinic-ml/clinic/internal/fileutil"
	"github.com/clinic-ml/clinic/internal/limits"
	"github.com/clinic-ml/clinic/internal/train"
	"github.com/clinic-ml/clinic/internal/translate"
	"github.com/clinic-ml/clinic/model"
)

// Options are what a translation run adds to a train.Job: its data, its
// subword vocabulary, its batches and its validation BLEU.
type Options struct {
	MaxTokens, MaxSentences int
	// BPEMerges is the number of joint BPE merges to learn from the
	// training pairs, unless BPECodes names codes to use.
	BPEMerges int
	BPECodes  string
	// Src and Tgt are line-aligned text files; else train.Job.Data is a TSV
	// file whose Columns ("S,T", 1-based) are the pairs (ColumnsSet:
	// given, else a header naming the languages may pick them); else
	// the built-in corpus.
	Src, Tgt         string
	SrcLang, TgtLang string
	Columns          string
	ColumnsSet       bool
	// BLEUEvery > 0 scores validation BLEU every so many steps with a
	// beam of BLEUBeam, keeping DIR/model_best.safetensors.
	BLEUEvery, BLEUBeam int
}

// ScoreBatch is the number of sentences translated at once to score
// them: validation BLEU, and the translation sweep's test set.
const ScoreBatch = 32

// ParsePairColumns reads "S,T", two different 1-based column numbers.
func ParsePairColumns(s string) (src, tgt int, err error) {
	a, b, ok := strings.Cut(s, ",")
	src, e1 := strconv.Atoi(strings.TrimSpace(a))
	tgt, e2 := strconv.Atoi(strings.TrimSpace(b))
	if !ok || e1 != nil || e2 != nil || src < 1 || tgt < 1 || src == tgt {
		return 0, 0, limits.Usagef("--columns must be two different 1-based column numbers like 2,3, got %q", s)
	}
	return src, tgt, nil
}

// BiblePairs are the built-in corpus's pairs, srcLang to tgtLang (en or
// es).
func BiblePairs(ps []corpus.Pair, srcLang, tgtLang string) []data.Pair {
	pick := func(p corpus.Pair, lang string) string {
		if lang == "en" {
			return p.English
		}
		return p.Spanish
	}
	var out []data.Pair
	for _, p := range ps {
		out = append(out, data.Pair{Src: pick(p, srcLang), Tgt: pick(p, tgtLang)})
	}
	return out
}

// LoadPairs returns the training and validation pairs of a translation
// run and where they came from.
func LoadPairs(j train.Job, t Options) (trainPairs, val []data.Pair, source string, err error) {
	var all []data.Pair
	switch {
	case t.Src != "":
		if all, err = data.LoadAligned(t.Src, t.Tgt); err != nil {
			return nil, nil, "", err
		}
		source = t.Src + " / " + t.Tgt
	case j.Data != "":
		if all, err = LoadTSVPairs(j.Data, t); err != nil {
			return nil, nil, "", err
		}
		source = j.Data
	default:
		tr, va, _ := corpus.BibleSplits()
		return BiblePairs(tr, t.SrcLang, t.TgtLang), BiblePairs(va, t.SrcLang, t.TgtLang),
			fmt.Sprintf("built-in Bible corpus %s→%s (validation: Ruth, Jonah, Philippians, James)", t.SrcLang, t.TgtLang), nil
	}
	nv := int(float64(len(all)) * j.ValFrac)
	if nv < 1 {
		nv = 1
	}
	if len(all)-nv < 1 {
		return nil, nil, "", fmt.Errorf("%s: %d sentence pairs are too few to hold out %g for validation and train on the rest", source, len(all), j.ValFrac)
	}
	return all[:len(all)-nv], all[len(all)-nv:], source, nil
}

// LoadTSVPairs reads the pairs of a TSV file in t.Columns; without
// them, a header line naming t.SrcLang and t.TgtLang picks the columns
// (and is not a pair), and every line must have as many fields as the
// first (a stray tab would pair a source with a fragment).
func LoadTSVPairs(path string, t Options) ([]data.Pair, error) {
	sc, tc, _ := ParsePairColumns(t.Columns)
	header := false
	if !t.ColumnsSet {
		s, g, fields, n := headerColumns(path, t.SrcLang, t.TgtLang)
		switch {
		case s > 0:
			sc, tc, header = s, g, true
		case fields != nil:
			return nil, fmt.Errorf("%s:1: the first line (%s) looks like a header, but does not name both --src-lang %s and --tgt-lang %s: "+
				"name the languages with --src-lang and --tgt-lang, or give --columns to read the line as a pair",
				path, strings.Join(fields, ", "), t.SrcLang, t.TgtLang)
		case n > 2:
			// Columns 1 and 2 of a wider file are a guess: 'clinic corpus
			// --tsv' writes reference, English, Spanish, and read as
			// (source, target) it trained on (reference, English).
			return nil, fmt.Errorf("%s:1: %d tab-separated fields and no header naming --src-lang and --tgt-lang: give --columns to say which are the source and the target", path, n)
		}
	}
	load := data.LoadTSV
	if !t.ColumnsSet {
		load = data.LoadTSVUniform
	}
	all, err := load(path, sc, tc)
	if fe := (*data.FieldCountError)(nil); errors.As(err, &fe) {
		return nil, fmt.Errorf("%v: fix the line, or give --columns to read columns %d,%d of every line and ignore the rest", err, sc, tc)
	}
	if err != nil {
		return nil, err
	}
	if header {
		all = all[1:]
	}
	return all, nil
}

// runCodes is the run's vocabulary: t.BPECodes, the codes a resumed run
// learned (its state checks they are), or codes learned now.
func runCodes(j train.Job, t Options, pairs []data.Pair) (*bpe.Codes, error) {
	switch {
	case t.BPECodes != "":
		return bpe.ReadFile(t.BPECodes)
	case j.Resume != nil:
		return bpe.ReadFile(filepath.Join(j.Dir, "bpe.codes"))
	}
	return LearnCodes(j, t.BPEMerges, pairs)
}

// Run runs j as an encoder–decoder translator's training.
func Run(j train.Job, t Options) (*train.Result, error) {
	pool, done, err := j.Workers()
	if err != nil {
		return nil, err
	}
	defer done()
	j.Model.Generic = !j.Specialized // the layer-code path travels with the config to every model of the run
	trainPairs, val, source, err := LoadPairs(j, t)
	if err != nil {
		return nil, err
	}
	codes, err := runCodes(j, t, trainPairs)
	if err != nil {
		return nil, err
	}
	cfg := j.Model
	cfg.Vocab = codes.Size()
	if err := cfg.Validate(); err != nil {
		return nil, limits.UsageError{Msg: err.Error()}
	}
	j.Model = cfg
	need := model.TrainingBytes(cfg, t.MaxTokens)
	lanes := 0
	if t.BLEUEvery > 0 {
		// validation BLEU's translators, planned beside the model: a
		// batch of the validation pairs at once per thread, as many as
		// fit (each counted at the model's seq-len: a bound)
		pl := translate.Plan{Batch: ScoreBatch, Hyps: ScoreBatch * t.BLEUBeam, Src: cfg.SeqLen, Pos: cfg.SeqLen}
		lanes = translate.Lanes(cfg, len(val), pl, need, pool)
		need += float64(max(lanes, 1)) * pl.Bytes(cfg)
	}
	if err := limits.CheckFits("training this model", need, "make the model, --max-tokens or --bleu-beam smaller"); err != nil {
		return nil, err
	}
	task, err := train.NewTranslate(train.TranslateConfig{Model: cfg, Codes: codes, Train: trainPairs, Val: val,
		MaxTokens: t.MaxTokens, MaxSentences: t.MaxSentences, Seed: j.Seed, SrcLang: t.SrcLang, TgtLang: t.TgtLang,
		Comm: j.Comm, Pool: pool, BLEULanes: lanes})
	if err != nil {
		return nil, err
	}
	// Nothing is written into the run directory before here (SetAdmin
	// and Begin: the previous run's files go only now).
	if err := j.MkDir(); err != nil {
		return nil, err
	}
	if cfg.Norm == model.Admin {
		if err := j.SetAdmin(task); err != nil {
			return nil, err
		}
	}
	if err := j.Begin(); err != nil {
		return nil, err
	}
	// A resumed run keeps the codes it saved (its state checks them).
	if j.Rank0() && j.Resume == nil {
		if err := bpe.WriteFile(filepath.Join(j.Dir, "bpe.codes"), codes); err != nil {
			return nil, fmt.Errorf("saving bpe codes: %v", err)
		}
	}
	if !j.Quiet {
		describe(&j, task, t, source, pool.Threads())
	}
	var scores []train.Score
	if t.BLEUEvery > 0 {
		scores = append(scores, train.Score{Name: "val_bleu", Every: t.BLEUEvery, Best: filepath.Join(j.Dir, "model_best.safetensors"),
			Eval: func() (float64, error) { return task.ValidBLEU(t.BLEUBeam, ScoreBatch) }})
	}
	return j.Run(task, "target token", scores)
}

// describeTranslate prints what a translation run trains, on what.
func describe(j *train.Job, task *train.Translate, t Options, source string, threads int) {
	cfg, w := j.Model, j.Out()
	ts, vs := task.TrainStats(), task.ValStats()
	ranks := ""
	if j.Ranks() > 1 {
		ranks = fmt.Sprintf(" per rank, %d MPI ranks (%s) sharing the rows of each batch", j.Ranks(), j.Comm.Name())
	}
	steps := ""
	if j.UpdateFreq > 1 {
		steps = fmt.Sprintf(" (%d a step)", j.UpdateFreq)
	}
	fmt.Fprintf(w, "clinic: %s encoder–decoder %d+%d layers d%d h%d ff%d, %.2fM parameters, vocabulary %d; %s: %d training pairs in %d batches of ≤ %d tokens%s, %d validation pairs; %d threads%s, kernels %s, %s\n",
		cfg.Norm, cfg.EncoderLayers, cfg.Layers, cfg.DModel, cfg.Heads, cfg.DFF, float64(cfg.ParamCount())/1e6, cfg.Vocab,
		source, ts.Examples, ts.Batches, t.MaxTokens, steps, vs.Examples, threads, ranks, asm.CPULevel(), train.LayerCode(cfg))
	if n := ts.SkippedLong + ts.SkippedTokens; n > 0 {
		fmt.Fprintf(w, "clinic: skipped %d training pairs: %d longer than --seq-len %d tokens, %d larger than --max-tokens %d\n",
			n, ts.SkippedLong, cfg.SeqLen, ts.SkippedTokens, t.MaxTokens)
	}
	if n := vs.SkippedLong + vs.SkippedTokens; n > 0 {
		fmt.Fprintf(w, "clinic: skipped %d validation pairs longer than the model or the batch allows\n", n)
	}
}

// LearnCodes learns the joint BPE codes of the training pairs with
// merges merges, saying so on j.Stdout unless j is quiet. In a job rank
// 0 learns them and the others take its codes: one learning pass, and
// the vocabulary rank 0 writes is the one every rank trains with.
func LearnCodes(j train.Job, merges int, pairs []data.Pair) (*bpe.Codes, error) {
	learn := func() (*bpe.Codes, error) {
		start := time.Now()
		lines := make([]string, 0, 2*len(pairs))
		for _, p := range pairs {
			lines = append(lines, p.Src, p.Tgt)
		}
		codes, err := bpe.Learn(lines, merges, bpe.DefaultOptions())
		if err == nil && !j.Quiet {
			fmt.Fprintf(j.Out(), "clinic: learned %d BPE merges from the training pairs in %.1fs: %d subword tokens\n",
				codes.NumMerges(), time.Since(start).Seconds(), codes.Size())
		}
		return codes, err
	}
	if j.Ranks() == 1 {
		return learn()
	}
	var text []byte
	var err error
	if j.Rank0() {
		var codes *bpe.Codes
		if codes, err = learn(); err == nil {
			text, err = codes.MarshalText()
		}
	}
	if text, err = train.FromRank0(j.Comm, text, err); err != nil {
		return nil, fmt.Errorf("bpe codes: %v", err)
	}
	return bpe.Parse(text)
}

// headerColumns reads the first line of the TSV file at path and, if
// its fields name both languages (case-insensitively), or are
// "source"/"src" and "target"/"tgt", returns their 1-based columns.
// fields is the first line's fields when none of that matched but every
// field looks like a language code ("de", "pt-BR"): a header naming
// other languages, which read as a pair would train on the header and
// label the model with the wrong languages. n is the first line's
// number of fields in any case (0 if it cannot be read).
func headerColumns(path, src, tgt string) (sc, tc int, fields []string, n int) {
	f, err := fileutil.OpenRegular(path, 0)
	if err != nil {
		return 0, 0, nil, 0
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	nb, _ := io.ReadFull(f, buf)
	line, _, _ := strings.Cut(string(buf[:nb]), "\n")
	codes := true
	for _, field := range strings.Split(strings.TrimRight(line, "\r"), "\t") {
		field = strings.TrimSpace(strings.TrimPrefix(field, "\ufeff"))
		fields = append(fields, field)
		codes = codes && langCode.MatchString(field)
	}
	for _, names := range [][2]string{{src, tgt}, {"source", "target"}, {"src", "tgt"}} {
		sc, tc = 0, 0
		for i, field := range fields {
			switch strings.ToLower(field) {
			case strings.ToLower(names[0]):
				sc = i + 1
			case strings.ToLower(names[1]):
				tc = i + 1
			}
		}
		if sc > 0 && tc > 0 {
			return sc, tc, nil, len(fields)
		}
	}
	if !codes || len(fields) < 2 {
		return 0, 0, nil, len(fields)
	}
	return 0, 0, fields, len(fields)
}

// langCode matches what looks like a BCP 47 language tag: 2 or 3
// letters, then optional subtags of 2 to 8 letters or digits.
var langCode = regexp.MustCompile(`^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$`)
