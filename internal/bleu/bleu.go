// Package bleu computes BLEU (Papineni et al., 2002) the way sacreBLEU
// 2.x does, so that a score printed by clinic can be put next to one
// printed by `sacrebleu` and compared digit for digit.
//
// The parts that decide the number are reproduced rather than
// approximated: the "13a" tokenizer (mteval-v13a's normalization, which
// WMT uses), Python's notion of whitespace and of lowercase, n-gram
// counts clipped by the maximum count over the references, the closest
// reference length with ties going to the shorter reference, the brevity
// penalty, sacreBLEU's four smoothing methods and its effective order,
// and even its choice to score a corpus with no n-gram match at all as 0
// before smoothing. Tests pin the results to the values in sacreBLEU's
// own test suite.
//
// Signatures carry "version:2.x-compatible" instead of a sacreBLEU
// release: this is a reimplementation, and a signature must not claim to
// come from a program that did not produce it.
//
// Only the "13a" and "none" tokenizers exist here. The "intl", "zh",
// "char", MeCab and SentencePiece tokenizers of sacreBLEU are not
// implemented.
//
// [Tokenized] is the other BLEU translation papers report: fairseq's
// "tokenized BLEU", scored on text that is already tokenized (for WMT'14
// En-De, Moses tokenization and compound splitting), with no further
// tokenization and no smoothing. It is usually higher than sacreBLEU's
// detokenized BLEU and the two must not be compared.
package bleu

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// Smoothing methods, as sacreBLEU names them (Chen and Cherry, 2014).
const (
	// SmoothExp is NIST's geometric decay (mteval-v13a): the k-th order
	// with no match gets precision 1/(2^k · total). sacreBLEU's default.
	SmoothExp = "exp"
	// SmoothNone leaves a zero precision at zero, so the score is 0.
	SmoothNone = "none"
	// SmoothFloor gives an order with no match the count Value (0.1).
	SmoothFloor = "floor"
	// SmoothAddK adds Value (1) to the counts and totals of orders 2 and up.
	SmoothAddK = "add-k"
)

// MaxOrder is the default highest n-gram order.
const MaxOrder = 4

// VersionTag stands in for sacreBLEU's version in signatures.
const VersionTag = "2.x-compatible"

// Options choose how BLEU is computed. The zero value is sacreBLEU's
// default: 13a tokenization, mixed case, exp smoothing, orders 1 to 4.
type Options struct {
	// Tokenize is Tok13a (also when empty) or TokNone.
	Tokenize string
	// Lowercase scores case-insensitively.
	Lowercase bool
	// Smooth is one of the Smooth* methods; empty means SmoothExp.
	Smooth string
	// SmoothValue overrides the value of SmoothFloor (0.1) and SmoothAddK
	// (1). A pointer because 0 is a legitimate floor.
	SmoothValue *float64
	// EffectiveOrder drops the n-gram orders for which the hypothesis has
	// no n-grams at all, as sacreBLEU does for sentence BLEU. It does not
	// drop orders that have n-grams but no matches.
	EffectiveOrder bool
	// MaxOrder is the highest n-gram order; 0 means 4.
	MaxOrder int
}

// Float returns a pointer to v, for Options.SmoothValue.
func Float(v float64) *float64 { return &v }

// TokenizedOptions are fairseq's "tokenized BLEU" settings: input taken
// as already tokenized, no smoothing.
var TokenizedOptions = Options{Tokenize: TokNone, Smooth: SmoothNone}

func (o Options) tokenizer() string {
	if o.Tokenize == "" {
		return Tok13a
	}
	return o.Tokenize
}

func (o Options) smooth() string {
	if o.Smooth == "" {
		return SmoothExp
	}
	return o.Smooth
}

func (o Options) order() int {
	if o.MaxOrder == 0 {
		return MaxOrder
	}
	return o.MaxOrder
}

// smoothValue returns the value the method uses and whether it takes one.
func (o Options) smoothValue() (float64, bool) {
	var def float64
	switch o.smooth() {
	case SmoothFloor:
		def = 0.1
	case SmoothAddK:
		def = 1
	default:
		return 0, false
	}
	if o.SmoothValue != nil {
		return *o.SmoothValue, true
	}
	return def, true
}

