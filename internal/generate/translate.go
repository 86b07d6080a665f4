package generate

import (
	"cmp"
	"fmt"
	"slices"
	"sync"
)

// Translator is a Stepper that first encodes a batch of sources
// (model.Translator).
type Translator interface {
	Stepper
	// Encode runs the encoder over bsz sources [bsz, srcT], right-padded,
	// of valid lengths srcLens, and resets the decoding state.
	Encode(src, srcLens []int32, bsz, srcT int) error
}

// TranslateAll is Decoder.TranslateAll with tr alone: batch after batch,
// each on all of opt.Pool's threads.
func TranslateAll(tr Translator, srcs [][]int32, batchSize int, pad int32, opt Options) ([]Hypothesis, error) {
	d := Decoder{New: func() (Translator, error) { return tr, nil }, Lanes: 1}
	return d.TranslateAll(srcs, batchSize, pad, opt)
}

// A Decoder translates many sources in batches, and decodes several
// batches at once when its pool has the threads: each lane, a translator
// of its own, decodes whole batches on one thread. A decoding step's
// parallel regions last microseconds (some sixty of them a step, over a
// few hundred hypotheses), so splitting one batch over many threads
// gains little beyond a few; a lane's work is a whole batch, seconds
// long, and lanes share nothing but the weights they read. A batch's
// result does not depend on which lane decodes it (a translator's
// results do not depend on its pool), so the output is the same for any
// number of lanes and threads.
type Decoder struct {
	// New makes a lane's translator, planned for the batches
	// TranslateAll is called with, on the pool of its Options (a lane's
	// calls on it then run inline on the lane's thread).
	New func() (Translator, error)
	// Lanes bounds the batches decoded at once (their translators'
	// memory): at most one per thread of the pool, and per batch.
	Lanes int

	mu   sync.Mutex
	idle []Translator // made by New, not in use
}

// get takes an idle translator, or makes one. Translators are kept
// between calls: a lane's buffers are planned once.
func (d *Decoder) get() (Translator, error) {
	d.mu.Lock()
	if n := len(d.idle); n > 0 {
		tr := d.idle[n-1]
		d.idle = d.idle[:n-1]
		d.mu.Unlock()
		return tr, nil
	}
	d.mu.Unlock()
	// outside the lock: lanes plan their translators at once
	return d.New()
}

func (d *Decoder) put(tr Translator) {
	d.mu.Lock()
	d.idle = append(d.idle, tr)
	d.mu.Unlock()
}

// batch is a batch's sources (indices into TranslateAll's srcs) and
// its expected cost: the positions its sentences encode and decode at
// most.
type batch struct {
	idx  []int
	cost int
}

// TranslateAll decodes every source (token ids ending in EOS) in batches
// of up to batchSize sentences of similar length (sorted by length,
// longest first, so that the first batch sizes the memory) padded with
// pad, and returns each source's best hypothesis in input order.
//
// With more than one lane (Lanes, the pool's threads and the batches
// allowing), the batches are dealt to the lanes before any runs: the
// costliest first, each to the lane with the least expected work, so
// which lane decodes a batch depends only on the batches and the number
// of lanes, and a simulated pool (asm.Pool.Record) splits the work as a
// real one of its width does.
func (d *Decoder) TranslateAll(srcs [][]int32, batchSize int, pad int32, opt Options) ([]Hypothesis, error) {
	if batchSize < 1 {
		return nil, fmt.Errorf("batch size must be at least 1, got %d", batchSize)
	}
	order := make([]int, len(srcs))
	for i := range order {
		if len(srcs[i]) == 0 {
			return nil, fmt.Errorf("source %d is empty (it needs at least its EOS)", i)
		}
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return len(srcs[b]) - len(srcs[a]) })
	var bs []batch
	for at := 0; at < len(order); at += batchSize {
		b := batch{idx: order[at:min(at+batchSize, len(order))]}
		for _, i := range b.idx {
			b.cost += len(srcs[i]) + opt.MaxLen(len(srcs[i]))
		}
		bs = append(bs, b)
	}
	best := make([]Hypothesis, len(srcs))
	lanes := min(max(d.Lanes, 1), len(bs), opt.Pool.Width())
	if lanes <= 1 {
		tr, err := d.get()
		if err != nil {
			return nil, err
		}
		defer d.put(tr)
		for _, b := range bs {
			if err := decodeBatch(tr, srcs, b.idx, pad, opt, best); err != nil {
				return nil, err
			}
		}
		return best, nil
	}
	plan := deal(bs, lanes)
	// Each lane runs on one thread: the pool is busy with the lanes, so
	// the translators' own parallel calls run inline.
	inner := opt
	inner.Pool = nil
	errs := make([]error, len(bs))
	opt.Pool.Parallel(lanes, func(lo, hi int) {
		for l := lo; l < hi; l++ {
			tr, err := d.get()
			if err != nil {
				errs[plan[l][0]] = err
				continue
			}
			for _, k := range plan[l] {
				if errs[k] = decodeBatch(tr, srcs, bs[k].idx, pad, inner, best); errs[k] != nil {
					break
				}
			}
			d.put(tr)
		}
	})
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return best, nil
}

// deal assigns batches to lanes, the costliest first (ties to the
// earlier batch), each to the lane with the least cost so far (ties to
// the lower lane): the longest-processing-time rule, within 4/3 of the
// best split. It returns each lane's batches in the order dealt.
func deal(bs []batch, lanes int) [][]int {
	byCost := make([]int, len(bs))
	for k := range byCost {
		byCost[k] = k
	}
	slices.SortStableFunc(byCost, func(a, b int) int { return cmp.Compare(bs[b].cost, bs[a].cost) })
	plan := make([][]int, lanes)
	load := make([]int, lanes)
	for _, k := range byCost {
		l := 0
		for j := 1; j < lanes; j++ {
			if load[j] < load[l] {
				l = j
			}
		}
		plan[l] = append(plan[l], k)
		load[l] += bs[k].cost
	}
	return plan
}

// decodeBatch encodes and decodes the sources idx as one batch with tr
// and stores each one's best hypothesis in best.
func decodeBatch(tr Translator, srcs [][]int32, idx []int, pad int32, opt Options, best []Hypothesis) error {
	srcT := 0
	for _, i := range idx {
		srcT = max(srcT, len(srcs[i]))
	}
	src := make([]int32, 0, len(idx)*srcT)
	lens := make([]int32, len(idx))
	ilens := make([]int, len(idx))
	for k, i := range idx {
		src = append(src, srcs[i]...)
		for range srcT - len(srcs[i]) {
			src = append(src, pad)
		}
		lens[k], ilens[k] = int32(len(srcs[i])), len(srcs[i])
	}
	if err := tr.Encode(src, lens, len(idx), srcT); err != nil {
		return err
	}
	res, err := Search(tr, ilens, opt)
	if err != nil {
		return err
	}
	for k, i := range idx {
		if len(res[k]) == 0 {
			return fmt.Errorf("source %d: no hypothesis finished", i)
		}
		best[i] = res[k][0]
	}
	return nil
}
