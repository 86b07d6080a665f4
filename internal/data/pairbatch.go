package data

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math/bits"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// IgnoreTarget pads PairBatch.TgtOut. model.Forward leaves targets < 0
// out of the loss, so padding positions cost nothing and need no mask.
const IgnoreTarget = -1

// PairConfig says how to cut a parallel corpus into batches.
//
// Sentences are given as token ids without BOS or EOS; the batcher adds
// them, so the three views of a pair are built in one place and cannot
// disagree: the source row is src+EOS, the decoder input BOS+tgt and the
// decoder output tgt+EOS. Lengths below count those added tokens: an
// example has S = len(src)+1 and T = len(tgt)+1.
type PairConfig struct {
	// MaxTokens bounds every batch by fairseq's rule: rows·max(S, T),
	// maximized over the batch, is at most MaxTokens. So each of the
	// padded source, decoder input and decoder output tensors holds at
	// most MaxTokens ids, and the activation memory of a step is bounded
	// whatever the sentence lengths.
	MaxTokens int
	// MaxSentences, if positive, also bounds the rows of a batch, which
	// short sentences could otherwise make very many.
	MaxSentences int
	// MaxLen, if positive, skips examples whose S or T exceeds it (the
	// model has no positions beyond it). Skipped examples are counted in
	// PairStats and listed by Skipped, not reported as errors: a few
	// overlong verses are normal in a real corpus. An example with
	// max(S, T) > MaxTokens cannot fit any batch and is skipped and
	// counted the same way.
	MaxLen int
	// Pad fills source and decoder-input rows; BOS starts decoder input;
	// EOS ends source and decoder output. The ids must not occur in the
	// sentences: finding one means EOS was appended twice or the
	// tokenizer leaked a special token, so it is an error.
	Pad, BOS, EOS int32
	// Seed fixes the tie-break among equal lengths and each epoch's
	// batch order. PairEval ignores it.
	Seed uint64
}

// PairBatch is one batch of a parallel corpus. Tensors are row-major;
// row r is example Index[r]. A batch returned by PairBatcher.Next or
// PairEval.Batch lives in buffers that the next call overwrites.
type PairBatch struct {
	// Index holds the example index (into the slices given to
	// NewPairBatcher or NewPairEval) of each row, so that outputs can be
	// written back in input order.
	Index []int
	N     int // rows
	S, T  int // widths of the source and target rows
	// Src is [N, S]: source ids then EOS, then Pad.
	Src []int32
	// TgtIn is [N, T]: BOS then target ids, then Pad. TgtOut is [N, T]:
	// target ids then EOS, then IgnoreTarget. Both are empty when
	// PairEval has no targets.
	TgtIn, TgtOut []int32
	// SrcLens and TgtLens hold each row's length (S and T of the
	// example, EOS or BOS included); SrcTokens and TgtTokens their sums,
	// the real (unpadded) token counts to normalize a loss by or to
	// measure throughput in.
	SrcLens, TgtLens     []int
	SrcTokens, TgtTokens int
}

// PairStats describes how a corpus was batched, for the trainer to log
// and to plan buffers with.
type PairStats struct {
	Examples      int // examples in batches
	SkippedLong   int // skipped: S or T over MaxLen
	SkippedTokens int // skipped: max(S, T) over MaxTokens
	Batches       int
	// MaxRows, MaxS and MaxT are the largest N, S and T of any batch.
	MaxRows, MaxS, MaxT int
	// SrcTokens and TgtTokens count real tokens (EOS or BOS included),
	// SrcPadded and TgtPadded the ids in the padded tensors (N·S and
	// N·T summed over batches) per pass over the data.
	SrcTokens, TgtTokens int
	SrcPadded, TgtPadded int
}

// layout is a corpus cut into batches: batch k holds the examples
// order[bounds[k]:bounds[k+1]], in that row order.
type layout struct {
	src, tgt [][]int32
	cfg      PairConfig
	order    []int32
	bounds   []int
	skipped  []int
	stats    PairStats
	batch    PairBatch // the buffers every returned batch lives in
}