// Validate reports options sacreBLEU would reject or that would make the
// score meaningless.
func (o Options) Validate() error {
	switch o.tokenizer() {
	case Tok13a, TokNone:
	default:
		return fmt.Errorf("unknown tokenizer %q (want 13a or none)", o.Tokenize)
	}
	switch o.smooth() {
	case SmoothExp, SmoothNone, SmoothFloor, SmoothAddK:
	default:
		return fmt.Errorf("unknown smoothing method %q (want exp, none, floor or add-k)", o.Smooth)
	}
	if o.SmoothValue != nil {
		v := *o.SmoothValue
		if _, ok := o.smoothValue(); !ok {
			return fmt.Errorf("smoothing %s takes no value", o.smooth())
		}
		// A negative floor gives a negative precision, whose logarithm
		// sacreBLEU cannot take either.
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("smoothing value must be finite and non-negative, got %v", v)
		}
	}
	if o.MaxOrder < 0 {
		return fmt.Errorf("max n-gram order must be positive, got %d", o.MaxOrder)
	}
	return nil
}

// Preprocess lowercases (if asked) and tokenizes a segment, as sacreBLEU
// does before counting n-grams. Trailing whitespace is dropped first,
// also as in sacreBLEU.
func (o Options) Preprocess(s string) string {
	if o.Lowercase {
		s = lower(s)
	}
	s = rstrip(s)
	if o.tokenizer() == Tok13a {
		return Tokenize13a(s)
	}
	return s
}

// Stats are BLEU's sufficient statistics. Stats of segments add up to the
// stats of the corpus; the score is computed only from the sum, which is
// what makes BLEU a corpus-level metric.
type Stats struct {
	SysLen, RefLen int
	// Counts[n-1] are the clipped matches of order n, Totals[n-1] the
	// hypothesis n-grams of order n.
	Counts, Totals []int
}

// Add accumulates o into s.
func (s *Stats) Add(o Stats) {
	s.SysLen += o.SysLen
	s.RefLen += o.RefLen
	for len(s.Counts) < len(o.Counts) {
		s.Counts = append(s.Counts, 0)
		s.Totals = append(s.Totals, 0)
	}
	for i := range o.Counts {
		s.Counts[i] += o.Counts[i]
		s.Totals[i] += o.Totals[i]
	}
}

// ngrams counts the n-grams of orders 1..maxN, keyed by their words
// joined with a space, which no word contains; the order of a key is
// then its number of spaces plus one.
func ngrams(words []string, maxN int) map[string]int {
	m := make(map[string]int, len(words)*maxN)
	for n := 1; n <= maxN; n++ {
		for i := 0; i+n <= len(words); i++ {
			m[strings.Join(words[i:i+n], " ")]++
		}
	}
	return m
}

// SegmentStats returns the statistics of one preprocessed hypothesis
// against its preprocessed references.
func SegmentStats(hyp string, refs []string, maxN int) Stats {
	refMax := map[string]int{}
	refLens := make([]int, 0, len(refs))
	for _, r := range refs {
		w := fields(r)
		refLens = append(refLens, len(w))
		for g, c := range ngrams(w, maxN) {
			refMax[g] = max(refMax[g], c)
		}
	}
	hw := fields(hyp)
	st := Stats{
		SysLen: len(hw),
		RefLen: closestRefLen(len(hw), refLens),
		Counts: make([]int, maxN),
		Totals: make([]int, maxN),
	}
	for g, c := range ngrams(hw, maxN) {
		n := strings.Count(g, " ")
		st.Totals[n] += c
		st.Counts[n] += min(c, refMax[g])
	}
	return st
}

// closestRefLen is the reference length nearest the hypothesis length,
// the shorter one on a tie (-1 with no references, as in sacreBLEU).
func closestRefLen(hypLen int, refLens []int) int {
	best, bestDiff := -1, -1
	for _, r := range refLens {
		d := hypLen - r
		if d < 0 {
			d = -d
		}
		if bestDiff == -1 || d < bestDiff || (d == bestDiff && r < best) {
			best, bestDiff = r, d
		}
	}
	return best
}

