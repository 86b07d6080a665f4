// Package generate decodes with beam search as fairseq's
// SequenceGenerator does, over any incremental scorer (a Stepper:
// model.Translator, or a hand-built one in tests).
//
// Each step scores the next token of every live hypothesis of every
// unfinished sentence in one Stepper.Step call. For each sentence the
// 2·beam best candidates (hypothesis × token, by cumulative log-prob)
// are taken; a candidate among the first beam that ends in EOS becomes a
// finished hypothesis with score
//
//	Σ log p / length^lenpen      (length counts the EOS)
//
// and the first beam candidates that do not end in EOS continue. The
// stopping rule is fairseq's is_finished: a sentence is done as soon as
// it has beam finished hypotheses (no check whether a live hypothesis
// could still score better: fairseq's "stop early", which is its only
// behaviour since it dropped the --no-early-stop option), or when the
// step reaches its maximum length, where every token but EOS is masked
// so that each live hypothesis ends. Finished sentences drop out of the
// batch; the Stepper's caches follow the survivors through Reorder.
package generate

import (
	"fmt"
	"math"
	"slices"

	"github.com/clinic-ml/clinic/asm"
	"github.com/clinic-ml/clinic/internal/checked"
)

// Stepper scores one decoding position for a set of hypotheses.
type Stepper interface {
	// Step writes the log-probabilities of the next token, [nh, vocab],
	// for nh = len(tokens) hypotheses: tokens[i] is hypothesis i's input
	// at position pos (BOS at 0), sents[i] the sentence it translates.
	// Steps come at positions 0, 1, 2, … in order.
	Step(tokens, sents []int32, pos int, logp []float32) error
	// Reorder makes hypothesis i continue from hypothesis parents[i] of
	// the last step.
	Reorder(parents []int32) error
}

// Options configure the search.
type Options struct {
	Beam   int     // hypotheses kept per sentence (1: greedy)
	LenPen float64 // length penalty exponent (fairseq's --lenpen); any finite value
	// The longest output of a sentence whose source holds n tokens (its
	// EOS counted) is int(MaxLenA·n + MaxLenB) tokens before the EOS,
	// capped by Limit (when positive) and at least 1 (fairseq's
	// --max-len-a, --max-len-b; its --min-len 1 is fixed).
	MaxLenA float64
	MaxLenB int
	Limit   int
	Vocab   int
	BOS     int32   // the first input token
	EOS     int32   // ends a hypothesis
	Banned  []int32 // tokens never generated (padding; BOS)
	// Pool runs the candidate search of each step's sentences (nil:
	// inline); the result does not depend on it.
	Pool *asm.Pool
}

// Hypothesis is one finished translation.
type Hypothesis struct {
	Tokens  []int32 // the generated tokens, ending with EOS
	LogProb float64 // Σ log p over Tokens
	Score   float64 // LogProb / len(Tokens)^LenPen
}

// MaxLen is the longest output (before the EOS) of a source of srcLen
// tokens under opt.
func (opt Options) MaxLen(srcLen int) int {
	f := math.Floor(opt.MaxLenA*float64(srcLen) + float64(opt.MaxLenB))
	if opt.Limit > 0 && f > float64(opt.Limit) {
		f = float64(opt.Limit)
	}
	if !(f >= 1) {
		return 1
	}
	if f > 1<<30 {
		return 1 << 30
	}
	return int(f)
}

func (opt Options) check() error {
	switch {
	case opt.Beam < 1:
		return fmt.Errorf("beam must be at least 1, got %d", opt.Beam)
	case math.IsNaN(opt.LenPen) || math.IsInf(opt.LenPen, 0):
		return fmt.Errorf("length penalty must be finite, got %g", opt.LenPen)
	case math.IsNaN(opt.MaxLenA) || math.IsInf(opt.MaxLenA, 0):
		return fmt.Errorf("max-len-a must be finite, got %g", opt.MaxLenA)
	case opt.Vocab < 1 || opt.EOS < 0 || int(opt.EOS) >= opt.Vocab || opt.BOS < 0 || int(opt.BOS) >= opt.Vocab:
		return fmt.Errorf("tokens BOS %d, EOS %d outside a vocabulary of %d", opt.BOS, opt.EOS, opt.Vocab)
	}
	for _, b := range opt.Banned {
		if b == opt.EOS {
			return fmt.Errorf("EOS cannot be banned")
		}
	}
	return nil
}

// cand is a candidate continuation: row is the hypothesis's index among
// its sentence's live hypotheses.
type cand struct {
	score float64
	row   int
	tok   int32
}

