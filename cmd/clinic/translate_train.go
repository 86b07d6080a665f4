package main

import (
	"errors"
	"fmt"
	"io"
	"os"
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
	"github.com/clinic-ml/clinic/internal/train"
	"github.com/clinic-ml/clinic/model"
	"github.com/spf13/pflag"
)

// The tasks of 'clinic train'.
const (
	taskLM        = "lm"
	taskTranslate = "translate"
)

// taskOf finds --task in args before the flags are registered, so that
// each task's defaults (and --help) are its own.
func taskOf(args []string) string {
	for i, a := range args {
		if a == "--" {
			break
		}
		if v, ok := strings.CutPrefix(a, "--task="); ok {
			return v
		}
		if a == "--task" && i+1 < len(args) {
			return args[i+1]
		}
	}
	return taskLM
}

// translateFlags are the flags of 'clinic train --task translate'.
type translateFlags struct {
	task                    string
	encLayers               int
	maxTokens, maxSentences int
	bpeMerges               int
	bpeCodes                string
	src, tgt                string
	srcLang, tgtLang        string
	columns                 string
	maxLen                  int
	bleuEvery, bleuBeam     int
	columnsSet              bool // --columns given
}

func (t *translateFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&t.task, "task", taskLM, "lm (byte-level language model) or translate (encoder–decoder)")
	fs.IntVar(&t.encLayers, "encoder-layers", 6, "translate: encoder layers (--layers counts the decoder's)")
	fs.IntVar(&t.maxTokens, "max-tokens", 4096, "translate: tokens per batch, sentences × the longest side (fairseq's rule)")
	fs.IntVar(&t.maxSentences, "max-sentences", 0, "translate: sentence pairs per batch at most (0: no limit)")
	fs.IntVar(&t.bpeMerges, "bpe-merges", 8000, "translate: joint BPE merges to learn from the training pairs")
	fs.StringVar(&t.bpeCodes, "bpe-codes", "", "translate: use these BPE codes ('clinic bpe learn') instead of learning them")
	fs.StringVar(&t.src, "src", "", "translate: source-side text file, one sentence per line (with --tgt)")
	fs.StringVar(&t.tgt, "tgt", "", "translate: target-side text file, line-aligned with --src")
	fs.StringVar(&t.srcLang, "src-lang", "en", "translate: source language (built-in corpus: en or es)")
	fs.StringVar(&t.tgtLang, "tgt-lang", "es", "translate: target language (built-in corpus: en or es)")
	fs.StringVar(&t.columns, "columns", "1,2", "translate: 1-based source,target columns of the --data TSV file")
	fs.IntVar(&t.bleuEvery, "bleu-every", 500, "translate: validation BLEU every N steps and at the end, keeping DIR/model_best.safetensors (0: never)")
	fs.IntVar(&t.bleuBeam, "bleu-beam", 1, "translate: beam size of the validation BLEU (1: greedy)")
	fs.IntVar(&t.maxLen, "max-len", 0, "translate: same as --seq-len (fairseq's name): skip pairs longer than this many subword tokens")
}

// translateOnly are the flags that only translation reads; lmOnly the
// ones it ignores.
var (
	translateOnly = []string{"encoder-layers", "max-tokens", "max-sentences", "bpe-merges", "bpe-codes", "src", "tgt", "src-lang", "tgt-lang", "columns", "max-len", "bleu-every", "bleu-beam"}
	lmOnly        = []string{"batch-size", "eval-batches"}
)

// defaults sets translation's defaults: positions for the longest
// sentence pairs, label smoothing as the paper's recipes, validation
// on whole books.
func (t *translateFlags) defaults(fs *pflag.FlagSet) {
	for name, v := range map[string]string{"seq-len": "256", "label-smoothing": "0.1", "warmup": "400", "val-frac": "0.02"} {
		setDefault(fs, name, v)
	}
	fs.Lookup("seq-len").Usage = "longest sentence in subword tokens, either side (longer pairs are skipped)"
}