// newLayout checks the examples, drops those that cannot be batched and
// cuts the rest, in the order given by sort, greedily into batches
// within the limits. tgt may be nil (no targets).
func newLayout(src, tgt [][]int32, cfg PairConfig, sort func(idx []int32, slen, tlen []int)) (*layout, error) {
	if cfg.MaxTokens < 1 {
		return nil, fmt.Errorf("data: MaxTokens is %d, must be positive", cfg.MaxTokens)
	}
	if cfg.MaxSentences < 0 || cfg.MaxLen < 0 {
		return nil, fmt.Errorf("data: MaxSentences (%d) and MaxLen (%d) must not be negative", cfg.MaxSentences, cfg.MaxLen)
	}
	if cfg.Pad < 0 || cfg.BOS < 0 || cfg.EOS < 0 {
		return nil, fmt.Errorf("data: special ids pad=%d bos=%d eos=%d must not be negative", cfg.Pad, cfg.BOS, cfg.EOS)
	}
	if tgt != nil && len(tgt) != len(src) {
		return nil, fmt.Errorf("data: %d source sentences but %d targets", len(src), len(tgt))
	}
	if len(src) == 0 {
		return nil, fmt.Errorf("data: no examples to batch")
	}
	l := &layout{src: src, tgt: tgt, cfg: cfg}
	slen := make([]int, len(src))
	tlen := make([]int, len(src))
	keep := make([]int32, 0, len(src))
	for i, s := range src {
		if err := checkIDs(i, "source", s, cfg); err != nil {
			return nil, err
		}
		slen[i] = len(s) + 1
		if tgt != nil {
			if err := checkIDs(i, "target", tgt[i], cfg); err != nil {
				return nil, err
			}
			tlen[i] = len(tgt[i]) + 1
		}
		switch {
		case cfg.MaxLen > 0 && max(slen[i], tlen[i]) > cfg.MaxLen:
			l.stats.SkippedLong++
			l.skipped = append(l.skipped, i)
		case max(slen[i], tlen[i]) > cfg.MaxTokens:
			l.stats.SkippedTokens++
			l.skipped = append(l.skipped, i)
		default:
			keep = append(keep, int32(i))
		}
	}
	if len(keep) == 0 {
		return nil, fmt.Errorf("data: all %d examples skipped (%d longer than MaxLen %d, %d alone over MaxTokens %d)",
			len(src), l.stats.SkippedLong, cfg.MaxLen, l.stats.SkippedTokens, cfg.MaxTokens)
	}
	sort(keep, slen, tlen)
	l.order = keep

	// Greedy cut, as fairseq's batch_by_size: a batch grows until one
	// more example would break a limit. On length-sorted examples this
	// keeps neighbours of similar length together, so little is padding.
	st := &l.stats
	st.Examples = len(keep)
	maxSrcBuf, maxTgtBuf := 0, 0
	closeBatch := func(start, end, s, t int) {
		n := end - start
		l.bounds = append(l.bounds, end)
		st.Batches++
		st.MaxRows = max(st.MaxRows, n)
		st.MaxS, st.MaxT = max(st.MaxS, s), max(st.MaxT, t)
		st.SrcPadded += n * s
		st.TgtPadded += n * t
		maxSrcBuf, maxTgtBuf = max(maxSrcBuf, n*s), max(maxTgtBuf, n*t)
	}
	l.bounds = append(l.bounds, 0)
	start, s, t := 0, 0, 0
	for k, i := range keep {
		si, ti := slen[i], tlen[i]
		st.SrcTokens += si
		st.TgtTokens += ti
		n := k - start
		ns, nt := max(s, si), max(t, ti)
		if n > 0 && ((n+1)*max(ns, nt) > cfg.MaxTokens || (cfg.MaxSentences > 0 && n+1 > cfg.MaxSentences)) {
			closeBatch(start, k, s, t)
			start, ns, nt = k, si, ti
		}
		s, t = ns, nt
	}
	closeBatch(start, len(keep), s, t)

	// Size the buffers for the largest batch once, so that filling a
	// batch never allocates in the training loop.
	b := &l.batch
	b.Index = make([]int, 0, st.MaxRows)
	b.SrcLens = make([]int, 0, st.MaxRows)
	b.TgtLens = make([]int, 0, st.MaxRows)
	b.Src = make([]int32, 0, maxSrcBuf)
	b.TgtIn = make([]int32, 0, maxTgtBuf)
	b.TgtOut = make([]int32, 0, maxTgtBuf)
	return l, nil
}

