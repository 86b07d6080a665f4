package data

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// synth returns n random examples with raw lengths in [0, maxLen] and
// ids in [3, 50) (0, 1, 2 are pad, BOS, EOS as in the BPE vocabulary).
func synth(n, maxLen int, seed uint64) (src, tgt [][]int32) {
	r := rand.New(rand.NewPCG(seed, 1))
	gen := func() []int32 {
		s := make([]int32, r.IntN(maxLen+1))
		for i := range s {
			s[i] = 3 + r.Int32N(47)
		}
		return s
	}
	for range n {
		src = append(src, gen())
		tgt = append(tgt, gen())
	}
	return src, tgt
}

func cfg(maxTokens int) PairConfig {
	return PairConfig{MaxTokens: maxTokens, Pad: 0, BOS: 1, EOS: 2, Seed: 7}
}

func newBatcher(t *testing.T, src, tgt [][]int32, c PairConfig) *PairBatcher {
	t.Helper()
	b, err := NewPairBatcher(src, tgt, c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// snap copies what identifies a batch, since the batch itself is
// overwritten by the next call.
func snap(b *PairBatch) string {
	return fmt.Sprint(b.Index, b.Src, b.TgtIn, b.TgtOut)
}

// checkBatch checks a batch's tensors against the examples and limits.
func checkBatch(t *testing.T, b *PairBatch, src, tgt [][]int32, c PairConfig) {
	t.Helper()
	if b.N != len(b.Index) || b.N == 0 {
		t.Fatalf("N = %d with %d indices", b.N, len(b.Index))
	}
	if b.N*max(b.S, b.T) > c.MaxTokens {
		t.Fatalf("batch %d×max(%d,%d) exceeds MaxTokens %d", b.N, b.S, b.T, c.MaxTokens)
	}
	if c.MaxSentences > 0 && b.N > c.MaxSentences {
		t.Fatalf("%d rows, MaxSentences %d", b.N, c.MaxSentences)
	}
	if len(b.Src) != b.N*b.S || len(b.TgtIn) != b.N*b.T || len(b.TgtOut) != b.N*b.T {
		t.Fatalf("tensor sizes %d %d %d for %d×%d, %d×%d", len(b.Src), len(b.TgtIn), len(b.TgtOut), b.N, b.S, b.N, b.T)
	}
	maxS, maxT, ns, nt := 0, 0, 0, 0
	for r, i := range b.Index {
		s := append(append([]int32{}, src[i]...), c.EOS)
		if b.SrcLens[r] != len(s) {
			t.Fatalf("SrcLens[%d] = %d, want %d", r, b.SrcLens[r], len(s))
		}
		row := b.Src[r*b.S : (r+1)*b.S]
		if !slices.Equal(row[:len(s)], s) || slices.ContainsFunc(row[len(s):], func(v int32) bool { return v != c.Pad }) {
			t.Fatalf("source row %d = %v, want %v then pad", r, row, s)
		}
		maxS, ns = max(maxS, len(s)), ns+len(s)
		if tgt == nil {
			continue
		}
		in := append([]int32{c.BOS}, tgt[i]...)
		out := append(append([]int32{}, tgt[i]...), c.EOS)
		if b.TgtLens[r] != len(in) {
			t.Fatalf("TgtLens[%d] = %d, want %d", r, b.TgtLens[r], len(in))
		}
		rin, rout := b.TgtIn[r*b.T:(r+1)*b.T], b.TgtOut[r*b.T:(r+1)*b.T]
		if !slices.Equal(rin[:len(in)], in) || slices.ContainsFunc(rin[len(in):], func(v int32) bool { return v != c.Pad }) {
			t.Fatalf("target input row %d = %v, want %v then pad", r, rin, in)
		}
		if !slices.Equal(rout[:len(out)], out) || slices.ContainsFunc(rout[len(out):], func(v int32) bool { return v != IgnoreTarget }) {
			t.Fatalf("target output row %d = %v, want %v then %d", r, rout, out, IgnoreTarget)
		}
		maxT, nt = max(maxT, len(in)), nt+len(in)
	}
	if b.S != maxS || b.T != maxT || b.SrcTokens != ns || b.TgtTokens != nt {
		t.Fatalf("S, T, tokens = %d, %d, %d, %d; want %d, %d, %d, %d", b.S, b.T, b.SrcTokens, b.TgtTokens, maxS, maxT, ns, nt)
	}
}

func TestPairBatcherEpochs(t *testing.T) {
	src, tgt := synth(2000, 60, 1)
	c := cfg(512)
	c.MaxLen = 50
	c.MaxSentences = 40
	b := newBatcher(t, src, tgt, c)
	st := b.Stats()
	skipped := map[int]bool{}
	for _, i := range b.Skipped() {
		skipped[i] = true
	}
	if st.SkippedLong == 0 || len(skipped) != st.SkippedLong+st.SkippedTokens || st.Examples+len(skipped) != len(src) {
		t.Fatalf("stats %+v, %d skipped", st, len(skipped))
	}
	var orders [][]int
	for epoch := range 3 {
		seen := make([]int, len(src))
		var firsts []int
		srcTok, tgtTok, srcPad := 0, 0, 0
		for k := range st.Batches {
			if s := b.State(); s.Epoch != epoch || s.Batch != k {
				t.Fatalf("state %+v, want epoch %d batch %d", s, epoch, k)
			}
			bt := b.Next()
			checkBatch(t, bt, src, tgt, c)
			for r, i := range bt.Index {
				seen[i]++
				if r > 0 && (bt.SrcLens[r] < bt.SrcLens[r-1] || bt.SrcLens[r] == bt.SrcLens[r-1] && bt.TgtLens[r] < bt.TgtLens[r-1]) {
					t.Fatalf("batch rows not sorted by (S, T): %v %v", bt.SrcLens, bt.TgtLens)
				}
			}
			srcTok += bt.SrcTokens
			tgtTok += bt.TgtTokens
			srcPad += len(bt.Src)
			firsts = append(firsts, bt.Index[0])
		}
		for i, n := range seen {
			want := 1
			if skipped[i] {
				want = 0
			}
			if n != want {
				t.Fatalf("epoch %d: example %d seen %d times, want %d", epoch, i, n, want)
			}
		}
		if srcTok != st.SrcTokens || tgtTok != st.TgtTokens || srcPad != st.SrcPadded {
			t.Errorf("epoch tokens %d, %d, padded %d; stats %+v", srcTok, tgtTok, srcPad, st)
		}
		orders = append(orders, firsts)
	}
	if slices.Equal(orders[0], orders[1]) || slices.Equal(orders[1], orders[2]) {
		t.Error("consecutive epochs have the same batch order")
	}
	// The batches themselves are fixed; only their order changes.
	if a, b := slices.Sorted(slices.Values(orders[0])), slices.Sorted(slices.Values(orders[1])); !slices.Equal(a, b) {
		t.Error("epochs have different batches")
	}
}

func TestPairBatcherSeed(t *testing.T) {
	src, tgt := synth(500, 30, 2)
	run := func(seed uint64) []string {
		c := cfg(256)
		c.Seed = seed
		b := newBatcher(t, src, tgt, c)
		var out []string
		for range 2*b.Stats().Batches + 3 {
			out = append(out, snap(b.Next()))
		}
		return out
	}
	a, b, other := run(7), run(7), run(8)
	if !slices.Equal(a, b) {
		t.Error("same seed, different batches")
	}
	if slices.Equal(a, other) {
		t.Error("different seeds, same batches")
	}
}

func TestPairBatcherResume(t *testing.T) {
	src, tgt := synth(300, 30, 3)
	c := cfg(200)
	ref := newBatcher(t, src, tgt, c)
	nb := ref.Stats().Batches
	var want []string
	for range 3*nb + 1 {
		want = append(want, snap(ref.Next()))
	}
	for _, k := range []int{0, 1, nb / 2, nb - 1, nb, nb + 1, 2*nb - 1} {
		b := newBatcher(t, src, tgt, c)
		for range k {
			b.Next()
		}
		// Through JSON, as a checkpoint would store it.
		js, err := json.Marshal(b.State())
		if err != nil {
			t.Fatal(err)
		}
		var st PairState
		if err := json.Unmarshal(js, &st); err != nil {
			t.Fatal(err)
		}
		r := newBatcher(t, src, tgt, c)
		if err := r.SetState(st); err != nil {
			t.Fatal(err)
		}
		for j := range nb + 2 {
			if got := snap(r.Next()); got != want[k+j] {
				t.Fatalf("resumed after %d batches (state %s): batch %d differs", k, js, j)
			}
		}
	}
}

func TestPairStateText(t *testing.T) {
	s := PairState{Epoch: 3, Batch: 17, Layout: 0xdeadbeef}
	txt, _ := s.MarshalText()
	if string(txt) != "3/17/00000000deadbeef" {
		t.Errorf("MarshalText = %q", txt)
	}
	var u PairState
	if err := u.UnmarshalText(txt); err != nil || u != s {
		t.Errorf("UnmarshalText = %+v, %v", u, err)
	}
	for _, bad := range []string{"", "1/2", "1/2/3/4", "-1/0/0", "a/0/0", "1/0/xyz"} {
		if err := u.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("UnmarshalText(%q) succeeded", bad)
		}
	}
}

func TestPairBatcherSetStateErrors(t *testing.T) {
	src, tgt := synth(100, 20, 4)
	b := newBatcher(t, src, tgt, cfg(128))
	nb := b.Stats().Batches
	other := cfg(128)
	other.Seed = 8
	wrong := newBatcher(t, src, tgt, other).State()
	ok := b.State()
	for _, s := range []PairState{wrong, {Epoch: 0, Batch: nb, Layout: ok.Layout}, {Epoch: -1, Layout: ok.Layout}, {Batch: -1, Layout: ok.Layout}} {
		if err := b.SetState(s); err == nil {
			t.Errorf("SetState(%+v) succeeded", s)
		}
	}
	if b.State() != ok {
		t.Error("a refused SetState changed the state")
	}
}

// The rule is rows·max(S, T) ≤ MaxTokens, S and T counting EOS/BOS.
func TestPairBatchTokenRule(t *testing.T) {
	// Two examples with S = 1, T = 5: 2·5 = 10 fits MaxTokens 10 (a
	// rule summing source and target, 2·1 + 2·5 = 12, would not), but
	// not 9.
	src := [][]int32{{}, {}}
	tgt := [][]int32{{3, 4, 5, 6}, {3, 4, 5, 6}}
	for maxTok, want := range map[int]int{10: 1, 9: 2} {
		e, err := NewPairEval(src, tgt, cfg(maxTok))
		if err != nil {
			t.Fatal(err)
		}
		if e.Batches() != want {
			t.Errorf("MaxTokens %d: %d batches, want %d", maxTok, e.Batches(), want)
		}
	}
	// S = 6, 2, 3: sorted 2, 3 fit 2·3 = 6; the 6 needs its own batch.
	e, err := NewPairEval([][]int32{{9, 9, 9, 9, 9}, {9}, {9, 9}}, nil, cfg(6))
	if err != nil {
		t.Fatal(err)
	}
	var got [][]int
	for i := range e.Batches() {
		got = append(got, slices.Clone(e.Batch(i).Index))
	}
	if want := [][]int{{1, 2}, {0}}; !reflect.DeepEqual(got, want) {
		t.Errorf("batches %v, want %v", got, want)
	}
}

func TestPairBatcherSkips(t *testing.T) {
	ids := func(n int) []int32 { return slices.Repeat([]int32{5}, n) }
	// Raw lengths; S and T are one more.
	src := [][]int32{ids(3), ids(10), ids(3), ids(20), ids(3), ids(1)}
	tgt := [][]int32{ids(3), ids(3), ids(10), ids(3), ids(15), ids(1)}
	c := cfg(10)
	// MaxLen 11 skips 3 (S 21) and 4 (T 16) as long; 1 (S 11) and 2
	// (T 11) pass MaxLen but cannot fit a batch of MaxTokens 10.
	c.MaxLen = 11
	b := newBatcher(t, src, tgt, c)
	st := b.Stats()
	if st.SkippedLong != 2 || st.SkippedTokens != 2 || st.Examples != 2 {
		t.Errorf("stats %+v, want 2 long, 2 over MaxTokens, 2 kept", st)
	}
	if got := b.Skipped(); !slices.Equal(got, []int{1, 2, 3, 4}) {
		t.Errorf("Skipped = %v", got)
	}
	c.MaxLen = 0 // no length limit: only MaxTokens skips
	b = newBatcher(t, src, tgt, c)
	if st := b.Stats(); st.SkippedLong != 0 || st.SkippedTokens != 4 {
		t.Errorf("MaxLen 0: stats %+v", st)
	}
}

func TestPairBatcherErrors(t *testing.T) {
	good := [][]int32{{5, 6}}
	for _, c := range []struct {
		name     string
		src, tgt [][]int32
		cfg      func(*PairConfig)
		want     string
	}{
		{"max tokens", good, good, func(c *PairConfig) { c.MaxTokens = 0 }, "MaxTokens is 0"},
		{"negative max len", good, good, func(c *PairConfig) { c.MaxLen = -1 }, "must not be negative"},
		{"negative id", good, good, func(c *PairConfig) { c.Pad = -1 }, "must not be negative"},
		{"counts", good, [][]int32{{5}, {6}}, nil, "1 source sentences but 2 targets"},
		{"no targets", good, nil, nil, "training needs targets"},
		{"empty", [][]int32{}, [][]int32{}, nil, "no examples"},
		{"eos in source", [][]int32{{5}, {5, 2}}, [][]int32{{5}, {5}}, nil, "example 1: source holds id 2"},
		{"bos in target", good, [][]int32{{1, 5}}, nil, "example 0: target holds id 1"},
		{"negative token", good, [][]int32{{-4}}, nil, "target holds id -4"},
		{"all skipped", good, good, func(c *PairConfig) { c.MaxLen = 2 }, "all 1 examples skipped (1 longer than MaxLen 2"},
	} {
		pc := cfg(64)
		if c.cfg != nil {
			c.cfg(&pc)
		}
		_, err := NewPairBatcher(c.src, c.tgt, pc)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "data: ") {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
}

func TestPairBatcherAllocs(t *testing.T) {
	src, tgt := synth(400, 40, 5)
	b := newBatcher(t, src, tgt, cfg(300))
	b.Next() // computes the first epoch's order
	nb := b.Stats().Batches
	// Stay within epoch 0; a new epoch computes its order once.
	if a := testing.AllocsPerRun(nb-3, func() { b.Next() }); a != 0 {
		t.Errorf("Next allocates %v times per call", a)
	}
}

func TestPairEval(t *testing.T) {
	src, tgt := synth(700, 50, 6)
	c := cfg(400)
	c.MaxLen = 45
	e, err := NewPairEval(src, tgt, c)
	if err != nil {
		t.Fatal(err)
	}
	run := func() []string {
		var out []string
		for i := range e.Batches() {
			out = append(out, snap(e.Batch(i)))
		}
		return out
	}
	first := run()
	if again := run(); !slices.Equal(first, again) {
		t.Error("evaluation batches differ between passes")
	}
	// Every example is batched once or skipped, so results written back
	// through Index fill the input order.
	back := make([]int, len(src))
	for i := range back {
		back[i] = -1
	}
	prevS, prevT := 0, 0
	for k := range e.Batches() {
		b := e.Batch(k)
		checkBatch(t, b, src, tgt, c)
		for r, i := range b.Index {
			if back[i] != -1 {
				t.Fatalf("example %d in two batches", i)
			}
			back[i] = i
			s, tl := b.SrcLens[r], b.TgtLens[r]
			if s < prevS || s == prevS && tl < prevT {
				t.Fatalf("evaluation order not sorted by (S, T)")
			}
			prevS, prevT = s, tl
		}
	}
	for _, i := range e.Skipped() {
		back[i] = i
	}
	for i, v := range back {
		if v != i {
			t.Fatalf("example %d neither batched nor skipped", i)
		}
	}
	if e.Stats().SkippedLong == 0 {
		t.Error("test corpus has nothing over MaxLen")
	}
	if a := testing.AllocsPerRun(10, func() { e.Batch(e.Batches() - 1) }); a != 0 {
		t.Errorf("Batch allocates %v times per call", a)
	}
}

func TestPairEvalSourceOnly(t *testing.T) {
	src, _ := synth(50, 20, 7)
	c := cfg(64)
	e, err := NewPairEval(src, nil, c)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for k := range e.Batches() {
		b := e.Batch(k)
		checkBatch(t, b, src, nil, c)
		if b.T != 0 || len(b.TgtIn) != 0 || b.TgtTokens != 0 {
			t.Fatalf("source-only batch has targets: T=%d", b.T)
		}
		n += b.N
	}
	if n != len(src) {
		t.Errorf("%d rows, want %d", n, len(src))
	}
}