func (t *translateFlags) check(fs *pflag.FlagSet) error {
	switch t.task {
	case taskLM:
		for _, n := range translateOnly {
			if fs.Changed(n) {
				return usagef("--%s needs --task translate", n)
			}
		}
		return nil
	case taskTranslate:
	default:
		return usagef("--task must be lm or translate, got %q", t.task)
	}
	for _, n := range lmOnly {
		if fs.Changed(n) {
			return usagef("--%s does not apply to --task translate (batches are sized by --max-tokens)", n)
		}
	}
	for _, c := range []struct {
		name      string
		v, lo, hi int
	}{{"max-tokens", t.maxTokens, 1, maxTokens}, {"max-sentences", t.maxSentences, 0, maxTokens}, {"bleu-beam", t.bleuBeam, 1, maxBeam}} {
		if err := checkSize(c.name, c.v, c.lo, c.hi); err != nil {
			return err
		}
	}
	switch {
	case t.encLayers < 1:
		return usagef("--encoder-layers must be at least 1, got %d", t.encLayers)
	case t.bpeMerges < 0 || t.bpeMerges > bpe.MaxMerges:
		return usagef("--bpe-merges must be in [0, %d], got %d", bpe.MaxMerges, t.bpeMerges)
	case (t.src == "") != (t.tgt == ""):
		return usagef("--src and --tgt go together")
	case t.src != "" && fs.Changed("data"):
		return usagef("give either --data (a TSV file) or --src and --tgt, not both")
	case t.src != "" && fs.Changed("columns") && !fs.Changed("test-data"):
		// (the translation sweep's --test-data is a TSV in --columns)
		return usagef("--columns picks the columns of a TSV file (--data); --src and --tgt are read line by line")
	case t.srcLang == "" || t.tgtLang == "" || t.srcLang == t.tgtLang:
		return usagef("--src-lang and --tgt-lang must name two different languages, got %q and %q", t.srcLang, t.tgtLang)
	case t.bleuEvery < 0:
		return usagef("--bleu-every must be ≥ 0, got %d", t.bleuEvery)
	case fs.Changed("max-len") && fs.Changed("seq-len"):
		return usagef("--max-len and --seq-len are the same setting: give one")
	case fs.Changed("max-len") && t.maxLen < 1:
		return usagef("--max-len must be at least 1, got %d", t.maxLen)
	case fs.Changed("bpe-codes") && fs.Changed("bpe-merges"):
		return usagef("--bpe-merges does not apply with --bpe-codes")
	}
	if _, _, err := parsePairColumns(t.columns); err != nil {
		return err
	}
	t.columnsSet = fs.Changed("columns")
	if !fs.Changed("data") && t.src == "" {
		for _, l := range []string{t.srcLang, t.tgtLang} {
			if l != "en" && l != "es" {
				return usagef("the built-in corpus is English–Spanish: --src-lang and --tgt-lang must be en or es, got %q", l)
			}
		}
	}
	return nil
}

// parsePairColumns reads "S,T", two different 1-based column numbers.
func parsePairColumns(s string) (src, tgt int, err error) {
	a, b, ok := strings.Cut(s, ",")
	src, e1 := strconv.Atoi(strings.TrimSpace(a))
	tgt, e2 := strconv.Atoi(strings.TrimSpace(b))
	if !ok || e1 != nil || e2 != nil || src < 1 || tgt < 1 || src == tgt {
		return 0, 0, usagef("--columns must be two different 1-based column numbers like 2,3, got %q", s)
	}
	return src, tgt, nil
}

// loadPairs returns the training and validation pairs and where they
// came from.
func loadPairs(o trainOpts, t translateFlags) (trainPairs, val []data.Pair, source string, err error) {
	var all []data.Pair
	switch {
	case t.src != "":
		if all, err = data.LoadAligned(t.src, t.tgt); err != nil {
			return nil, nil, "", err
		}
		source = t.src + " / " + t.tgt
	case o.dataPath != "":
		if all, err = loadTSVPairs(o.dataPath, t); err != nil {
			return nil, nil, "", err
		}
		source = o.dataPath
	default:
		tr, va, _ := corpus.BibleSplits()
		pick := func(p corpus.Pair, lang string) string {
			if lang == "en" {
				return p.English
			}
			return p.Spanish
		}
		for _, p := range tr {
			trainPairs = append(trainPairs, data.Pair{Src: pick(p, t.srcLang), Tgt: pick(p, t.tgtLang)})
		}
		for _, p := range va {
			val = append(val, data.Pair{Src: pick(p, t.srcLang), Tgt: pick(p, t.tgtLang)})
		}
		return trainPairs, val, fmt.Sprintf("built-in Bible corpus %s→%s (validation: Ruth, Jonah, Philippians, James)", t.srcLang, t.tgtLang), nil
	}
	nv := int(float64(len(all)) * o.valFrac)
	if nv < 1 {
		nv = 1
	}
	if len(all)-nv < 1 {
		return nil, nil, "", fmt.Errorf("%s: %d sentence pairs are too few to hold out %g for validation and train on the rest", source, len(all), o.valFrac)
	}
	return all[:len(all)-nv], all[len(all)-nv:], source, nil
}

