package asm

import "time"

// A Recording is the work/span profile of what ran on a pool: for every
// call (a region: one Parallel, one GEMM's parallel part) the time of
// each of its chunks, and the caller's time between calls, which no
// other thread can share (the serial time). From it follow the work
// (the sum of all chunk and serial times), the span of each region (its
// longest chunk) and so a prediction of the time on P threads that does
// not need P cores (internal/scaling).
//
// A recording made with a width simulates a pool of that many workers
// on any machine: every call is split as such a pool would split it,
// and the chunks run one after another on the caller, each timed alone.
// Their times then show the work inflation of that width (packing
// repeated per worker, smaller tiles) without its cores.
type Recording struct {
	width int
	// staggered: the real pool runs each call's chunks one at a time
	// (RecordStaggered)
	staggered bool
	Regions   []Region
	// Serial is the caller's time outside regions, by tag (SetTag).
	Serial map[int]time.Duration

	tag      int
	inner    bool // the next region ends at a barrier inside the one after it
	last, t0 time.Time
	cur      *Region
}

// Region is one parallel call.
type Region struct {
	Tag int // the tag current when it began (SetTag)
	// Inner: the region is a phase of the next one, ended by a barrier
	// inside it rather than a join (no hand-off or join of its own).
	Inner bool
	Wall  time.Duration // the call's wall time
	// Post is the caller's time handing the chunks to the workers:
	// Publish of it to make the call visible to all of them at once,
	// the rest to wake those asleep (a flag checked per worker).
	Post, Publish time.Duration
	Chunks        []time.Duration // each chunk's time, in split order
}

// Record attaches a new recording to the pool; width > 0 simulates a
// pool of that many workers (chunks run serially on the caller), width 0
// records the pool as it runs. Stop detaches it. Neither may be called
// while a call is running.
func (p *Pool) Record(width int) *Recording {
	r := &Recording{width: width, Serial: map[int]time.Duration{}, last: time.Now()}
	p.rec = r
	return r
}

// RecordStaggered attaches a recording of the pool's own width whose
// calls run their chunks one at a time, in split order, each on the
// worker that runs it in a real call (the caller first), and with the
// split of a simulated width (a GEMM's row claims as even static
// shares). Against a real recording it shows what chunks running at
// once cost each other (shared caches and memory, the clock), and
// against a simulated one what running on another core than the
// previous chunk, or the region before, costs (operands in another
// core's cache): contention and placement, which a real pool against a
// simulation sees only summed.
func (p *Pool) RecordStaggered() *Recording {
	r := p.Record(0)
	r.staggered = true
	return r
}

// static reports whether the pool splits as a simulation does: every
// worker's share of a GEMM fixed in advance, and the packing of a
// shared operand a region of its own (a staggered chunk cannot wait for
// one that runs after it).
func (r *Recording) static() bool { return r.width > 0 || r.staggered }

// Stop detaches the pool's recording.
func (p *Pool) Stop() {
	if r := p.rec; r != nil {
		r.serialUntil(time.Now())
		p.rec = nil
	}
}

// SetTag labels what runs from now on (a phase of a step, say) for a
// recording; without one it does nothing.
func (p *Pool) SetTag(tag int) {
	if p != nil && p.rec != nil {
		p.rec.serialUntil(time.Now())
		p.rec.tag = tag
	}
}

// Width is the simulated width (0: the pool's own).
func (r *Recording) Width() int { return r.width }

// serialUntil charges the time since the last event to the current
// tag's serial time.
func (r *Recording) serialUntil(now time.Time) {
	r.Serial[r.tag] += now.Sub(r.last)
	r.last = now
}

func (r *Recording) begin(chunks int) {
	now := time.Now()
	r.serialUntil(now)
	r.Regions = append(r.Regions, Region{Tag: r.tag, Inner: r.inner, Chunks: make([]time.Duration, chunks)})
	r.inner = false
	r.cur = &r.Regions[len(r.Regions)-1]
	r.t0 = now
}

// chunkDone records chunk i's time; each chunk has its own slot, so
// workers record without locking (the caller reads them after the
// call's WaitGroup).
func (r *Recording) chunkDone(i int, d time.Duration) { r.cur.Chunks[i] = d }

// published marks the call made visible to the workers.
func (r *Recording) published() { r.cur.Publish = time.Since(r.t0) }

// posted marks the end of the hand-off to the workers.
func (r *Recording) posted() { r.cur.Post = time.Since(r.t0) }

func (r *Recording) end() {
	now := time.Now()
	r.cur.Wall = now.Sub(r.t0)
	r.last = now
	r.cur = nil
}
