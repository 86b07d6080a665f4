// Package scaling predicts how a training step speeds up on P threads
// from a work/span profile measured on any machine, these 2 cores
// included: each of the step's parallel regions is split as a pool of P
// workers would split it, its chunks are timed one after another on one
// core (asm.Pool.Record), and the step's time on P cores is predicted
// region by region, as Cilkview bounds a greedy scheduler's (T1/P + T∞
// plus a burden per spawn), but with the pool's static split:
//
//	T(P) = serial + Σ_regions max(span_r(P)·(1 + α_r·(t_r−1)) + burden(t_r), bandwidth_r(P))
//
// where serial is the caller's time outside regions, span_r(P) the
// region's longest chunk at width P, t_r its number of chunks, burden(t)
// = Post + Wake·(t−1) + Join the hand-off (publishing the call to all
// workers at once, then checking each for a wake-up) and the join
// (measured on this machine's pool), and bandwidth_r(P) = work_r(P) / min(t_r, BWRatio) for
// memory-bound regions (element-wise, optimizer): their chunks stream
// memory at one core's bandwidth alone, and P cores together at most
// BWRatio times that.
//
// α is contention, the term of Gunther's Universal Scalability Law:
// chunks that run at once slow each other (shared cache, memory
// channels, the clock the cores share), which timing them one by one
// cannot see. It is measured per phase on this machine's pool of two
// threads, as how much longer a region's chunks take there than alone,
// and assumed to grow by the same amount with each further core at work
// (the linear USL term). It bounds the speedup by 1 + 1/α.
//
// Work inflation is W(P)/W(1), W the sum of all chunk and serial times:
// what splitting costs beyond waiting (operands packed per worker,
// smaller tiles).
package scaling

import (
	"fmt"
	"slices"
	"time"

	"github.com/clinic-ml/clinic/asm"
	"github.com/clinic-ml/clinic/internal/phase"
	"github.com/clinic-ml/clinic/internal/workload"
)

// Machine is what the prediction assumes of the target machine beyond
// the profile.
type Machine struct {
	// Post is the caller's time to publish a call to the workers,
	// Wake its further time per worker (waking those asleep), Join
	// the time from the last chunk's end to the caller's return.
	Post, Wake, Join time.Duration
	// BWRatio is the socket's memory bandwidth over one core's.
	BWRatio float64
	// Alpha is the contention per further concurrent chunk, by phase:
	// what a chunk on the real pool takes over the same chunk timed
	// alone on one core.
	Alpha [phase.Count]float64
	// AlphaLow and AlphaHigh are Alpha's lower and upper quartiles over
	// the pairs of steps whose median it is: how far the machine's noise
	// moved it within the run (on a shared VM, a factor of several).
	AlphaLow, AlphaHigh [phase.Count]float64
	// Alpha split in two (measured with a staggered pool, whose chunks
	// run one at a time on their own workers): Placement, what a chunk
	// on its own worker takes over the same chunk after the previous one
	// on the same core (its operands in another core's cache), and
	// Concurrency, what chunks running at once add over that (shared
	// caches, memory, the clock). With Split set, the prediction
	// carries placement as a constant cost, β·2(t−1)/t (the share of
	// operands from other cores grows from a half at 2 to nearly all),
	// and only concurrency as the linear term.
	Placement, Concurrency [phase.Count]float64
	Split                  bool
}

// slowdown is how much longer a chunk of phase ph runs beside t−1
// others than alone, on m.
func (m *Machine) slowdown(ph phase.Phase, t int) float64 {
	if !m.Split {
		return 1 + m.Alpha[ph]*float64(t-1)
	}
	return (1 + m.Placement[ph]*2*float64(t-1)/float64(t)) * (1 + m.Concurrency[ph]*float64(t-1))
}

// memoryBound says which phases stream memory rather than compute.
func memoryBound(tag int) bool {
	return tag == int(phase.Elementwise) || tag == int(phase.Optimizer)
}

// Estimate is one step at one width.
type Estimate struct {
	Width   int
	Serial  time.Duration // outside regions
	Work    time.Duration // serial plus every chunk
	Span    time.Duration // serial plus every region's longest chunk
	Burden  time.Duration // hand-offs and joins
	Time    time.Duration // the predicted step time, T(P) above
	Regions int
	// MemBound is the part of Time where regions wait on bandwidth
	// rather than their longest chunk.
	MemBound time.Duration
	// ByPhase splits Work, Span and Time by the phase (internal/phase)
	// the time was spent in.
	ByPhase [phase.Count]PhaseEstimate
}