// loadTSVPairs reads the pairs of a TSV file in --columns; without
// --columns, a header line naming --src-lang and --tgt-lang picks the
// columns (and is not a pair), and every line must have as many fields
// as the first (a stray tab would pair a source with a fragment).
func loadTSVPairs(path string, t translateFlags) ([]data.Pair, error) {
	sc, tc, _ := parsePairColumns(t.columns)
	header := false
	if !t.columnsSet {
		s, g, fields, n := headerColumns(path, t.srcLang, t.tgtLang)
		switch {
		case s > 0:
			sc, tc, header = s, g, true
		case fields != nil:
			return nil, fmt.Errorf("%s:1: the first line (%s) looks like a header, but does not name both --src-lang %s and --tgt-lang %s: "+
				"name the languages with --src-lang and --tgt-lang, or give --columns to read the line as a pair",
				path, strings.Join(fields, ", "), t.srcLang, t.tgtLang)
		case n > 2:
			// Columns 1 and 2 of a wider file are a guess: 'clinic corpus
			// --tsv' writes reference, English, Spanish, and read as
			// (source, target) it trained on (reference, English).
			return nil, fmt.Errorf("%s:1: %d tab-separated fields and no header naming --src-lang and --tgt-lang: give --columns to say which are the source and the target", path, n)
		}
	}
	load := data.LoadTSV
	if !t.columnsSet {
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

// loadCodes reads a BPE codes file.
func loadCodes(path string) (*bpe.Codes, error) {
	b, err := fileutil.ReadRegular(path, 1<<30)
	if err != nil {
		return nil, err
	}
	c, err := bpe.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %s", path, strings.TrimPrefix(err.Error(), "bpe: "))
	}
	return c, nil
}

// trainTranslate runs one translation training job.
func trainTranslate(o trainOpts, t translateFlags, stdout, stderr io.Writer) (*train.Result, error) {
	pool, done, err := o.workers()
	if err != nil {
		return nil, err
	}
	defer done()
	o.cfg.Generic = !o.specialized // the layer-code path travels with the config to every model of the run
	trainPairs, val, source, err := loadPairs(o, t)
	if err != nil {
		return nil, err
	}
	var codes *bpe.Codes
	switch {
	case t.bpeCodes != "":
		if codes, err = loadCodes(t.bpeCodes); err != nil {
			return nil, err
		}
	case o.resume != nil:
		// the codes the run learned (its state checks they are)
		if codes, err = loadCodes(filepath.Join(o.out, "bpe.codes")); err != nil {
			return nil, err
		}
	default:
		if codes, err = learnCodes(o, t, trainPairs, stdout); err != nil {
			return nil, err
		}
	}
	cfg := o.cfg
	cfg.Vocab = codes.Size()
	if err := cfg.Validate(); err != nil {
		return nil, usageError{err.Error()}
	}
	o.cfg = cfg
	need := model.TrainingBytes(cfg, t.maxTokens)
	if t.bleuEvery > 0 {
		// validation BLEU's translator, planned beside the model
		need += model.TranslatorBytes(cfg, scoreBatch, scoreBatch*t.bleuBeam)
	}
	if err := checkFits("training this model", need, "make the model, --max-tokens or --bleu-beam smaller"); err != nil {
		return nil, err
	}
	task, err := train.NewTranslate(train.TranslateConfig{Model: cfg, Codes: codes, Train: trainPairs, Val: val,
		MaxTokens: t.maxTokens, MaxSentences: t.maxSentences, Seed: o.seed, SrcLang: t.srcLang, TgtLang: t.tgtLang,
		Comm: o.comm, Pool: pool})
	if err != nil {
		return nil, err
	}
	// Nothing is written into the run directory before here (setAdmin
	// and begin: the previous run's files go only now).
	if o.rank0() {
		if err := os.MkdirAll(o.out, 0o755); err != nil {
			return nil, fmt.Errorf("run directory: %v", err)
		}
	}
	if cfg.Norm == model.Admin {
		if err := setAdmin(o, task); err != nil {
			return nil, err
		}
	}
	if err := o.begin(); err != nil {
		return nil, err
	}
	// A resumed run keeps the codes it saved (its state checks them).
	if o.rank0() && o.resume == nil {
		if err := saveCodes(filepath.Join(o.out, "bpe.codes"), codes); err != nil {
			return nil, fmt.Errorf("saving bpe codes: %v", err)
		}
	}
	if !o.quiet {
		ts, vs := task.TrainStats(), task.ValStats()
		ranks := ""
		if o.ranks() > 1 {
			ranks = fmt.Sprintf(" per rank, %d MPI ranks (%s) sharing the rows of each batch", o.ranks(), o.comm.Name())
		}
		fmt.Fprintf(stdout, "clinic: %s encoder–decoder %d+%d layers d%d h%d ff%d, %.2fM parameters, vocabulary %d; %s: %d training pairs in %d batches of ≤ %d tokens, %d validation pairs; %d threads%s, kernels %s, %s\n",
			cfg.Norm, cfg.EncoderLayers, cfg.Layers, cfg.DModel, cfg.Heads, cfg.DFF, float64(cfg.ParamCount())/1e6, cfg.Vocab,
			source, ts.Examples, ts.Batches, t.maxTokens, vs.Examples, pool.Threads(), ranks, asm.CPULevel(), layerCode(cfg))
		if n := ts.SkippedLong + ts.SkippedTokens; n > 0 {
			fmt.Fprintf(stdout, "clinic: skipped %d training pairs: %d longer than --seq-len %d tokens, %d larger than --max-tokens %d\n",
				n, ts.SkippedLong, cfg.SeqLen, ts.SkippedTokens, t.maxTokens)
		}
		if n := vs.SkippedLong + vs.SkippedTokens; n > 0 {
			fmt.Fprintf(stdout, "clinic: skipped %d validation pairs longer than the model or the batch allows\n", n)
		}
	}
	var scores []train.Score
	if t.bleuEvery > 0 {
		scores = append(scores, train.Score{Name: "val_bleu", Every: t.bleuEvery, Best: filepath.Join(o.out, "model_best.safetensors"),
			Eval: func() (float64, error) { return task.ValidBLEU(t.bleuBeam, scoreBatch) }})
	}
	return runTask(o, task, "target token", scores, stdout, stderr)
}

// scoreBatch is the number of sentences translated at once to score
// them: validation BLEU, and the translation sweep's test set.
const scoreBatch = 32

// learnCodes learns the joint BPE codes of the training pairs, saying
// so on stdout unless o is quiet. In a job rank 0 learns them and the
// others take its codes: one learning pass, and the vocabulary rank 0
// writes is the one every rank trains with.
func learnCodes(o trainOpts, t translateFlags, pairs []data.Pair, stdout io.Writer) (*bpe.Codes, error) {
	learn := func() (*bpe.Codes, error) {
		start := time.Now()
		lines := make([]string, 0, 2*len(pairs))
		for _, p := range pairs {
			lines = append(lines, p.Src, p.Tgt)
		}
		codes, err := bpe.Learn(lines, t.bpeMerges, bpe.DefaultOptions())
		if err == nil && !o.quiet {
			fmt.Fprintf(stdout, "clinic: learned %d BPE merges from the training pairs in %.1fs: %d subword tokens\n",
				codes.NumMerges(), time.Since(start).Seconds(), codes.Size())
		}
		return codes, err
	}
	if o.ranks() == 1 {
		return learn()
	}
	var text []byte
	var err error
	if o.rank0() {
		var codes *bpe.Codes
		if codes, err = learn(); err == nil {
			text, err = codes.MarshalText()
		}
	}
	if text, err = fromRank0(o.comm, text, err); err != nil {
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