// Score is a BLEU score with what it was computed from.
type Score struct {
	// Score is BLEU in 0..100.
	Score float64
	// Precisions are the (smoothed) n-gram precisions in percent.
	Precisions []float64
	// BP is the brevity penalty, Ratio the hypothesis to reference length.
	BP, Ratio float64
	SysLen    int
	RefLen    int
	// Counts and Totals are the unsmoothed statistics. (sacreBLEU's
	// BLEUScore reports them after add-k has added its k; these do not.)
	Counts, Totals []int
	// NRefs is the number of references per segment.
	NRefs int
	// Options are the options the score was computed with.
	Options Options
}

// logFloor is sacreBLEU's my_log: log(0) is a large negative number
// rather than -Inf, so an unsmoothed zero precision gives a score of
// exactly 0 instead of NaN.
func logFloor(p float64) float64 {
	if p == 0 {
		return -9999999999
	}
	return math.Log(p)
}

// Compute turns statistics into a score exactly as sacreBLEU's
// BLEU.compute_bleu does, including its order of floating-point
// operations. The options must be valid. Compute cannot know how many
// references the statistics came from: set NRefs before Signature.
func Compute(st Stats, o Options) Score {
	maxN := o.order()
	sc := Score{
		BP:         1,
		SysLen:     st.SysLen,
		RefLen:     st.RefLen,
		Counts:     append([]int(nil), st.Counts...),
		Totals:     append([]int(nil), st.Totals...),
		Precisions: make([]float64, maxN),
		Options:    o,
	}
	for len(sc.Counts) < maxN {
		sc.Counts = append(sc.Counts, 0)
		sc.Totals = append(sc.Totals, 0)
	}
	if st.RefLen != 0 {
		sc.Ratio = float64(st.SysLen) / float64(st.RefLen)
	}
	if st.SysLen < st.RefLen {
		if st.SysLen > 0 {
			sc.BP = math.Exp(1 - float64(st.RefLen)/float64(st.SysLen))
		} else {
			sc.BP = 0
		}
	}
	anyMatch := false
	for _, c := range sc.Counts[:maxN] {
		anyMatch = anyMatch || c != 0
	}
	// sacreBLEU stops here so that smoothing cannot lift a hypothesis
	// sharing no word with its references above zero (its issue #141).
	if !anyMatch {
		return sc
	}
	method := o.smooth()
	value, _ := o.smoothValue()
	expDiv := 1.0
	effOrder := maxN
	for n := 1; n <= maxN; n++ {
		correct, total := float64(sc.Counts[n-1]), float64(sc.Totals[n-1])
		if method == SmoothAddK && n > 1 {
			correct += value
			total += value
		}
		if total == 0 {
			break
		}
		if o.EffectiveOrder {
			effOrder = n
		}
		switch {
		case correct != 0:
			sc.Precisions[n-1] = 100 * correct / total
		case method == SmoothExp:
			expDiv *= 2
			sc.Precisions[n-1] = 100 / (expDiv * total)
		case method == SmoothFloor:
			sc.Precisions[n-1] = 100 * value / total
		}
	}
	sum := 0.0
	for _, p := range sc.Precisions[:effOrder] {
		sum += logFloor(p)
	}
	sc.Score = sc.BP * math.Exp(sum/float64(effOrder))
	return sc
}

// Corpus scores hypotheses against one or more reference streams laid out
// as in sacreBLEU: refs[k][i] is the k-th reference of hyps[i]. Unlike
// sacreBLEU, which silently truncates to the shortest, streams of
// different lengths are an error.
func Corpus(hyps []string, refs [][]string, o Options) (Score, error) {
	total, err := CorpusStats(hyps, refs, o)
	if err != nil {
		return Score{}, err
	}
	sc := Compute(total, o)
	sc.NRefs = len(refs)
	return sc, nil
}

