package model

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/clinic-ml/clinic/model/modeltest"
)

// logSoftmax64 is the reference log-softmax of one row, in float64.
func logSoftmax64(row []float32) []float64 {
	mx := math.Inf(-1)
	for _, v := range row {
		mx = math.Max(mx, float64(v))
	}
	var s float64
	for _, v := range row {
		s += math.Exp(float64(v) - mx)
	}
	out := make([]float64, len(row))
	for i, v := range row {
		out[i] = float64(v) - mx - math.Log(s)
	}
	return out
}

// smallSeq2Seq is a 16-wide encoder–decoder of variant norm and
// activation act, initialized with seed and perturbed (seed+1).
func smallSeq2Seq(norm, act string, seed uint64) *Params {
	cfg := tinySeq2SeqConfig(norm, act)
	cfg.DModel, cfg.Heads, cfg.DFF = 16, 4, 24
	p, _ := NewParams(cfg)
	p.Init(seed)
	perturbParams(p, seed+1)
	return p
}

// Decoding step by step with cached keys and values gives the same
// log-probabilities as a full teacher-forced forward pass, in every
// variant and at every CPU level, and allocates nothing per step.
func TestTranslatorMatchesForward(t *testing.T) {
	modeltest.EachLevel(t, func(level string) {
		for _, norm := range Norms {
			p := smallSeq2Seq(norm, "gelu", 7)
			cfg := p.Cfg
			b := randPair([]int{6, 2, 35}, []int{5, 8, 37}, cfg.Vocab, 9)
			m, _ := NewSeq2Seq(p, 3*40, 1)
			if _, _, err := m.Forward(b, false); err != nil {
				t.Fatal(err)
			}
			logits := m.Logits()
			tr, err := NewTranslator(p, 3, 3)
			if err != nil {
				t.Fatal(err)
			}
			if err := tr.Encode(b.Src, b.SrcLens, b.Bsz, b.SrcT); err != nil {
				t.Fatal(err)
			}
			V := cfg.Vocab
			logp := make([]float32, 3*V)
			toks, sents := make([]int32, 3), []int32{0, 1, 2}
			worst := 0.0
			for pos := 0; pos < b.TgtT; pos++ {
				for i := range toks {
					toks[i] = b.TgtIn[i*b.TgtT+pos]
				}
				if pos == 3 {
					if n := testing.AllocsPerRun(1, func() {
						tr.pos = pos
						tr.Step(toks, sents, pos, logp)
					}); n != 0 {
						t.Errorf("Step allocates %v times", n)
					}
					tr.pos = pos
				}
				if err := tr.Step(toks, sents, pos, logp); err != nil {
					t.Fatal(err)
				}
				for i := 0; i < 3; i++ {
					if pos >= int(b.TgtLens[i]) {
						continue
					}
					want := logSoftmax64(logits[(i*b.TgtT+pos)*V : (i*b.TgtT+pos+1)*V])
					for v := 0; v < V; v++ {
						worst = math.Max(worst, math.Abs(float64(logp[i*V+v])-want[v]))
					}
				}
			}
			if worst > 1e-5 {
				t.Errorf("%s/%s: incremental log-probabilities differ from the full forward by %g", level, norm, worst)
			}
		}
	})
}

// Reorder moves caches with their hypotheses: after hypotheses are
// permuted (one duplicated), each continues exactly as a fresh decode of
// its own prefix.
func TestTranslatorReorder(t *testing.T) {
	cfg := tinySeq2SeqConfig(Admin, "relu")
	p, _ := NewParams(cfg)
	p.Init(3)
	perturbParams(p, 4)
	b := randPair([]int{5}, []int{6}, cfg.Vocab, 1)
	V := cfg.Vocab
	prefixes := [][]int32{{1, 4, 5, 6}, {1, 7, 8, 9}, {1, 10, 11, 12}}
	decode := func(prefs [][]int32, reorder []int32) []float32 {
		tr, _ := NewTranslator(p, 1, 3)
		if err := tr.Encode(b.Src, b.SrcLens, 1, b.SrcT); err != nil {
			t.Fatal(err)
		}
		logp := make([]float32, 3*V)
		sents := []int32{0, 0, 0}
		toks := make([]int32, 3)
		for pos := 0; pos < 4; pos++ {
			for i := range toks {
				toks[i] = prefs[i][pos]
			}
			if pos == 3 && reorder != nil {
				if err := tr.Reorder(reorder); err != nil {
					t.Fatal(err)
				}
				for i := range toks {
					toks[i] = prefs[reorder[i]][pos]
				}
			}
			if err := tr.Step(toks, sents, pos, logp); err != nil {
				t.Fatal(err)
			}
		}
		return logp
	}
	got := decode(prefixes, []int32{2, 2, 0})
	want := decode([][]int32{prefixes[2], prefixes[2], prefixes[0]}, nil)
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("after Reorder, log-prob %d is %v, fresh decode %v", i, got[i], want[i])
		}
	}
}

