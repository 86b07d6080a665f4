package asm

import "sync/atomic"

// tileShares hands out the row tiles of a row-split GEMM on a real
// pool. Worker w owns the tiles of its static share, [tiles·w/t,
// tiles·(w+1)/t), and takes them from the front a few at a time: the
// rows it computes are then the rows its share of the region before
// wrote (a GEMM's epilogue, the next GEMM reading them, attention split
// by sequences), which stay in its cache. A worker whose share is done
// takes tiles from the back of another's, so a worker the host slows
// does not leave the others idle. (Claims from one shared counter gave
// each worker rows all over C, half of them last written by the other
// core.) Which worker computes a tile never changes its bits.
type tileShares struct {
	w []shareWord
}

// shareWord is one worker's untaken tiles, front<<32 | back, on a cache
// line of its own.
type shareWord struct {
	v atomic.Uint64
	_ [56]byte
}

// gemmOwnTiles is how many tiles an owner takes at a time (and
// gemmMinChunk how many a thief takes): few enough that an owner's
// claim in flight, which no thief can take, leaves little imbalance.
const gemmOwnTiles = 8

// staticShare is worker w's share [lo, hi) of tiles among t workers:
// what it owns on a real pool, and all it takes in a simulation.
func staticShare(tiles, w, t int) (lo, hi int) {
	return tiles * w / t, tiles * (w + 1) / t
}

// reset splits tiles among the first t workers.
func (s *tileShares) reset(tiles, t int) {
	if len(s.w) < t {
		s.w = make([]shareWord, t)
	}
	for i := range t {
		lo, hi := staticShare(tiles, i, t)
		s.w[i].v.Store(uint64(lo)<<32 | uint64(hi))
	}
}

// next returns worker w's next tiles [lo, hi) of t workers: from the
// front of its own share, else from the back of the others', in turn
// from w+1; ok is false when every share is empty.
func (s *tileShares) next(w, t int) (lo, hi int, ok bool) {
	for {
		x := s.w[w].v.Load()
		f, b := int(x>>32), int(uint32(x))
		if f >= b {
			break
		}
		e := min(f+gemmOwnTiles, b)
		if s.w[w].v.CompareAndSwap(x, uint64(e)<<32|uint64(b)) {
			return f, e, true
		}
	}
	for i := 1; i < t; i++ {
		v := &s.w[(w+i)%t].v
		for {
			x := v.Load()
			f, b := int(x>>32), int(uint32(x))
			if f >= b {
				break
			}
			st := max(b-gemmMinChunk, f)
			if v.CompareAndSwap(x, uint64(f)<<32|uint64(st)) {
				return st, b, true
			}
		}
	}
	return 0, 0, false
}