// CorpusStats is the sum of the segments' statistics that Corpus scores
// (each hypothesis and its references preprocessed as o says); sums of
// parts of a corpus add up to the whole's (Stats.Add).
func CorpusStats(hyps []string, refs [][]string, o Options) (Stats, error) {
	if err := o.Validate(); err != nil {
		return Stats{}, err
	}
	if len(refs) == 0 {
		return Stats{}, errors.New("bleu: no references")
	}
	if len(hyps) == 0 {
		// sacreBLEU fails here too; a score of an empty corpus would be
		// a number computed from nothing.
		return Stats{}, errors.New("bleu: no hypotheses")
	}
	for k, r := range refs {
		if len(r) != len(hyps) {
			return Stats{}, fmt.Errorf("bleu: %d hypotheses but reference stream %d has %d segments", len(hyps), k+1, len(r))
		}
	}
	maxN := o.order()
	total := Stats{Counts: make([]int, maxN), Totals: make([]int, maxN)}
	segRefs := make([]string, len(refs))
	for i, h := range hyps {
		for k := range refs {
			segRefs[k] = o.Preprocess(refs[k][i])
		}
		total.Add(SegmentStats(o.Preprocess(h), segRefs, maxN))
	}
	return total, nil
}

// Sentence scores one hypothesis against its references. Like
// sacreBLEU's sentence_score it honours o.EffectiveOrder as given;
// sentence BLEU normally wants it on (sacreBLEU's compat.sentence_bleu
// and `sacrebleu --sentence-level` turn it on).
func Sentence(hyp string, refs []string, o Options) (Score, error) {
	streams := make([][]string, len(refs))
	for k, r := range refs {
		streams[k] = []string{r}
	}
	return Corpus([]string{hyp}, streams, o)
}

// Tokenized is fairseq's "tokenized BLEU", the number in most translation
// papers (fairseq-score without --sacrebleu, multi-bleu.perl): one
// reference per hypothesis, words split on whitespace only, no smoothing.
// It equals sacreBLEU with --tokenize none --smooth-method none on the
// same files. The text should already be tokenized the way the paper did
// it; nothing here tokenizes it.
func Tokenized(hyps, refs []string) (Score, error) {
	return Corpus(hyps, [][]string{refs}, TokenizedOptions)
}

// Signature is the sacreBLEU 2.x reproducibility signature, e.g.
// "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.x-compatible".
func (s Score) Signature() string {
	o := s.Options
	nrefs := fmt.Sprint(s.NRefs)
	smooth := o.smooth()
	if v, ok := o.smoothValue(); ok {
		smooth += fmt.Sprintf("[%.2f]", v)
	}
	return fmt.Sprintf("nrefs:%s|case:%s|eff:%s|tok:%s|smooth:%s|version:%s",
		nrefs, pick(o.Lowercase, "lc", "mixed"), pick(o.EffectiveOrder, "yes", "no"),
		o.tokenizer(), smooth, VersionTag)
}

func pick(c bool, yes, no string) string {
	if c {
		return yes
	}
	return no
}

// Verbose is the part of the score line after the score, as sacreBLEU
// prints it: "58.1/31.9/20.1/13.1 (BP = 1.000 ratio = 1.001 hyp_len = 100
// ref_len = 99)".
func (s Score) Verbose() string {
	ps := make([]string, len(s.Precisions))
	for i, p := range s.Precisions {
		ps[i] = fmt.Sprintf("%.1f", p)
	}
	return fmt.Sprintf("%s (BP = %.3f ratio = %.3f hyp_len = %d ref_len = %d)",
		strings.Join(ps, "/"), s.BP, s.Ratio, s.SysLen, s.RefLen)
}

// Format is the score as sacreBLEU's Python API prints it:
// "BLEU = 26.13 58.1/31.9/20.1/13.1 (BP = 1.000 ...)".
func (s Score) Format() string {
	return fmt.Sprintf("BLEU = %.2f %s", s.Score, s.Verbose())
}

// Line is the score as the sacrebleu command prints it in text mode,
// signature included, with the score to width decimals (sacrebleu's
// default is 1).
func (s Score) Line(width int) string {
	return fmt.Sprintf("BLEU|%s = %.*f %s", s.Signature(), width, s.Score, s.Verbose())
}