// PhaseEstimate is one phase's part of an Estimate.
type PhaseEstimate struct{ Work, Span, Time time.Duration }

// Predict evaluates a recording made at width P.
func Predict(rec *asm.Recording, m Machine) Estimate {
	return predict(rec.Width(), rec.Regions, rec.Serial, m)
}

func predict(width int, regions []asm.Region, serial map[int]time.Duration, m Machine) Estimate {
	e := Estimate{Width: max(width, 1), Regions: len(regions)}
	for tag, d := range serial {
		e.Serial += d
		ph := &e.ByPhase[phaseOf(tag)]
		ph.Work, ph.Span, ph.Time = ph.Work+d, ph.Span+d, ph.Time+d
	}
	e.Work, e.Span, e.Time = e.Serial, e.Serial, e.Serial
	for _, r := range regions {
		var work, span time.Duration
		for _, c := range r.Chunks {
			work += c
			span = max(span, c)
		}
		t := len(r.Chunks)
		var burden time.Duration
		if t > 1 && !r.Inner {
			burden = m.Post + m.Wake*time.Duration(t-1) + m.Join
		}
		e.Work += work
		e.Span += span
		e.Burden += burden
		tr := time.Duration(float64(span)*m.slowdown(phaseOf(r.Tag), t)) + burden
		if memoryBound(r.Tag) && m.BWRatio > 0 {
			if bw := time.Duration(float64(work) / min(float64(t), m.BWRatio)); bw > tr {
				e.MemBound += bw - tr
				tr = bw
			}
		}
		e.Time += tr
		ph := &e.ByPhase[phaseOf(r.Tag)]
		ph.Work, ph.Span, ph.Time = ph.Work+work, ph.Span+span, ph.Time+tr
	}
	return e
}

// phaseOf is a recording tag as a phase (the phase clock tags them).
func phaseOf(tag int) phase.Phase {
	if tag < 0 || tag >= int(phase.Count) {
		return phase.Other
	}
	return phase.Phase(tag)
}

// measureMachine measures the pool's hand-off, join and contention on
// this machine: the step on a real pool of o.OverheadThreads threads,
// the same pool staggered (its chunks one at a time on their workers)
// and simulating that width (chunks one by one on the caller), o.Steps
// steps each.
func measureMachine(name string, o Options, m *Machine) error {
	th := max(o.OverheadThreads, 2)
	pool := asm.NewPool(th)
	defer pool.Close()
	clock := &phase.Clock{}
	s, err := workload.New(name, workload.Options{Batch: o.Batch, BF16: o.BF16}, pool, clock)
	if err != nil {
		return err
	}
	clock.Start(pool)
	defer clock.Stop()
	// each step three times in a row: on the real pool, staggered, and
	// simulated on one core
	var real, staggered, alone []*asm.Recording
	record := func(rec *asm.Recording, into *[]*asm.Recording) error {
		err := s.Step()
		pool.Stop()
		*into = append(*into, rec)
		return err
	}
	for range o.Steps {
		if err := record(pool.Record(0), &real); err != nil {
			return err
		}
		if err := record(pool.RecordStaggered(), &staggered); err != nil {
			return err
		}
		if err := record(pool.Record(th), &alone); err != nil {
			return err
		}
	}
	if err := fit(m, real, alone); err != nil {
		return err
	}
	m.Concurrency, _, _ = contention(real, staggered)
	m.Placement, _, _ = contention(staggered, alone)
	return nil
}

// fit sets m's hand-off, join and contention from steps recorded on a
// real pool (real) and simulating its width (alone).
func fit(m *Machine, real, alone []*asm.Recording) error {
	// The hand-off and join come from each real step as it ran: a join
	// is a region's wall time less its hand-off and its longest chunk,
	// all three of one run. (Measured on the merged recording, whose
	// chunks are the fastest of several runs but whose wall times are
	// one run's, every chunk's run-to-run variation counted as join:
	// a median of 35 µs on this VM, against 1.3 µs measured per run.)
	var err error
	if m.Post, m.Wake, m.Join, err = Overhead(real...); err != nil {
		return err
	}
	m.Alpha, m.AlphaLow, m.AlphaHigh = contention(real, alone)
	return nil
}