// An LM checkpoint cannot be used for translation; bad steps are errors.
func TestTranslatorRejects(t *testing.T) {
	lm, _ := NewParams(TinyConfig(PreLN, "relu"))
	if _, err := NewTranslator(lm, 1, 1); err == nil {
		t.Error("translator built on a language model")
	}
	p, _ := NewParams(tinySeq2SeqConfig(PreLN, "relu"))
	// Sizes whose products wrap around an int, or that no machine holds,
	// are refused, not planned small (issue 23).
	for _, c := range [][2]int{{4, 1<<62 + 1}, {1<<62 + 1, 4}, {1 << 40, 1}, {1, 1 << 40}, {math.MaxInt, math.MaxInt}} {
		if _, err := NewTranslator(p, c[0], c[1]); err == nil {
			t.Errorf("NewTranslator(%d, %d): no error", c[0], c[1])
		}
	}
	for _, rows := range []int{1<<62 + 1, math.MaxInt} {
		if _, err := NewSeq2Seq(p, rows, 1); err == nil {
			t.Errorf("NewSeq2Seq(%d rows): no error", rows)
		}
		if _, err := New(lm, rows, 1); err == nil {
			t.Errorf("New(batch %d): no error", rows)
		}
	}
	tr, _ := NewTranslator(p, 2, 2)
	b := randPair([]int{3, 2}, []int{2, 2}, p.Cfg.Vocab, 1)
	if err := tr.Encode(b.Src, b.SrcLens, 2, b.SrcT); err != nil {
		t.Fatal(err)
	}
	logp := make([]float32, 2*p.Cfg.Vocab)
	for name, err := range map[string]error{
		"sentence out of range": tr.Step([]int32{1, 1}, []int32{0, 2}, 0, logp),
		"skipped position":      tr.Step([]int32{1, 1}, []int32{0, 1}, 5, logp),
		"too many hypotheses":   tr.Step([]int32{1, 1, 1}, []int32{0, 1, 1}, 0, logp),
		"bad token":             tr.Step([]int32{1, 99}, []int32{0, 1}, 0, logp),
	} {
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// Repeated reorders that duplicate, drop and permute hypotheses while
// their number shrinks: every hypothesis still scores as a fresh decode
// of its own prefix (the ancestry index, not moved caches, must follow
// the parents).
func TestTranslatorReorderRandom(t *testing.T) {
	cfg := tinySeq2SeqConfig(PreLN, "gelu")
	p, _ := NewParams(cfg)
	p.Init(5)
	perturbParams(p, 6)
	b := randPair([]int{4, 7}, []int{3, 3}, cfg.Vocab, 2)
	V := cfg.Vocab
	r := rand.New(rand.NewPCG(9, 9))
	const steps = 7
	tr, _ := NewTranslator(p, 2, 8)
	if err := tr.Encode(b.Src, b.SrcLens, 2, b.SrcT); err != nil {
		t.Fatal(err)
	}
	// hypotheses 0..3 translate sentence 0, 4..7 sentence 1
	prefix := make([][]int32, 8)
	sents := make([]int32, 8)
	for i := range prefix {
		prefix[i] = []int32{1}
		sents[i] = int32(i / 4)
	}
	logp := make([]float32, 8*V)
	for pos := 0; pos < steps; pos++ {
		nh := len(prefix)
		toks := make([]int32, nh)
		for i := range toks {
			toks[i] = prefix[i][pos]
		}
		if err := tr.Step(toks, sents, pos, logp[:nh*V]); err != nil {
			t.Fatal(err)
		}
		if pos == steps-1 {
			break
		}
		// keep between 1 and nh hypotheses, parents drawn with repeats
		// from the same sentence, order kept by sentence
		var parents []int32
		var next [][]int32
		var nextSents []int32
		for i := 0; i < nh; i++ {
			if r.IntN(4) == 0 && len(parents) > 0 {
				continue // dropped
			}
			par := r.IntN(nh)
			for sents[par] != sents[i] {
				par = r.IntN(nh)
			}
			parents = append(parents, int32(par))
			next = append(next, append(append([]int32(nil), prefix[par]...), int32(3+r.IntN(V-3))))
			nextSents = append(nextSents, sents[i])
		}
		if err := tr.Reorder(parents); err != nil {
			t.Fatal(err)
		}
		prefix, sents = next, nextSents
	}
	for i, pre := range prefix {
		one, _ := NewTranslator(p, 2, 1)
		if err := one.Encode(b.Src, b.SrcLens, 2, b.SrcT); err != nil {
			t.Fatal(err)
		}
		want := make([]float32, V)
		for pos, tok := range pre {
			if err := one.Step([]int32{tok}, []int32{sents[i]}, pos, want); err != nil {
				t.Fatal(err)
			}
		}
		for v := 0; v < V; v++ {
			if d := math.Abs(float64(logp[i*V+v] - want[v])); d > 1e-5 {
				t.Fatalf("hypothesis %d (prefix %v): log-prob of %d is %v, a fresh decode gives %v", i, pre, v, logp[i*V+v], want[v])
			}
		}
	}
}

// A translator kept across a change of its weights (validation BLEU
// keeps one through training) decodes with the weights of the moment:
// its next batch gives the bits of a translator built afresh. It had
// packed the decoder's weights once and went on decoding with them.
func TestTranslatorSeesWeightChanges(t *testing.T) {
	modeltest.EachLevel(t, func(level string) {
		cfg := tinySeq2SeqConfig("admin", "gelu")
		cfg.DModel, cfg.Heads, cfg.DFF = 16, 4, 24
		p, _ := NewParams(cfg)
		p.Init(7)
		b := randPair([]int{6, 2, 35}, []int{5, 8, 37}, cfg.Vocab, 9)
		kept, err := NewTranslator(p, 3, 3)
		if err != nil {
			t.Fatal(err)
		}
		V := cfg.Vocab
		decode := func(tr *Translator) []float32 {
			if err := tr.Encode(b.Src, b.SrcLens, b.Bsz, b.SrcT); err != nil {
				t.Fatal(err)
			}
			var all []float32
			logp := make([]float32, 3*V)
			toks, sents := make([]int32, 3), []int32{0, 1, 2}
			for pos := 0; pos < 4; pos++ {
				for i := range toks {
					toks[i] = b.TgtIn[i*b.TgtT+pos]
				}
				if err := tr.Step(toks, sents, pos, logp); err != nil {
					t.Fatal(err)
				}
				all = append(all, logp...)
			}
			return all
		}
		before := decode(kept)
		perturbParams(p, 8) // every tensor, as an optimizer step would
		got := decode(kept)
		fresh, _ := NewTranslator(p, 3, 3)
		want := decode(fresh)
		same := true
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%s: after the weights changed, log-probability %d is %v, a fresh translator gives %v", level, i, got[i], want[i])
			}
			same = same && before[i] == want[i]
		}
		if same {
			t.Fatalf("%s: perturbing the weights changed no log-probability; the test proves nothing", level)
		}
	})
}

