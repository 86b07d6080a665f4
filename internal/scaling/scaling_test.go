package scaling

import (
	"math"
	"testing"
	"time"

	"github.com/clinic-ml/clinic/asm"
	"github.com/clinic-ml/clinic/internal/phase"
)

const ms = time.Millisecond

// The prediction is serial + Σ max(longest chunk + burden, bandwidth
// bound), with the burden only for split regions and the bound only for
// memory-bound phases.
func TestPredict(t *testing.T) {
	m := Machine{Post: 1 * ms, Wake: 1 * ms, Join: 1 * ms, BWRatio: 2}
	regions := []asm.Region{
		{Tag: int(phase.GEMM), Chunks: []time.Duration{10 * ms, 12 * ms, 8 * ms, 9 * ms}},      // 12 + 1 + 3·1 + 1
		{Tag: int(phase.Elementwise), Chunks: []time.Duration{4 * ms, 4 * ms, 4 * ms, 4 * ms}}, // max(4+5, 16/2)
		{Tag: int(phase.Elementwise), Chunks: []time.Duration{9 * ms, 9 * ms, 9 * ms, 9 * ms}}, // max(9+5, 36/2 = 18)
		{Tag: int(phase.Attention), Chunks: []time.Duration{7 * ms}},                           // one chunk: no burden
		{Tag: int(phase.Optimizer), Chunks: []time.Duration{1 * ms, 1 * ms, 1 * ms, 1 * ms}},   // max(1+5, 2)
	}
	serial := map[int]time.Duration{int(phase.Other): 3 * ms, int(phase.GEMM): 1 * ms}
	e := predict(4, regions, serial, m)
	want := 4*ms + 17*ms + 9*ms + 18*ms + 7*ms + 6*ms
	if e.Time != want {
		t.Errorf("T = %v, want %v", e.Time, want)
	}
	if e.Work != 4*ms+39*ms+16*ms+36*ms+7*ms+4*ms {
		t.Errorf("work %v", e.Work)
	}
	if e.Span != 4*ms+12*ms+4*ms+9*ms+7*ms+1*ms {
		t.Errorf("span %v", e.Span)
	}
	if e.Burden != 5*ms*4 || e.MemBound != 4*ms || e.Serial != 4*ms || e.Width != 4 {
		t.Errorf("burden %v, memory-bound %v, serial %v, width %d", e.Burden, e.MemBound, e.Serial, e.Width)
	}
	if g := e.ByPhase[phase.GEMM]; g.Time != 18*ms || g.Work != 40*ms || g.Span != 13*ms {
		t.Errorf("GEMM phase %+v", g)
	}
	var sum time.Duration
	for _, p := range e.ByPhase {
		sum += p.Time
	}
	if sum != e.Time {
		t.Errorf("phases sum to %v, T = %v", sum, e.Time)
	}
}

// A recording with a width splits every call as a pool of that width
// would, runs the chunks on the caller one after another and times
// each; the serial time between calls goes to the tag current then.
func TestRecordingSimulatesWidth(t *testing.T) {
	pool := asm.NewPool(1)
	defer pool.Close()
	rec := pool.Record(8)
	busy := func(d time.Duration) {
		for t0 := time.Now(); time.Since(t0) < d; {
		}
	}
	pool.SetTag(int(phase.Elementwise))
	ran := make([]int, 100)
	pool.Parallel(100, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			ran[i]++
		}
		busy(time.Duration(lo/13+1) * 100 * time.Microsecond)
	})
	pool.SetTag(int(phase.Other))
	busy(2 * ms)
	pool.Parallel(3, func(lo, hi int) {}) // fewer units than the width
	pool.Stop()
	for i, n := range ran {
		if n != 1 {
			t.Fatalf("index %d ran %d times", i, n)
		}
	}
	if len(rec.Regions) != 2 || len(rec.Regions[0].Chunks) != 8 || len(rec.Regions[1].Chunks) != 3 {
		t.Fatalf("regions %+v", rec.Regions)
	}
	if rec.Regions[0].Tag != int(phase.Elementwise) || rec.Regions[1].Tag != int(phase.Other) {
		t.Errorf("tags %d %d", rec.Regions[0].Tag, rec.Regions[1].Tag)
	}
	for i, c := range rec.Regions[0].Chunks {
		// chunk i covers [100i/8, 100(i+1)/8): its busy time grows with i
		if want := time.Duration((100*i/8)/13+1) * 100 * time.Microsecond; c < want {
			t.Errorf("chunk %d timed %v, it ran at least %v", i, c, want)
		}
	}
	if s := rec.Serial[int(phase.Other)]; s < 2*ms {
		t.Errorf("serial time %v, the caller spent at least 2ms between regions", s)
	}
	e := Predict(rec, Machine{})
	if e.Width != 8 || e.Span < 2*ms || e.Work < e.Span {
		t.Errorf("estimate %+v", e)
	}
}

