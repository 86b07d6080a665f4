package translation

import (
	"github.com/clinic-ml/clinic/internal/bpe"
	"github.com/clinic-ml/clinic/internal/limits"
	"github.com/clinic-ml/clinic/internal/task"
	"github.com/clinic-ml/clinic/internal/train"
	"github.com/clinic-ml/clinic/internal/translate"
	"github.com/clinic-ml/clinic/model"
	"github.com/spf13/pflag"
)

func init() { task.Register(Kind{}) }

// Kind is translation with an encoder–decoder, 'clinic train --task
// translate'.
type Kind struct{}

// Name is the task's --task value.
func (Kind) Name() string { return translate.Task }

// Help says what the task trains.
func (Kind) Help() string { return "translate (encoder–decoder)" }

// Flags registers translation's flags.
func (Kind) Flags(fs *pflag.FlagSet) task.Setup {
	f := &Flags{}
	f.register(fs)
	return f
}

// Flags are the flags of 'clinic train --task translate' (and of the
// translation sweep), read into Options.
type Flags struct {
	Options
	EncLayers int
	maxLen    int
}

func (t *Flags) register(fs *pflag.FlagSet) {
	fs.IntVar(&t.EncLayers, "encoder-layers", 6, "translate: encoder layers (--layers counts the decoder's)")
	fs.IntVar(&t.MaxTokens, "max-tokens", 4096, "translate: tokens per batch, sentences × the longest side (fairseq's rule)")
	fs.IntVar(&t.MaxSentences, "max-sentences", 0, "translate: sentence pairs per batch at most (0: no limit)")
	fs.IntVar(&t.BPEMerges, "bpe-merges", 8000, "translate: joint BPE merges to learn from the training pairs")
	fs.StringVar(&t.BPECodes, "bpe-codes", "", "translate: use these BPE codes ('clinic bpe learn') instead of learning them")
	fs.StringVar(&t.Src, "src", "", "translate: source-side text file, one sentence per line (with --tgt)")
	fs.StringVar(&t.Tgt, "tgt", "", "translate: target-side text file, line-aligned with --src")
	fs.StringVar(&t.SrcLang, "src-lang", "en", "translate: source language (built-in corpus: en or es)")
	fs.StringVar(&t.TgtLang, "tgt-lang", "es", "translate: target language (built-in corpus: en or es)")
	fs.StringVar(&t.Columns, "columns", "1,2", "translate: 1-based source,target columns of the --data TSV file")
	fs.IntVar(&t.BLEUEvery, "bleu-every", 500, "translate: validation BLEU every N steps and at the end, keeping DIR/model_best.safetensors (0: never)")
	fs.IntVar(&t.BLEUBeam, "bleu-beam", 1, "translate: beam size of the validation BLEU (1: greedy)")
	fs.IntVar(&t.maxLen, "max-len", 0, "translate: same as --seq-len (fairseq's name): skip pairs longer than this many subword tokens")
}

// lmOnly are the shared flags translation ignores.
var lmOnly = []string{"batch-size", "eval-batches"}

// Defaults sets translation's defaults: positions for the longest
// sentence pairs, label smoothing as the paper's recipes, validation
// on whole books.
func (t *Flags) Defaults(fs *pflag.FlagSet) {
	for name, v := range map[string]string{"seq-len": "256", "label-smoothing": "0.1", "warmup": "400", "val-frac": "0.02"} {
		task.SetDefault(fs, name, v)
	}
	fs.Lookup("seq-len").Usage = "longest sentence in subword tokens, either side (longer pairs are skipped)"
}

// Check validates the flags and applies them to cfg: the encoder's
// layers, and --max-len as --seq-len.
func (t *Flags) Check(fs *pflag.FlagSet, cfg *model.Config) error {
	if err := t.check(fs); err != nil {
		return err
	}
	cfg.EncoderLayers = t.EncLayers
	if fs.Changed("max-len") {
		cfg.SeqLen = t.maxLen
	}
	return nil
}

func (t *Flags) check(fs *pflag.FlagSet) error {
	for _, n := range lmOnly {
		if fs.Changed(n) {
			return limits.Usagef("--%s does not apply to --task translate (batches are sized by --max-tokens)", n)
		}
	}
	for _, c := range []struct {
		name      string
		v, lo, hi int
	}{{"max-tokens", t.MaxTokens, 1, limits.MaxTokens}, {"max-sentences", t.MaxSentences, 0, limits.MaxTokens}, {"bleu-beam", t.BLEUBeam, 1, limits.MaxBeam}} {
		if err := limits.CheckSize(c.name, c.v, c.lo, c.hi); err != nil {
			return err
		}
	}
	if err := t.checkFlags(fs); err != nil {
		return err
	}
	if _, _, err := ParsePairColumns(t.Columns); err != nil {
		return err
	}
	t.ColumnsSet = fs.Changed("columns")
	if !fs.Changed("data") && t.Src == "" {
		for _, l := range []string{t.SrcLang, t.TgtLang} {
			if l != "en" && l != "es" {
				return limits.Usagef("the built-in corpus is English–Spanish: --src-lang and --tgt-lang must be en or es, got %q", l)
			}
		}
	}
	return nil
}

func (t *Flags) checkFlags(fs *pflag.FlagSet) error {
	usagef := limits.Usagef
	switch {
	case t.EncLayers < 1:
		return usagef("--encoder-layers must be at least 1, got %d", t.EncLayers)
	case t.BPEMerges < 0 || t.BPEMerges > bpe.MaxMerges:
		return usagef("--bpe-merges must be in [0, %d], got %d", bpe.MaxMerges, t.BPEMerges)
	case (t.Src == "") != (t.Tgt == ""):
		return usagef("--src and --tgt go together")
	case t.Src != "" && fs.Changed("data"):
		return usagef("give either --data (a TSV file) or --src and --tgt, not both")
	case t.Src != "" && fs.Changed("columns") && !fs.Changed("test-data"):
		// (the translation sweep's --test-data is a TSV in --columns)
		return usagef("--columns picks the columns of a TSV file (--data); --src and --tgt are read line by line")
	case t.SrcLang == "" || t.TgtLang == "" || t.SrcLang == t.TgtLang:
		return usagef("--src-lang and --tgt-lang must name two different languages, got %q and %q", t.SrcLang, t.TgtLang)
	case t.BLEUEvery < 0:
		return usagef("--bleu-every must be ≥ 0, got %d", t.BLEUEvery)
	case t.BLEUEvery == 0 && fs.Lookup("best-metric") != nil && fs.Lookup("best-metric").Value.String() == train.BestBLEU:
		return usagef("--best-metric bleu needs validation BLEU: give --bleu-every N")
	case fs.Changed("max-len") && fs.Changed("seq-len"):
		return usagef("--max-len and --seq-len are the same setting: give one")
	case fs.Changed("max-len") && t.maxLen < 1:
		return usagef("--max-len must be at least 1, got %d", t.maxLen)
	case fs.Changed("bpe-codes") && fs.Changed("bpe-merges"):
		return usagef("--bpe-merges does not apply with --bpe-codes")
	}
	return nil
}

// Inputs are the text files the run reads besides --data.
func (t *Flags) Inputs() []string { return []string{t.Src, t.Tgt} }

// Keep is the codes file, which may lie in the run directory.
func (t *Flags) Keep() []string { return []string{t.BPECodes} }

// Ranks accepts any number: a translation batch is cut by rows whatever
// their number (a rank may get none).
func (t *Flags) Ranks(*train.Job, int) error { return nil }

// Run trains the translator.
func (t *Flags) Run(j train.Job) (*train.Result, error) { return Run(j, t.Options) }