// Search decodes len(srcLens) sentences (source lengths with their EOS,
// which set each one's maximum length) and returns, per sentence, its
// finished hypotheses, best first (at most Beam).
//
// Ties are broken deterministically: among candidates of equal score
// the one from the better-ranked hypothesis wins, then the smaller token
// id; finished hypotheses of equal score keep the order in which they
// finished. The result of a sentence does not depend on the other
// sentences of the batch (given a Stepper whose rows do not).
func Search(s Stepper, srcLens []int, opt Options) ([][]Hypothesis, error) {
	if err := opt.check(); err != nil {
		return nil, err
	}
	n, beam, V := len(srcLens), opt.Beam, opt.Vocab
	if n == 0 {
		return nil, nil
	}
	maxLen := make([]int, n)
	longest := 0
	for i, l := range srcLens {
		maxLen[i] = opt.MaxLen(l)
		longest = max(longest, maxLen[i])
	}
	allowed := make([]bool, V)
	for i := range allowed {
		allowed[i] = true
	}
	for _, b := range opt.Banned {
		if b >= 0 && int(b) < V {
			allowed[b] = false
		}
	}
	stride := longest + 1
	// The buffers below hold 2·beam candidates, and a history and the
	// log-probabilities, per hypothesis: their sizes must not wrap
	// around (the beam comes from a flag).
	maxHyp, ok := checked.Mul(n, beam)
	if _, fits := checked.Mul(maxHyp, max(2, stride, V)); !ok || !fits {
		return nil, fmt.Errorf("%d sentences with beam %d are too many to plan", n, beam)
	}
	type state struct {
		sents, toks []int32
		cum         []float64
		hist        []int32 // [hyp, stride]: generated tokens
	}
	newState := func() state {
		return state{make([]int32, 0, maxHyp), make([]int32, 0, maxHyp), make([]float64, 0, maxHyp), make([]int32, maxHyp*stride)}
	}
	cur, next := newState(), newState()
	for i := 0; i < n; i++ {
		cur.sents = append(cur.sents, int32(i))
		cur.toks = append(cur.toks, opt.BOS)
		cur.cum = append(cur.cum, 0)
	}
	final := make([][]Hypothesis, n)
	logp := make([]float32, maxHyp*V)
	parents := make([]int32, 0, maxHyp)
	K := 2 * beam
	// Each sentence's candidates are found independently (in parallel),
	// then taken in sentence order.
	candBuf := make([]cand, n*K)
	cands := make([][]cand, n)
	runs := make([]int, 0, n+1)
	var step int
	findCands := func(lo, hi int) {
		for r := lo; r < hi; r++ {
			i, j := runs[r], runs[r+1]
			sent := cur.sents[i]
			cands[r] = topK(candBuf[r*K:r*K:r*K+K], K, logp[i*V:j*V], cur.cum[i:j], V, allowed, opt.EOS,
				step >= maxLen[sent], step < 1)
		}
	}
	for step = 0; len(cur.sents) > 0; step++ {
		nh := len(cur.sents)
		if err := s.Step(cur.toks, cur.sents, step, logp[:nh*V]); err != nil {
			return nil, err
		}
		runs = runs[:0]
		for i := range nh {
			if i == 0 || cur.sents[i] != cur.sents[i-1] {
				runs = append(runs, i)
			}
		}
		runs = append(runs, nh)
		opt.Pool.Parallel(len(runs)-1, findCands)
		next.sents, next.toks, next.cum, parents = next.sents[:0], next.toks[:0], next.cum[:0], parents[:0]
		for r := 0; r+1 < len(runs); r++ {
			i, sent, cands := runs[r], cur.sents[runs[r]], cands[r]
			// Candidates among the first beam that end in EOS finish.
			for _, c := range cands[:min(beam, len(cands))] {
				if c.tok != opt.EOS || len(final[sent]) >= beam {
					continue
				}
				h := i + c.row
				toks := make([]int32, step+1)
				copy(toks, cur.hist[h*stride:h*stride+step])
				toks[step] = opt.EOS
				final[sent] = append(final[sent], Hypothesis{Tokens: toks, LogProb: c.score,
					Score: c.score / math.Pow(float64(step+1), opt.LenPen)})
			}
			if len(final[sent]) < beam && step < maxLen[sent] {
				k := 0
				for _, c := range cands {
					if k == beam {
						break
					}
					if c.tok == opt.EOS {
						continue
					}
					h, at := i+c.row, len(next.sents)*stride
					copy(next.hist[at:at+step], cur.hist[h*stride:h*stride+step])
					next.hist[at+step] = c.tok
					next.sents = append(next.sents, sent)
					next.toks = append(next.toks, c.tok)
					next.cum = append(next.cum, c.score)
					parents = append(parents, int32(h))
					k++
				}
			}
		}
		if len(next.sents) == 0 {
			break
		}
		if err := s.Reorder(parents); err != nil {
			return nil, err
		}
		cur, next = next, cur
	}
	for _, f := range final {
		slices.SortStableFunc(f, func(a, b Hypothesis) int {
			switch {
			case a.Score > b.Score:
				return -1
			case a.Score < b.Score:
				return 1
			}
			return 0
		})
	}
	return final, nil
}

// topK returns the k best candidates over the rows of logp (one per live
// hypothesis of a sentence, with cumulative scores cum), best first, ties
// to the earlier row then the smaller token. onlyEOS masks every token
// but EOS (the maximum length); noEOS masks EOS (the minimum length).
// Candidates of score −∞ or NaN are never taken.
func topK(out []cand, k int, logp []float32, cum []float64, V int, allowed []bool, eos int32, onlyEOS, noEOS bool) []cand {
	worst := math.Inf(-1)
	push := func(c cand) {
		// insert after every candidate of score ≥ c.score: the scan runs
		// in (row, token) order, so ties keep that order
		at := len(out)
		for at > 0 && out[at-1].score < c.score {
			at--
		}
		if len(out) < k {
			out = append(out, cand{})
		} else if at == k {
			return
		}
		copy(out[at+1:], out[at:len(out)-1])
		out[at] = c
		if len(out) == k {
			worst = out[k-1].score
		}
	}
	for r := range cum {
		row := logp[r*V : r*V+V]
		base := cum[r]
		if onlyEOS {
			if s := base + float64(row[eos]); s > math.Inf(-1) {
				push(cand{s, r, eos})
			}
			continue
		}
		for t, l := range row {
			s := base + float64(l)
			if !(s > worst) { // also −∞ and NaN
				continue
			}
			if !allowed[t] || (noEOS && int32(t) == eos) {
				continue
			}
			push(cand{s, r, int32(t)})
		}
	}
	return out
}
