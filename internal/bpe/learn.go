package bpe

import (
	"cmp"
	"container/heap"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// Options tune Learn.
type Options struct {
	// MinFrequency stops learning once the most frequent pair occurs
	// fewer times than this: merges seen once mostly memorize words.
	// Values below 1 mean 1.
	MinFrequency int
	// MinCharFrequency leaves characters seen fewer times than this
	// out of the vocabulary, to the byte fallback. Values below 1 mean 1.
	MinCharFrequency int
}

// DefaultOptions returns the defaults of `clinic bpe learn`.
func DefaultOptions() Options { return Options{MinFrequency: 2, MinCharFrequency: 2} }

// Learn learns up to merges merges from lines of raw text (one sentence
// per line is usual; newlines inside a line are whitespace like any
// other). It stops early when no pair reaches opt.MinFrequency.
//
// The result depends only on how often each piece occurs, never on line
// order or map iteration order: the next merge is the pair with the
// highest count, ties going to the pair whose left symbol, then right
// symbol, is smallest in byte (code point) order. Base characters are
// ordered by count, most frequent first, ties by code point.
func Learn(lines []string, merges int, opt Options) (*Codes, error) {
	if merges < 0 || merges > MaxMerges {
		return nil, fmt.Errorf("bpe: merges must be in [0, %d], got %d", MaxMerges, merges)
	}
	pieces := map[string]int64{}
	for _, l := range lines {
		forEachPiece(l, func(p string) { pieces[p]++ })
	}
	charCount := map[rune]int64{}
	for p, n := range pieces {
		forEachUnit(p, func(r rune, _ string) {
			if r >= 0 {
				charCount[r] += n
			}
		})
	}
	minChar := int64(max(opt.MinCharFrequency, 1))
	var chars []rune
	for r, n := range charCount {
		if n >= minChar {
			chars = append(chars, r)
		}
	}
	slices.SortFunc(chars, func(a, b rune) int {
		return cmp.Or(cmp.Compare(charCount[b], charCount[a]), cmp.Compare(a, b))
	})
	base := make(map[rune]bool, len(chars))
	for _, r := range chars {
		base[r] = true
	}

	// Runs of base characters are what merges see; everything else is
	// bytes at encoding time and a barrier here.
	segments := map[string]int64{}
	for p, n := range pieces {
		var seg strings.Builder
		flush := func() {
			if utf8.RuneCountInString(seg.String()) > 1 {
				segments[seg.String()] += n
			}
			seg.Reset()
		}
		forEachUnit(p, func(r rune, _ string) {
			if r >= 0 && base[r] {
				seg.WriteRune(r)
			} else {
				flush()
			}
		})
		flush()
	}
	keys := make([]string, 0, len(segments))
	for s := range segments {
		keys = append(keys, s)
	}
	slices.Sort(keys)
	words := make([][]string, len(keys))
	counts := make([]int64, len(keys))
	for i, k := range keys {
		for _, r := range k {
			words[i] = append(words[i], string(r))
		}
		counts[i] = segments[k]
	}
	ms := learnMerges(words, counts, merges, int64(max(opt.MinFrequency, 1)))
	c, err := newCodes(chars, ms)
	if err != nil {
		return nil, fmt.Errorf("bpe: learned codes are invalid (a bug): %v", err)
	}
	return c, nil
}

// forEachUnit calls fn for each character of piece p as the vocabulary
// sees it: the rune (Marker for a leading space), or -1 for one that can
// never be a symbol, with its bytes in p.
func forEachUnit(p string, fn func(r rune, bytes string)) {
	for i := 0; i < len(p); {
		r, n := utf8.DecodeRuneInString(p[i:])
		switch {
		case i == 0 && r == ' ':
			r = Marker
		case r == Marker, r == utf8.RuneError && n == 1, !isBaseChar(r):
			r = -1
		}
		fn(r, p[i:i+n])
		i += n
	}
}

// learner holds subword-nmt's incremental state: pair counts, an index
// from each pair to the words that (may) contain it, and a max-heap of
// pairs by count. A merge rewrites only the words the index names and
// changes only the counts of pairs next to the merged positions.
type learner struct {
	syms  []string
	symID map[string]int32
	words [][]int32
	freq  []int64
	stats map[uint64]int64
	where map[uint64][]int32
	heap  pairHeap
}

// learnMerges learns up to n merges over words, each given as its initial
// symbols with its count, until the best pair's count falls below
// minFreq. It is separate from Learn so the tests can use the paper's
// end-of-word symbol </w>.
func learnMerges(words [][]string, counts []int64, n int, minFreq int64) [][2]string {
	l := &learner{symID: map[string]int32{}, stats: map[uint64]int64{}, where: map[uint64][]int32{}}
	l.heap.syms = &l.syms
	for i, w := range words {
		ids := make([]int32, len(w))
		for j, s := range w {
			ids[j] = l.sym(s)
		}
		l.words = append(l.words, ids)
		l.freq = append(l.freq, counts[i])
		for j := 0; j+1 < len(ids); j++ {
			k := pairKey(ids[j], ids[j+1])
			l.stats[k] += counts[i]
			l.where[k] = append(l.where[k], int32(i))
		}
	}
	keys := make([]uint64, 0, len(l.stats))
	for k := range l.stats {
		keys = append(keys, k)
	}
	slices.Sort(keys) // heap order must not depend on map order
	for _, k := range keys {
		l.heap.items = append(l.heap.items, pairCount{k, l.stats[k]})
	}
	heap.Init(&l.heap)

	var out [][2]string
	done := map[uint64]bool{}
	for len(out) < n && l.heap.Len() > 0 {
		top := heap.Pop(&l.heap).(pairCount)
		cur := l.stats[top.pair]
		if cur != top.count {
			// Counts only rise through a fresh push, so a stale entry
			// above the true count is re-queued lower and one below it
			// is dropped.
			if cur > 0 && cur < top.count {
				heap.Push(&l.heap, pairCount{top.pair, cur})
			}
			continue
		}
		if cur < minFreq {
			break
		}
		l.merge(top.pair)
		if !done[top.pair] {
			// A pair can come back only when two merges spell the same
			// symbol; applying it again at its first rank is what
			// encoding does, so it is not listed twice.
			done[top.pair] = true
			out = append(out, [2]string{l.syms[top.pair>>32], l.syms[uint32(top.pair)]})
		}
	}
	return out
}

func (l *learner) sym(s string) int32 {
	if id, ok := l.symID[s]; ok {
		return id
	}
	id := int32(len(l.syms))
	l.syms = append(l.syms, s)
	l.symID[s] = id
	return id
}

// merge replaces every occurrence of pair in the words that contain it,
// left to right without overlap as subword-nmt does.
func (l *learner) merge(pair uint64) {
	a, b := int32(pair>>32), int32(uint32(pair))
	c := l.sym(l.syms[a] + l.syms[b])
	ws := l.where[pair]
	delete(l.where, pair)
	slices.Sort(ws)
	ws = slices.Compact(ws)
	// mark[i] is 1 where a merge starts in the old word, 2 where it ends.
	var mark []byte
	var fresh []bool
	var rose []uint64
	for _, w := range ws {
		old := l.words[w]
		f := l.freq[w]
		mark = append(mark[:0], make([]byte, len(old))...)
		hit := false
		for i := 0; i+1 < len(old); {
			if old[i] == a && old[i+1] == b {
				mark[i], mark[i+1] = 1, 2
				hit = true
				i += 2
			} else {
				i++
			}
		}
		if !hit {
			continue // the index is lazy: the word lost the pair earlier
		}
		// Only the pairs that touch a merged position change; the rest
		// are the same before and after, so they are left alone.
		for i := 0; i+1 < len(old); i++ {
			if mark[i] != 0 || mark[i+1] != 0 {
				k := pairKey(old[i], old[i+1])
				if l.stats[k] -= f; l.stats[k] <= 0 {
					delete(l.stats, k)
				}
			}
		}
		nw := old[:0] // in place: the write index never passes the read index
		fresh = fresh[:0]
		for i := 0; i < len(old); i++ {
			switch mark[i] {
			case 1:
				nw = append(nw, c)
				fresh = append(fresh, true)
			case 0:
				nw = append(nw, old[i])
				fresh = append(fresh, false)
			}
		}
		l.words[w] = nw
		for i := 0; i+1 < len(nw); i++ {
			if fresh[i] || fresh[i+1] {
				k := pairKey(nw[i], nw[i+1])
				l.stats[k] += f
				l.where[k] = append(l.where[k], w)
				rose = append(rose, k)
			}
		}
	}
	slices.Sort(rose)
	for _, k := range slices.Compact(rose) {
		if n := l.stats[k]; n > 0 {
			heap.Push(&l.heap, pairCount{k, n})
		}
	}
}

type pairCount struct {
	pair  uint64
	count int64
}

// pairHeap is a max-heap by count; among equal counts the pair of
// smaller symbol strings comes first, which makes learning deterministic.
type pairHeap struct {
	items []pairCount
	syms  *[]string
}

func (h *pairHeap) Len() int { return len(h.items) }
func (h *pairHeap) Less(i, j int) bool {
	x, y := h.items[i], h.items[j]
	if x.count != y.count {
		return x.count > y.count
	}
	s := *h.syms
	if c := strings.Compare(s[x.pair>>32], s[y.pair>>32]); c != 0 {
		return c < 0
	}
	return s[uint32(x.pair)] < s[uint32(y.pair)]
}
func (h *pairHeap) Swap(i, j int) { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *pairHeap) Push(x any)    { h.items = append(h.items, x.(pairCount)) }
func (h *pairHeap) Pop() any {
	x := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return x
}