// fastest keeps each chunk's shortest time across aligned recordings.
func TestFastest(t *testing.T) {
	a := &asm.Recording{Regions: []asm.Region{{Chunks: []time.Duration{5, 9}}}, Serial: map[int]time.Duration{0: 7}}
	b := &asm.Recording{Regions: []asm.Region{{Chunks: []time.Duration{6, 3}}}, Serial: map[int]time.Duration{0: 4, 1: 2}}
	f := fastest([]*asm.Recording{a, b})
	if c := f.Regions[0].Chunks; c[0] != 5 || c[1] != 3 || f.Serial[0] != 4 || f.Serial[1] != 2 {
		t.Errorf("merged %+v", f)
	}
}

// Contention α: a phase whose chunks took 30% longer beside one other
// chunk than alone has α = 0.3; a phase no slower has 0; regions of one
// chunk do not count.
func TestContention(t *testing.T) {
	alone := &asm.Recording{Regions: []asm.Region{
		{Tag: int(phase.GEMM), Chunks: []time.Duration{10 * ms, 10 * ms}},
		{Tag: int(phase.Elementwise), Chunks: []time.Duration{2 * ms, 2 * ms}},
		{Tag: int(phase.Attention), Chunks: []time.Duration{50 * ms}},
	}}
	together := &asm.Recording{Regions: []asm.Region{
		{Tag: int(phase.GEMM), Chunks: []time.Duration{13 * ms, 13 * ms}},
		{Tag: int(phase.Elementwise), Chunks: []time.Duration{2 * ms, 1 * ms}},
		{Tag: int(phase.Attention), Chunks: []time.Duration{90 * ms}},
	}}
	a, _, _ := contention([]*asm.Recording{together}, []*asm.Recording{alone})
	if math.Abs(a[phase.GEMM]-0.3) > 1e-9 || a[phase.Elementwise] != 0 || a[phase.Attention] != 0 {
		t.Errorf("α = %v", a)
	}
	// In the prediction, a region of t chunks runs its longest chunk
	// 1 + α·(t−1) times slower.
	m := Machine{Alpha: a}
	e := predict(4, []asm.Region{{Tag: int(phase.GEMM), Chunks: []time.Duration{10 * ms, 10 * ms, 10 * ms, 10 * ms}}}, nil, m)
	if want := time.Duration(float64(10*ms) * 1.9); e.Time != want {
		t.Errorf("T = %v, want %v", e.Time, want)
	}
}

// α's quartiles over the pairs: pairs whose GEMM chunks ran 0%, 10%,
// 20%, 30% and 40% longer together give the median 0.2 and the
// quartiles 0.1 and 0.3; a pair faster together (noise) counts in the
// order but gives no negative α.
func TestContentionQuartiles(t *testing.T) {
	var real, alone []*asm.Recording
	for _, slow := range []float64{0.3, -0.1, 0.2, 0.4, 0.1} {
		alone = append(alone, &asm.Recording{Regions: []asm.Region{{Tag: int(phase.GEMM), Chunks: []time.Duration{10 * ms, 10 * ms}}}})
		c := time.Duration(float64(10*ms) * (1 + slow))
		real = append(real, &asm.Recording{Regions: []asm.Region{{Tag: int(phase.GEMM), Chunks: []time.Duration{c, c}}}})
	}
	med, lo, hi := contention(real, alone)
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"median", med[phase.GEMM], 0.2}, {"lower quartile", lo[phase.GEMM], 0.1}, {"upper quartile", hi[phase.GEMM], 0.3}} {
		if math.Abs(c.got-c.want) > 1e-9 {
			t.Errorf("%s α = %v, want %v", c.name, c.got, c.want)
		}
	}
	real[1].Regions[0].Chunks = []time.Duration{5 * ms, 5 * ms} // -0.5
	real[4].Regions[0].Chunks = []time.Duration{6 * ms, 6 * ms} // -0.4
	if _, lo, _ := contention(real, alone); lo[phase.GEMM] != 0 {
		t.Errorf("lower quartile of pairs faster together: α %v, want 0", lo[phase.GEMM])
	}
}

