package asm

import "time"

// A Recording is the work/span profile of what ran on a pool: for every
// call (a region: one Parallel, one GEMM's parallel part), the time of
// each of its chunks, and the time the caller spent between calls, which
// no other thread can share (the serial time). From it follow the work
// (the sum of all chunk and serial times), the span of each region (its
// longest chunk) and so a prediction of the step's time on P threads
// that does not need P cores (see internal/scaling).
//
// A recording made with a width simulates a pool of that many workers on
// any machine: every call is split as such a pool would split it, and
// the chunks run one after another on the caller, each timed alone. The
// chunk times then show the work inflation of that width (packing
// repeated per worker, smaller tiles) without needing its cores.
type Recording struct {
	width   int
	Regions []Region
	// Tail is the serial time after the last region, up to Stop.
	Tail time.Duration

	last, t0 time.Time
	cur      *Region
}

// Region is one parallel call.
type Region struct {
	Serial time.Duration   // the caller's time since the previous region ended
	Wall   time.Duration   // the call's wall time
	Chunks []time.Duration // each chunk's time, in split order
}

// Record attaches a new recording to the pool; width > 0 simulates a
// pool of that many workers (chunks run serially on the caller), width 0
// records the pool as it runs. Stop detaches it. Neither may be called
// while a call is running.
func (p *Pool) Record(width int) *Recording {
	r := &Recording{width: width, last: time.Now()}
	p.rec = r
	return r
}

// Stop detaches the pool's recording, charging the time since the last
// region to its tail.
func (p *Pool) Stop() {
	if r := p.rec; r != nil {
		r.Tail += time.Since(r.last)
		p.rec = nil
	}
}

// Width is the simulated width (0: the pool's own).
func (r *Recording) Width() int { return r.width }

func (r *Recording) begin(chunks int) {
	now := time.Now()
	r.Regions = append(r.Regions, Region{Serial: now.Sub(r.last), Chunks: make([]time.Duration, chunks)})
	r.cur = &r.Regions[len(r.Regions)-1]
	r.t0 = now
}

// chunkDone records chunk i's time; each chunk has its own slot, so
// workers record without locking (the caller reads them after the
// call's WaitGroup).
func (r *Recording) chunkDone(i int, d time.Duration) { r.cur.Chunks[i] = d }

func (r *Recording) end() {
	now := time.Now()
	r.cur.Wall = now.Sub(r.t0)
	r.last = now
	r.cur = nil
}