// A translator planned for the batch's lengths (NewTranslatorFor)
// decodes exactly as one planned for the model's seq-len, with no more
// memory than TranslatorBytes says, and refuses longer sources and
// positions than planned.
func TestTranslatorPlannedLengths(t *testing.T) {
	for _, norm := range Norms {
		p := smallSeq2Seq(norm, "relu", 5)
		cfg := p.Cfg
		b := randPair([]int{6, 2, 9}, []int{7, 7, 7}, cfg.Vocab, 3)
		full, err := NewTranslator(p, 3, 3)
		if err != nil {
			t.Fatal(err)
		}
		const maxPos = 7
		small, err := NewTranslatorFor(p, 3, 3, b.SrcT, maxPos)
		if err != nil {
			t.Fatal(err)
		}
		V := cfg.Vocab
		lf, ls := make([]float32, 3*V), make([]float32, 3*V)
		for _, tr := range []*Translator{full, small} {
			if err := tr.Encode(b.Src, b.SrcLens, b.Bsz, b.SrcT); err != nil {
				t.Fatal(err)
			}
		}
		toks, sents := make([]int32, 3), []int32{0, 1, 2}
		for pos := range maxPos {
			for i := range toks {
				toks[i] = b.TgtIn[i*b.TgtT+pos]
			}
			if err := full.Step(toks, sents, pos, lf); err != nil {
				t.Fatal(err)
			}
			if err := small.Step(toks, sents, pos, ls); err != nil {
				t.Fatal(err)
			}
			for i := range lf {
				if math.Float32bits(lf[i]) != math.Float32bits(ls[i]) {
					t.Fatalf("%s: position %d, logit %d: planned for seq-len %v, for the batch %v", norm, pos, i, lf[i], ls[i])
				}
			}
			if pos == 3 {
				for _, tr := range []*Translator{full, small} {
					if err := tr.Reorder([]int32{2, 0, 0}); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		if err := small.Step(toks, sents, maxPos, ls); err == nil {
			t.Errorf("%s: a step past the planned positions: no error", norm)
		}
		long := randPair([]int{b.SrcT + 1}, []int{2}, cfg.Vocab, 4)
		if err := small.Encode(long.Src, long.SrcLens, 1, long.SrcT); err == nil {
			t.Errorf("%s: a source longer than planned: no error", norm)
		}
		for _, c := range [][2]int{{0, 4}, {4, 0}, {cfg.SeqLen + 1, 4}, {4, cfg.SeqLen + 1}} {
			if _, err := NewTranslatorFor(p, 1, 1, c[0], c[1]); err == nil {
				t.Errorf("%s: NewTranslatorFor(sources %d, positions %d): no error", norm, c[0], c[1])
			}
		}
		if s, f := TranslatorBytes(cfg, 3, 3, b.SrcT, maxPos), TranslatorBytes(cfg, 3, 3, cfg.SeqLen, cfg.SeqLen); !(s < f) {
			t.Errorf("%s: planned for the batch %.0f bytes, for seq-len %.0f", norm, s, f)
		}
	}
}