// Split α: placement β is a constant cost, β·2(t−1)/t (β at two
// chunks), and only concurrency grows with t; at two chunks the split
// and the whole α agree when (1+β)(1+α_c) = 1+α.
func TestSplitSlowdown(t *testing.T) {
	m := Machine{Split: true}
	m.Placement[phase.GEMM], m.Concurrency[phase.GEMM] = 0.1, 0.02
	m.Alpha[phase.GEMM] = 1.1*1.02 - 1
	whole := m
	whole.Split = false
	for _, c := range []struct {
		t    int
		want float64
	}{{1, 1}, {2, 1.1 * 1.02}, {4, (1 + 0.1*1.5) * (1 + 0.06)}, {16, (1 + 0.1*30.0/16) * (1 + 0.3)}} {
		if got := m.slowdown(phase.GEMM, c.t); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("t = %d: slowdown %v, want %v", c.t, got, c.want)
		}
	}
	if a, b := m.slowdown(phase.GEMM, 2), whole.slowdown(phase.GEMM, 2); math.Abs(a-b) > 1e-12 {
		t.Errorf("at two chunks split %v, whole %v", a, b)
	}
	if a, b := m.slowdown(phase.GEMM, 16), whole.slowdown(phase.GEMM, 16); a >= b {
		t.Errorf("at 16 chunks split %v is not below the whole α's %v", a, b)
	}
	e := predict(4, []asm.Region{{Tag: int(phase.GEMM), Chunks: []time.Duration{10 * ms, 10 * ms, 10 * ms, 10 * ms}}}, nil, m)
	if want := time.Duration(float64(10*ms) * (1 + 0.1*1.5) * 1.06); (e.Time - want).Abs() > time.Microsecond {
		t.Errorf("T = %v, want %v", e.Time, want)
	}
}

// A region marked Inner (a GEMM's packing, ended by a barrier inside
// the GEMM's region) carries no burden of its own.
func TestInnerRegionNoBurden(t *testing.T) {
	m := Machine{Post: 1 * ms, Wake: 1 * ms, Join: 1 * ms}
	regions := []asm.Region{
		{Tag: int(phase.GEMM), Inner: true, Chunks: []time.Duration{3 * ms, 4 * ms}},
		{Tag: int(phase.GEMM), Chunks: []time.Duration{10 * ms, 9 * ms}},
	}
	if e := predict(2, regions, nil, m); e.Time != 4*ms+10*ms+3*ms || e.Burden != 3*ms {
		t.Errorf("T = %v, burden %v", e.Time, e.Burden)
	}
}

// The join is measured within each real step, not on the merge of
// several (whose chunks are the fastest of all runs but whose wall
// times are one run's): two steps of 1 ms joins whose chunks took 10
// and 5 ms give a join of 1 ms, not 6.
func TestFitJoinPerStep(t *testing.T) {
	step := func(chunk time.Duration) *asm.Recording {
		return &asm.Recording{Regions: []asm.Region{
			{Tag: int(phase.GEMM), Chunks: []time.Duration{chunk, chunk}, Publish: ms / 8, Post: ms / 2, Wall: ms/2 + chunk + ms},
			{Tag: int(phase.GEMM), Chunks: []time.Duration{chunk, chunk / 2}, Publish: ms / 8, Post: ms / 2, Wall: ms/2 + chunk + ms},
		}}
	}
	alone := func(chunk time.Duration) *asm.Recording {
		return &asm.Recording{Regions: []asm.Region{
			{Tag: int(phase.GEMM), Chunks: []time.Duration{chunk, chunk}},
			{Tag: int(phase.GEMM), Chunks: []time.Duration{chunk, chunk / 2}},
		}}
	}
	var m Machine
	if err := fit(&m, []*asm.Recording{step(10 * ms), step(5 * ms), step(5 * ms)}, []*asm.Recording{alone(4 * ms), alone(4 * ms), alone(4 * ms)}); err != nil {
		t.Fatal(err)
	}
	if m.Join != ms || m.Post != ms/8 || m.Wake != ms/2-ms/8 {
		t.Errorf("join %v, post %v, wake %v; want 1ms, 125µs, 375µs", m.Join, m.Post, m.Wake)
	}
	// the median pair: chunks of 5 ms beside one other, 4 ms alone (the
	// pair whose real step was slowed to 10 ms is an outlier)
	if a := m.Alpha[phase.GEMM]; math.Abs(a-0.25) > 1e-9 {
		t.Errorf("α = %v, want 0.25", a)
	}
	one := &asm.Recording{Regions: []asm.Region{{Tag: int(phase.GEMM), Chunks: []time.Duration{ms}}}}
	if _, _, _, err := Overhead(one); err == nil {
		t.Error("Overhead without a split region: no error")
	}
}