// contention is α by phase from steps recorded in pairs, one on a real
// pool (real[i]) and one simulating its width (alone[i]) right after:
// per pair, the split regions' chunk time at once over alone, less one,
// over the other chunks that ran at once (one, at two threads); then
// the median over the pairs, and their lower and upper quartiles (lo,
// hi; all three at least 0). (Comparing each side's fastest chunks over
// all steps instead swung GEMM's α between 0 and 0.08 from run to run
// on a shared VM, and with it the predicted 16-thread speedup between
// 4.5 and 9.)
func contention(real, alone []*asm.Recording) (alpha, lo, hi [phase.Count]float64) {
	var per [phase.Count][]float64
	for i := range min(len(real), len(alone)) {
		a := pairContention(real[i], alone[i])
		for ph := range a {
			per[ph] = append(per[ph], a[ph])
		}
	}
	for ph, v := range per {
		if n := len(v); n > 0 {
			slices.Sort(v)
			q := (n - 1) / 4
			alpha[ph], lo[ph], hi[ph] = max(0, v[n/2]), max(0, v[q]), max(0, v[n-1-q])
		}
	}
	return alpha, lo, hi
}

// pairContention is one pair's α by phase (negative where the chunks
// ran faster at once: noise, kept for the median).
func pairContention(r, a *asm.Recording) (alpha [phase.Count]float64) {
	var together, apart, others [phase.Count]float64
	sum := func(rec *asm.Recording, into *[phase.Count]float64, n *[phase.Count]float64) {
		for _, g := range rec.Regions {
			if len(g.Chunks) < 2 {
				continue
			}
			ph := phaseOf(g.Tag)
			var work float64
			for _, c := range g.Chunks {
				work += float64(c)
			}
			into[ph] += work
			if n != nil {
				n[ph] += float64(len(g.Chunks)-1) * work
			}
		}
	}
	sum(r, &together, nil)
	sum(a, &apart, &others)
	for ph := range alpha {
		if apart[ph] > 0 && others[ph] > 0 {
			// weighted by chunk time, the mean number of other chunks
			// running beside one
			k := others[ph] / apart[ph]
			alpha[ph] = (together[ph]/apart[ph] - 1) / k
		}
	}
	return alpha
}

// Overhead measures the pool's hand-off and join on this machine from
// recordings of a real pool (width 0) of two or more threads, as they
// were taken (not merged by fastest), as medians over all their
// regions: the time to publish a call, the further hand-off time per
// worker, and what a region's wall time exceeds its hand-off plus its
// longest chunk by.
func Overhead(recs ...*asm.Recording) (post, wake, join time.Duration, err error) {
	var posts, wakes, joins []time.Duration
	for _, rec := range recs {
		for _, r := range rec.Regions {
			t := len(r.Chunks)
			if t < 2 {
				continue
			}
			posts = append(posts, r.Publish)
			wakes = append(wakes, (r.Post-r.Publish)/time.Duration(t-1))
			joins = append(joins, max(0, r.Wall-r.Post-slices.Max(r.Chunks)))
		}
	}
	if len(posts) == 0 {
		return 0, 0, 0, fmt.Errorf("scaling: no region of two or more chunks recorded")
	}
	return median(posts), median(wakes), median(joins), nil
}

// fastest merges recordings of the same step taken several times (the
// same regions, split alike) into one holding each chunk's and each
// tag's shortest time: on a shared machine a chunk is only ever slowed
// by others, so the minimum is the best estimate of its own cost. Steps
// whose regions differ (a varying batch) are not merged: the one of
// median total time is kept.
func fastest(recs []*asm.Recording) *asm.Recording {
	out := recs[0]
	same := true
	for _, r := range recs[1:] {
		same = same && len(r.Regions) == len(out.Regions)
		for i := 0; same && i < len(r.Regions); i++ {
			same = len(r.Regions[i].Chunks) == len(out.Regions[i].Chunks) && r.Regions[i].Tag == out.Regions[i].Tag
		}
	}
	if !same {
		slices.SortFunc(recs, func(a, b *asm.Recording) int { return int(total(a) - total(b)) })
		return recs[len(recs)/2]
	}
	for _, r := range recs[1:] {
		for i := range r.Regions {
			for j, c := range r.Regions[i].Chunks {
				out.Regions[i].Chunks[j] = min(out.Regions[i].Chunks[j], c)
			}
		}
		for tag, d := range r.Serial {
			if cur, ok := out.Serial[tag]; !ok || d < cur {
				out.Serial[tag] = d
			}
		}
	}
	return out
}