func checkIDs(i int, side string, ids []int32, cfg PairConfig) error {
	for _, id := range ids {
		if id < 0 || id == cfg.Pad || id == cfg.BOS || id == cfg.EOS {
			return fmt.Errorf("data: example %d: %s holds id %d; want ids without pad=%d, bos=%d, eos=%d (the batcher adds BOS and EOS)",
				i, side, id, cfg.Pad, cfg.BOS, cfg.EOS)
		}
	}
	return nil
}

// fill writes batch k into l.batch and returns it.
func (l *layout) fill(k int) *PairBatch {
	idx := l.order[l.bounds[k]:l.bounds[k+1]]
	b := &l.batch
	b.N = len(idx)
	b.Index, b.SrcLens, b.TgtLens = b.Index[:0], b.SrcLens[:0], b.TgtLens[:0]
	b.S, b.T, b.SrcTokens, b.TgtTokens = 0, 0, 0, 0
	for _, i := range idx {
		s := len(l.src[i]) + 1
		t := 0
		if l.tgt != nil {
			t = len(l.tgt[i]) + 1
		}
		b.Index = append(b.Index, int(i))
		b.SrcLens = append(b.SrcLens, s)
		b.TgtLens = append(b.TgtLens, t)
		b.S, b.T = max(b.S, s), max(b.T, t)
		b.SrcTokens += s
		b.TgtTokens += t
	}
	c := l.cfg
	b.Src = b.Src[:b.N*b.S]
	b.TgtIn = b.TgtIn[:b.N*b.T]
	b.TgtOut = b.TgtOut[:b.N*b.T]
	for r, i := range idx {
		row := b.Src[r*b.S : (r+1)*b.S]
		n := copy(row, l.src[i])
		row[n] = c.EOS
		fillIDs(row[n+1:], c.Pad)
		if l.tgt == nil {
			continue
		}
		in := b.TgtIn[r*b.T : (r+1)*b.T]
		out := b.TgtOut[r*b.T : (r+1)*b.T]
		in[0] = c.BOS
		n = copy(in[1:], l.tgt[i])
		fillIDs(in[n+1:], c.Pad)
		copy(out, l.tgt[i])
		out[n] = c.EOS
		fillIDs(out[n+1:], IgnoreTarget)
	}
	return b
}

func fillIDs(s []int32, v int32) {
	for i := range s {
		s[i] = v
	}
}

// fingerprint hashes what decides the batch sequence (seed, corpus
// size, and which examples form which batch, so in effect the lengths
// and limits), so that a state saved with one corpus or configuration
// is not silently applied to another. Same-length edits to the token
// ids go unnoticed; they do not change the batch sequence either.
func (l *layout) fingerprint() uint64 {
	h := fnv.New64a()
	var buf [8]byte
	put := func(v uint64) {
		binary.LittleEndian.PutUint64(buf[:], v)
		h.Write(buf[:])
	}
	put(l.cfg.Seed)
	put(uint64(len(l.src)))
	for _, i := range l.order {
		put(uint64(i))
	}
	for _, b := range l.bounds {
		put(uint64(b))
	}
	return h.Sum64()
}

