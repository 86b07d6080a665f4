package generate

import (
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

// Token ids of the hand-built scorers: as the joint BPE's.
const (
	pad, bos, eos = 0, 1, 2
	tA, tB, tC    = 3, 4, 5
)

// scorer is a hand-built Stepper: next(key, prefix) gives the
// probabilities of the next token after prefix (generated tokens, BOS
// excluded) for the sentence with the given key; keys[s] is the key of
// the s-th sentence of the batch. It checks the Stepper contract.
type scorer struct {
	t    *testing.T
	V    int
	keys []int
	next func(key int, prefix []int32) []float64
	hist [][]int32 // per hypothesis slot: input tokens so far
	pos  int
	nh   int
}

func (s *scorer) Step(tokens, sents []int32, pos int, logp []float32) error {
	if pos != s.pos {
		s.t.Fatalf("step at %d, want %d", pos, s.pos)
	}
	if pos == 0 {
		s.hist = make([][]int32, len(tokens))
	} else if len(tokens) != len(s.hist) {
		s.t.Fatalf("step over %d hypotheses after a reorder to %d", len(tokens), len(s.hist))
	}
	for i, tok := range tokens {
		s.hist[i] = append(s.hist[i], tok)
		if pos == 0 && tok != bos {
			s.t.Fatalf("first token %d", tok)
		}
		p := s.next(s.keys[sents[i]], s.hist[i][1:])
		for v := 0; v < s.V; v++ {
			logp[i*s.V+v] = float32(math.Log(p[v]))
		}
	}
	s.pos, s.nh = pos+1, len(tokens)
	return nil
}

func (s *scorer) Reorder(parents []int32) error {
	h := make([][]int32, len(parents))
	for i, p := range parents {
		if p < 0 || int(p) >= s.nh {
			s.t.Fatalf("parent %d of %d", p, s.nh)
		}
		h[i] = slices.Clone(s.hist[p])
	}
	s.hist = h
	return nil
}

func opts(beam int, V int) Options {
	return Options{Beam: beam, LenPen: 1, MaxLenB: 200, Vocab: V, BOS: bos, EOS: eos, Banned: []int32{pad, bos}}
}

// table builds next from explicit distributions per prefix ("" is the
// start, "a b" after tokens a and b), with a fallback where EOS is
// unlikely.
func table(V int, rows map[string]map[int32]float64) func(int, []int32) []float64 {
	names := map[int32]string{tA: "a", tB: "b", tC: "c", eos: "eos"}
	return func(_ int, prefix []int32) []float64 {
		key := ""
		for i, t := range prefix {
			if i > 0 {
				key += " "
			}
			key += names[t]
		}
		p := make([]float64, V)
		row, ok := rows[key]
		if !ok {
			row = map[int32]float64{eos: 0.02, tA: 0.49, tB: 0.49}
		}
		for t, v := range row {
			p[t] = v
		}
		for t := range p {
			if p[t] == 0 {
				p[t] = 1e-9
			}
		}
		return p
	}
}

// randomNext is a scorer whose distributions are a hash of (key,
// prefix): a peaked softmax over V tokens.
func randomNext(V int, eosBoost float64) func(int, []int32) []float64 {
	return func(key int, prefix []int32) []float64 {
		h := uint64(key)*0x9e3779b97f4a7c15 + 12345
		for _, t := range prefix {
			h = (h ^ uint64(t)) * 0x100000001b3
		}
		r := rand.New(rand.NewPCG(h, 7))
		p := make([]float64, V)
		var sum float64
		for t := range p {
			p[t] = math.Exp(3 * r.Float64())
			if t == eos {
				p[t] *= eosBoost * float64(len(prefix))
			}
			sum += p[t]
		}
		for t := range p {
			p[t] /= sum
		}
		return p
	}
}

// greedy decodes one sentence by argmax (ties to the smaller id), with
// EOS banned at the first step and forced at maxLen.
func greedy(next func(int, []int32) []float64, key, V, maxLen int) ([]int32, float64) {
	var out []int32
	var sum float64
	for step := 0; ; step++ {
		p := next(key, out)
		best := int32(-1)
		for t := int32(3); t < int32(V); t++ {
			if best < 0 || float32(math.Log(p[t])) > float32(math.Log(p[best])) {
				best = t
			}
		}
		if step > 0 && float32(math.Log(p[eos])) >= float32(math.Log(p[best])) || step >= maxLen {
			best = eos
		}
		sum += float64(float32(math.Log(p[best])))
		out = append(out, best)
		if best == eos {
			return out, sum
		}
	}
}

func search(t *testing.T, next func(int, []int32) []float64, keys []int, srcLens []int, o Options) [][]Hypothesis {
	t.Helper()
	s := &scorer{t: t, V: o.Vocab, keys: keys, next: next}
	res, err := Search(s, srcLens, o)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// Beam 1 is a plain greedy decode.
func TestBeamOneIsGreedy(t *testing.T) {
	const V = 12
	next := randomNext(V, 0.15)
	keys := []int{0, 1, 2, 3, 4, 5, 6, 7}
	lens := []int{5, 9, 3, 7, 1, 4, 8, 2}
	o := opts(1, V)
	o.MaxLenA, o.MaxLenB = 1, 2
	res := search(t, next, keys, lens, o)
	for i, k := range keys {
		want, lp := greedy(next, k, V, o.MaxLen(lens[i]))
		if len(res[i]) != 1 || !slices.Equal(res[i][0].Tokens, want) || math.Abs(res[i][0].LogProb-lp) > 1e-9 {
			t.Errorf("sentence %d: beam 1 %v, greedy %v (%g)", i, res[i], want, lp)
		}
		if got := res[i][0].Score; math.Abs(got-lp/float64(len(want))) > 1e-12 {
			t.Errorf("sentence %d: score %g, want %g", i, got, lp/float64(len(want)))
		}
	}
}

// The best sequence "b EOS" starts with the less likely token: greedy
// takes "a" and ends with "a EOS"; beam 2 finds "b EOS".
func TestBeamFindsWhatGreedyMisses(t *testing.T) {
	const V = 6
	next := table(V, map[string]map[int32]float64{
		"":  {tA: 0.6, tB: 0.4},
		"a": {eos: 0.34, tA: 0.33, tB: 0.33},
		"b": {eos: 0.9, tA: 0.1},
	})
	g := search(t, next, []int{0}, []int{3}, opts(1, V))[0][0]
	b := search(t, next, []int{0}, []int{3}, opts(2, V))[0]
	if !slices.Equal(g.Tokens, []int32{tA, eos}) {
		t.Errorf("greedy: %v", g.Tokens)
	}
	if !slices.Equal(b[0].Tokens, []int32{tB, eos}) || math.Abs(b[0].LogProb-math.Log(0.36)) > 1e-6 {
		t.Errorf("beam 2: %+v", b)
	}
	if len(b) != 2 || !slices.Equal(b[1].Tokens, []int32{tA, eos}) || b[1].Score > b[0].Score {
		t.Errorf("beam 2 hypotheses: %+v", b)
	}
}

// "a EOS" is more likely than "b a a EOS" but less likely per token:
// --lenpen 0 (raw sum) prefers the short one, --lenpen 2 the long one.
func TestLengthPenalty(t *testing.T) {
	const V = 6
	next := table(V, map[string]map[int32]float64{
		"":      {tA: 0.5, tB: 0.5},
		"a":     {eos: 0.6, tA: 0.2, tB: 0.2},
		"b":     {tA: 0.8, eos: 0.1, tB: 0.1},
		"b a":   {tA: 0.8, eos: 0.1, tB: 0.1},
		"b a a": {eos: 0.8, tA: 0.1, tB: 0.1},
	})
	short, long := []int32{tA, eos}, []int32{tB, tA, tA, eos}
	for _, tc := range []struct {
		lenpen float64
		want   []int32
	}{{0, short}, {1, long}, {2, long}} {
		o := opts(2, V)
		o.LenPen = tc.lenpen
		res := search(t, next, []int{0}, []int{3}, o)[0]
		if len(res) != 2 || !slices.Equal(res[0].Tokens, tc.want) {
			t.Errorf("lenpen %g: %+v, want %v first", tc.lenpen, res, tc.want)
			continue
		}
		for _, h := range res {
			if want := h.LogProb / math.Pow(float64(len(h.Tokens)), tc.lenpen); math.Abs(h.Score-want) > 1e-12 {
				t.Errorf("lenpen %g: score %g, want %g", tc.lenpen, h.Score, want)
			}
		}
	}
}

// A model that never ends stops at a·srclen + b tokens (capped by the
// limit) with a forced EOS.
func TestMaxLengthForcesEOS(t *testing.T) {
	const V = 6
	never := func(int, []int32) []float64 { return []float64{0, 0, 1e-30, 0.5, 0.3, 0.2} }
	for _, tc := range []struct {
		a           float64
		b, limit, n int
		want        int
	}{{0, 3, 0, 10, 3}, {0.5, 1, 0, 10, 6}, {0.5, 1, 4, 10, 4}, {1.2, 10, 0, 7, 18}, {0, 0, 0, 5, 1}} {
		for _, beam := range []int{1, 3} {
			o := opts(beam, V)
			o.MaxLenA, o.MaxLenB, o.Limit = tc.a, tc.b, tc.limit
			res := search(t, never, []int{0}, []int{tc.n}, o)[0]
			if len(res) != beam {
				t.Errorf("%+v beam %d: %d hypotheses", tc, beam, len(res))
			}
			for _, h := range res {
				if len(h.Tokens) != tc.want+1 || h.Tokens[tc.want] != eos || slices.Contains(h.Tokens[:tc.want], eos) {
					t.Errorf("%+v beam %d: %v, want %d tokens then EOS", tc, beam, h.Tokens, tc.want)
				}
			}
		}
	}
}

// A sentence decodes the same alone, in a batch, and at any place in it.
func TestBatchIndependent(t *testing.T) {
	const V = 10
	next := randomNext(V, 0.1)
	lens := []int{4, 9, 2, 6, 3, 7}
	o := opts(4, V)
	o.MaxLenA, o.MaxLenB = 1, 3
	alone := make([][]Hypothesis, len(lens))
	for k := range lens {
		alone[k] = search(t, next, []int{k}, []int{lens[k]}, o)[0]
	}
	for _, perm := range [][]int{{0, 1, 2, 3, 4, 5}, {5, 3, 1, 0, 2, 4}, {2, 4}} {
		l := make([]int, len(perm))
		for i, k := range perm {
			l[i] = lens[k]
		}
		res := search(t, next, perm, l, o)
		for i, k := range perm {
			if !reflect.DeepEqual(res[i], alone[k]) {
				t.Errorf("order %v: sentence %d differs in a batch:\n%+v\n%+v", perm, k, res[i], alone[k])
			}
		}
	}
}

// Bad options are errors, not panics.
func TestBadOptions(t *testing.T) {
	s := &scorer{t: t, V: 6, keys: []int{0}, next: randomNext(6, 1)}
	for _, o := range []Options{
		{Beam: 0, Vocab: 6, EOS: eos, BOS: bos},
		{Beam: 1, LenPen: math.NaN(), Vocab: 6, EOS: eos, BOS: bos},
		{Beam: 1, Vocab: 6, EOS: 7, BOS: bos},
		{Beam: 1, Vocab: 6, EOS: eos, BOS: bos, Banned: []int32{eos}},
	} {
		if _, err := Search(s, []int{3}, o); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
	// A beam whose sizes wrap around an int (2·(2^62+1) hypotheses) is
	// refused before anything is planned (issue 23).
	for _, beam := range []int{1<<62 + 1, math.MaxInt} {
		if _, err := Search(s, []int{3, 3}, opts(beam, 6)); err == nil {
			t.Errorf("beam %d: no error", beam)
		}
	}
	if res, err := Search(s, nil, opts(2, 6)); err != nil || len(res) != 0 {
		t.Errorf("no sentences: %v %v", res, err)
	}
}