// total is a recording's serial and chunk time.
func total(r *asm.Recording) time.Duration {
	var t time.Duration
	for _, d := range r.Serial {
		t += d
	}
	for _, g := range r.Regions {
		for _, c := range g.Chunks {
			t += c
		}
	}
	return t
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// Profile is a workload's prediction at each width.
type Profile struct {
	Name      string
	Tokens    int // target tokens per step
	Batch     int
	Steps     int // recorded per width
	Machine   Machine
	Estimates []Estimate // one per width, in the order asked
	// SplitEstimates are the same with Machine.Split set.
	SplitEstimates []Estimate
	// Band are the same at Machine.AlphaLow ([0]) and AlphaHigh ([1]).
	Band [2][]Estimate
}

// SpeedupBand is Speedup with α at its upper quartile (lo) and at its
// lower quartile (hi): the range the run's noise in α spans.
func (p *Profile) SpeedupBand(i int) (lo, hi float64) {
	at := func(es []Estimate) float64 { return es[0].Time.Seconds() / es[i].Time.Seconds() }
	return at(p.Band[1]), at(p.Band[0])
}

// SplitSpeedup is Speedup of SplitEstimates.
func (p *Profile) SplitSpeedup(i int) float64 {
	return p.SplitEstimates[0].Time.Seconds() / p.SplitEstimates[i].Time.Seconds()
}

// Speedup is T(1)/T(P) at estimate i (Estimates[0] must be width 1).
func (p *Profile) Speedup(i int) float64 {
	return p.Estimates[0].Time.Seconds() / p.Estimates[i].Time.Seconds()
}

// Inflation is W(P)/W(1) at estimate i.
func (p *Profile) Inflation(i int) float64 {
	return p.Estimates[i].Work.Seconds() / p.Estimates[0].Work.Seconds()
}

// TokensPerSecond is the predicted throughput at estimate i.
func (p *Profile) TokensPerSecond(i int) float64 {
	return float64(p.Tokens) / p.Estimates[i].Time.Seconds()
}

// Options configure Run.
type Options struct {
	Widths []int // simulated widths; 1 is added first if missing
	Steps  int   // recorded steps per width (the median step is kept)
	Batch  int   // sequences per step (0: the workload's own)
	BF16   bool  // train with bf16 GEMM inputs (workload.Options.BF16)
	// BWRatio is Machine.BWRatio; Post and Join are measured on a real
	// pool of OverheadThreads threads (≥ 2).
	BWRatio         float64
	OverheadThreads int
}

// Run profiles workload name: the overhead on a real pool, then steps
// recorded at each width on one thread.
func Run(name string, o Options) (*Profile, error) {
	if o.Steps < 1 {
		return nil, fmt.Errorf("scaling: %d steps per width", o.Steps)
	}
	widths := o.Widths
	if !slices.Contains(widths, 1) {
		widths = append([]int{1}, widths...)
	} else if widths[0] != 1 {
		widths = append([]int{1}, slices.DeleteFunc(slices.Clone(widths), func(w int) bool { return w == 1 })...)
	}
	m := Machine{BWRatio: o.BWRatio}
	if err := measureMachine(name, o, &m); err != nil {
		return nil, err
	}
	pool := asm.NewPool(1)
	defer pool.Close()
	clock := &phase.Clock{}
	s, err := workload.New(name, workload.Options{Batch: o.Batch, BF16: o.BF16}, pool, clock)
	if err != nil {
		return nil, err
	}
	clock.Start(pool)
	defer clock.Stop()
	pr := &Profile{Name: name, Tokens: s.Tokens, Batch: s.Batch, Steps: o.Steps, Machine: m}
	split, low, high := m, m, m
	split.Split = true
	low.Alpha, high.Alpha = m.AlphaLow, m.AlphaHigh
	for _, w := range widths {
		var recs []*asm.Recording
		for range o.Steps {
			rec := pool.Record(w)
			err := s.Step()
			pool.Stop()
			if err != nil {
				return nil, err
			}
			recs = append(recs, rec)
		}
		f := fastest(recs)
		pr.Estimates = append(pr.Estimates, Predict(f, m))
		pr.SplitEstimates = append(pr.SplitEstimates, Predict(f, split))
		pr.Band[0] = append(pr.Band[0], Predict(f, low))
		pr.Band[1] = append(pr.Band[1], Predict(f, high))
	}
	return pr, nil
}