// PairBatcher yields training batches of a parallel corpus the way
// fairseq does. Examples are sorted by (S, T), with ties broken by a
// permutation drawn from Seed, and cut into batches once; each epoch
// then visits every batch once in an order shuffled by a generator
// seeded from Seed and the epoch. Sorting keeps padding low; shuffling
// whole batches keeps the order of updates random; fixing the batches
// makes an epoch's order a pure function of (Seed, epoch), so a resumed
// run needs only the epoch and the position in it (PairState).
type PairBatcher struct {
	l         *layout
	state     PairState
	perm      []int32 // batch order of permEpoch
	permEpoch int
}

// NewPairBatcher batches src[i]→tgt[i] for training. See PairConfig for
// the limits and for what is added to the sentences. It keeps src and
// tgt rather than copying the corpus, so they must not change while
// the batcher is in use. It fails on invalid limits or ids, on
// len(src) != len(tgt), and when no example is left to batch.
func NewPairBatcher(src, tgt [][]int32, cfg PairConfig) (*PairBatcher, error) {
	if tgt == nil {
		return nil, fmt.Errorf("data: training needs targets")
	}
	l, err := newLayout(src, tgt, cfg, func(idx []int32, slen, tlen []int) {
		shuffle(idx, newPCG(cfg.Seed, streamTieBreak, 0))
		slices.SortStableFunc(idx, func(a, b int32) int {
			return cmp.Or(cmp.Compare(slen[a], slen[b]), cmp.Compare(tlen[a], tlen[b]))
		})
	})
	if err != nil {
		return nil, err
	}
	b := &PairBatcher{l: l, perm: make([]int32, l.stats.Batches), permEpoch: -1}
	b.state.Layout = l.fingerprint()
	return b, nil
}

// Next returns the next batch, moving on to a freshly shuffled epoch
// after the last batch of one. The batch is overwritten by the next
// call to Next. Next does not allocate.
func (b *PairBatcher) Next() *PairBatch {
	if b.permEpoch != b.state.Epoch {
		for i := range b.perm {
			b.perm[i] = int32(i)
		}
		shuffle(b.perm, newPCG(b.l.cfg.Seed, streamEpoch, uint64(b.state.Epoch)))
		b.permEpoch = b.state.Epoch
	}
	batch := b.l.fill(int(b.perm[b.state.Batch]))
	if b.state.Batch++; b.state.Batch == len(b.perm) {
		b.state.Epoch++
		b.state.Batch = 0
	}
	return batch
}

// Stats describes the batching.
func (b *PairBatcher) Stats() PairStats { return b.l.stats }

// Skipped returns the indices of the examples left out (see
// PairConfig.MaxLen), in increasing order.
func (b *PairBatcher) Skipped() []int { return slices.Clone(b.l.skipped) }

// PairState is the position of a PairBatcher: the next batch is number
// Batch (from 0) of epoch Epoch (from 0). Layout fingerprints the
// corpus, configuration and seed. It marshals to text ("epoch/batch/
// layout") for checkpoint metadata and, through that, to JSON.
type PairState struct {
	Epoch, Batch int
	Layout       uint64
}

// State returns the current position, to be saved with a checkpoint.
func (b *PairBatcher) State() PairState { return b.state }

// SetState restores a position returned by State, so the following
// batches are exactly those that would have followed it. It refuses a
// state of a different corpus, configuration or seed, which would
// resume at a position with a different meaning.
func (b *PairBatcher) SetState(s PairState) error {
	if s.Layout != b.state.Layout {
		return fmt.Errorf("data: batch state is for layout %016x, but this corpus and configuration give %016x", s.Layout, b.state.Layout)
	}
	if s.Epoch < 0 || s.Batch < 0 || s.Batch >= len(b.perm) {
		return fmt.Errorf("data: batch state epoch %d batch %d is out of range (%d batches per epoch)", s.Epoch, s.Batch, len(b.perm))
	}
	b.state = s
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (s PairState) MarshalText() ([]byte, error) {
	return fmt.Appendf(nil, "%d/%d/%016x", s.Epoch, s.Batch, s.Layout), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *PairState) UnmarshalText(text []byte) error {
	f := strings.Split(string(text), "/")
	if len(f) == 3 {
		e, err1 := strconv.Atoi(f[0])
		b, err2 := strconv.Atoi(f[1])
		h, err3 := strconv.ParseUint(f[2], 16, 64)
		if err1 == nil && err2 == nil && err3 == nil && e >= 0 && b >= 0 {
			*s = PairState{Epoch: e, Batch: b, Layout: h}
			return nil
		}
	}
	return fmt.Errorf("data: batch state %q is not epoch/batch/layout", text)
}

// PairEval cuts validation or test examples into fixed batches, the
// same on every call and every run. Examples are sorted by (S, T, index)
// — sorting keeps padding, and so the cost of decoding, low — and each
// batch carries the example indices to put results back in input
// order.
type PairEval struct {
	l *layout
}

// NewPairEval batches src[i]→tgt[i] for evaluation; tgt may be nil to
// translate sources alone (the batches then have T = 0). Examples over
// the limits are skipped as in training; Skipped lists them, so that a
// translation of every input line can still be written, for instance by
// leaving their lines empty. Like NewPairBatcher it keeps src and tgt.
func NewPairEval(src, tgt [][]int32, cfg PairConfig) (*PairEval, error) {
	l, err := newLayout(src, tgt, cfg, func(idx []int32, slen, tlen []int) {
		slices.SortFunc(idx, func(a, b int32) int {
			return cmp.Or(cmp.Compare(slen[a], slen[b]), cmp.Compare(tlen[a], tlen[b]), cmp.Compare(a, b))
		})
	})
	if err != nil {
		return nil, err
	}
	return &PairEval{l: l}, nil
}

// Batches returns the number of batches.
func (e *PairEval) Batches() int { return e.l.stats.Batches }

// Batch returns batch i, 0 <= i < Batches(). It overwrites the batch
// returned by the previous call and does not allocate. It panics if i
// is out of range.
func (e *PairEval) Batch(i int) *PairBatch {
	if i < 0 || i >= e.l.stats.Batches {
		panic(fmt.Sprintf("data: PairEval.Batch: batch %d out of range [0,%d)", i, e.l.stats.Batches))
	}
	return e.l.fill(i)
}

// Stats describes the batching.
func (e *PairEval) Stats() PairStats { return e.l.stats }

// Skipped returns the indices of the examples left out, in increasing
// order.
func (e *PairEval) Skipped() []int { return slices.Clone(e.l.skipped) }

// Generator streams: each use of randomness draws from its own stream,
// so changing one (say, the tie-break) leaves the others as they were.
const (
	streamTieBreak = 0x746965627265616b // "tiebreak"
	streamEpoch    = 0x65706f6368       // "epoch"
)

// newPCG returns a PCG generator for (seed, stream, epoch). The inputs
// pass through SplitMix64's finalizer so that neighbouring seeds and
// epochs give unrelated states rather than LCG states one apart.
func newPCG(seed uint64, stream, epoch uint64) *rand.PCG {
	hi := mix64(seed ^ mix64(stream))
	lo := mix64(hi ^ mix64(epoch+0x9e3779b97f4a7c15))
	return rand.NewPCG(hi, lo)
}

func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// shuffle is Fisher–Yates with Lemire's unbiased bounded draw. It is
// written out rather than taken from rand.Rand.Shuffle because resuming
// a run depends on the exact permutation, which must not change with
// the Go release; PCG's output is fixed by its specification.
func shuffle(s []int32, r *rand.PCG) {
	for i := len(s) - 1; i > 0; i-- {
		n := uint64(i + 1)
		hi, lo := bits.Mul64(r.Uint64(), n)
		if lo < n {
			thresh := -n % n
			for lo < thresh {
				hi, lo = bits.Mul64(r.Uint64(), n)
			}
		}
		s[i], s[hi] = s[hi], s[i]
	}
}
