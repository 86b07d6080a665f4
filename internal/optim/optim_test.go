package optim

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/clinic-ml/clinic/asm"
)

// ref is a float64 reference written from the PyTorch formulas
// (torch.optim.Adam/AdamW and torch.optim.RAdam with decoupled weight
// decay), independently of the kernel's parametrization.
type ref struct {
	w, m, v [][]float64
	t       int
}

func (r *ref) step(cfg Config, grads [][]float64) {
	r.t++
	t := float64(r.t)
	lr := refLR(cfg, r.t)
	// Global-norm clipping.
	if cfg.Clip > 0 {
		var s float64
		for _, g := range grads {
			for _, x := range g {
				s += x * x
			}
		}
		if n := math.Sqrt(s); n > cfg.Clip {
			for _, g := range grads {
				for j := range g {
					g[j] *= cfg.Clip / n
				}
			}
		}
	}
	b1, b2 := cfg.Beta1, cfg.Beta2
	bc1 := 1 - math.Pow(b1, t)
	bc2 := 1 - math.Pow(b2, t)
	rhoInf := 2/(1-b2) - 1
	rhoT := rhoInf - 2*t*math.Pow(b2, t)/bc2
	for i, w := range r.w {
		for j := range w {
			g := grads[i][j]
			w[j] *= 1 - lr*cfg.WeightDecay
			r.m[i][j] = b1*r.m[i][j] + (1-b1)*g
			r.v[i][j] = b2*r.v[i][j] + (1-b2)*g*g
			mhat := r.m[i][j] / bc1
			switch {
			case cfg.Name == "adam":
				w[j] -= lr * mhat / (math.Sqrt(r.v[i][j])/math.Sqrt(bc2) + cfg.Eps)
			case rhoT > 5:
				rect := math.Sqrt((rhoT - 4) * (rhoT - 2) * rhoInf / ((rhoInf - 4) * (rhoInf - 2) * rhoT))
				adaptive := math.Sqrt(bc2) / (math.Sqrt(r.v[i][j]) + cfg.Eps)
				w[j] -= mhat * lr * adaptive * rect
			default:
				w[j] -= mhat * lr
			}
		}
	}
}

func refLR(cfg Config, step int) float64 {
	W := float64(cfg.Warmup)
	s := float64(step)
	if cfg.Warmup > 0 && s <= W {
		return cfg.LR * s / W
	}
	if cfg.Schedule == "constant" {
		return cfg.LR
	}
	if cfg.Warmup == 0 {
		return cfg.LR / math.Sqrt(s)
	}
	return cfg.LR * math.Sqrt(W) / math.Sqrt(s)
}

// lcg gives reproducible pseudo-random numbers in [-1, 1).
type lcg uint64

func (l *lcg) next() float64 {
	*l = *l*6364136223846793005 + 1442695040888963407
	return float64(uint64(*l)>>11)/(1<<52) - 1
}

func runCompare(t *testing.T, cfg Config, sizes []int, steps int) {
	t.Helper()
	rng := lcg(12345)
	params := make([][]float32, len(sizes))
	r := &ref{}
	for i, n := range sizes {
		params[i] = make([]float32, n)
		r.w = append(r.w, make([]float64, n))
		r.m = append(r.m, make([]float64, n))
		r.v = append(r.v, make([]float64, n))
		for j := range params[i] {
			params[i][j] = float32(rng.next())
			r.w[i][j] = float64(params[i][j])
		}
	}
	o, err := New(cfg, params)
	if err != nil {
		t.Fatal(err)
	}
	grads := make([][]float32, len(sizes))
	g64 := make([][]float64, len(sizes))
	for i, n := range sizes {
		grads[i] = make([]float32, n)
		g64[i] = make([]float64, n)
	}
	for s := 1; s <= steps; s++ {
		for i := range grads {
			for j := range grads[i] {
				x := float32(rng.next() * 0.1)
				if j == 0 {
					x = 0 // an element that never gets a gradient
				}
				grads[i][j] = x
				g64[i][j] = float64(x)
			}
		}
		lr := o.Step(grads)
		r.step(cfg, g64)
		if want := refLR(cfg, s); math.Abs(lr-want) > 1e-15 {
			t.Fatalf("step %d: lr %g, want %g", s, lr, want)
		}
		var worst float64
		for i := range params {
			for j := range params[i] {
				d := math.Abs(float64(params[i][j]) - r.w[i][j])
				worst = max(worst, d)
			}
		}
		// Updates are ~lr = 1e-2; float32 state keeps ~1e-7 relative.
		if worst > 2e-6 {
			t.Fatalf("%s step %d: max |w - ref| = %g", cfg.Name, s, worst)
		}
	}
	if o.Steps() != steps {
		t.Errorf("Steps() = %d", o.Steps())
	}
}

func base(name string) Config {
	return Config{Name: name, LR: 1e-2, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Warmup: 3, Schedule: "invsqrt"}
}

func TestAdam(t *testing.T) {
	runCompare(t, base("adam"), []int{7, 64, 1}, 12)
}

func TestAdamW(t *testing.T) {
	cfg := base("adam")
	cfg.WeightDecay = 0.1
	cfg.Schedule = "constant"
	// One slice large enough to take the parallel path.
	runCompare(t, cfg, []int{parallelMin + 17, 5}, 4)
}

func TestAdamClip(t *testing.T) {
	cfg := base("adam")
	cfg.Clip = 0.05 // below the typical norm, so every step clips
	runCompare(t, cfg, []int{50, 30}, 5)
}

func TestRAdamBothBranches(t *testing.T) {
	// With β2 = 0.999, ρt <= 5 for t <= 5 (momentum-only steps) and
	// ρt > 5 from t = 6 (rectified steps); 10 steps cover both.
	if _, ok := Rectifier(0.999, 5); ok {
		t.Fatal("rectifier applies at t=5")
	}
	for _, c := range []struct {
		t int
		r float64
	}{{6, 0.02582111280185855}, {10, 0.04899801344710748}} {
		r, ok := Rectifier(0.999, c.t)
		if !ok || math.Abs(r-c.r) > 1e-12 {
			t.Fatalf("Rectifier(0.999, %d) = %v, %v; want %v", c.t, r, ok, c.r)
		}
	}
	cfg := base("radam")
	cfg.WeightDecay = 0.01
	cfg.Warmup = 0
	cfg.Schedule = "constant"
	runCompare(t, cfg, []int{33, 8}, 10)
	// A β2 whose rectifier applies early and Eps large enough to
	// matter, so its placement is checked.
	cfg.Beta2 = 0.9
	cfg.Eps = 1e-3
	runCompare(t, cfg, []int{20}, 6)
}

func TestFirstAdamStep(t *testing.T) {
	// The first Adam step moves each weight by lr·g/(|g|+ε) ≈ lr·sign(g).
	w := []float32{1, 1, 1}
	o, err := New(Config{Name: "adam", LR: 0.1, Beta1: 0.9, Beta2: 0.98, Eps: 1e-8, Schedule: "constant"}, [][]float32{w})
	if err != nil {
		t.Fatal(err)
	}
	o.Step([][]float32{{0.5, -2, 0}})
	want := []float32{0.9, 1.1, 1}
	for i := range w {
		if math.Abs(float64(w[i]-want[i])) > 1e-6 {
			t.Fatalf("w = %v, want %v", w, want)
		}
	}
	// The first RAdam step is plain momentum: lr·m/(1-β1) = lr·g.
	w = []float32{1, 1}
	o, _ = New(Config{Name: "radam", LR: 0.1, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Schedule: "constant"}, [][]float32{w})
	o.Step([][]float32{{0.5, -2}})
	if math.Abs(float64(w[0]-0.95)) > 1e-6 || math.Abs(float64(w[1]-1.2)) > 1e-6 {
		t.Fatalf("radam first step: w = %v, want [0.95 1.2]", w)
	}
}

func TestSchedule(t *testing.T) {
	inv := Config{LR: 1e-3, Warmup: 4000, Schedule: "invsqrt"}
	con := Config{LR: 1e-3, Warmup: 4000, Schedule: "constant"}
	none := Config{LR: 1e-3, Schedule: "invsqrt"}
	dflt := Config{LR: 1e-3, Warmup: 100} // empty schedule = invsqrt
	for _, c := range []struct {
		cfg  Config
		step int
		want float64
	}{
		{inv, 0, 2.5e-7}, {inv, 1, 2.5e-7}, {inv, 2000, 5e-4}, {inv, 4000, 1e-3},
		{inv, 16000, 5e-4}, {inv, 64000, 2.5e-4},
		{con, 1, 2.5e-7}, {con, 2000, 5e-4}, {con, 4000, 1e-3}, {con, 1000000, 1e-3},
		{none, 1, 1e-3}, {none, 4, 5e-4}, {none, 100, 1e-4},
		{Config{LR: 1e-3, Schedule: "constant"}, 1, 1e-3},
		{dflt, 400, 5e-4},
	} {
		if got := LR(c.cfg, c.step); math.Abs(got-c.want) > 1e-15 {
			t.Errorf("LR(%s warmup %d, %d) = %g, want %g", c.cfg.Schedule, c.cfg.Warmup, c.step, got, c.want)
		}
	}
}

func TestClipGrads(t *testing.T) {
	g := [][]float32{{3, 0}, {}, {4}}
	if n := GradNorm(g); n != 5 {
		t.Fatalf("GradNorm = %v", n)
	}
	if n := ClipGrads(g, 10); n != 5 || g[0][0] != 3 || g[2][0] != 4 {
		t.Errorf("clip above the norm changed grads: %v %v", n, g)
	}
	if n := ClipGrads(g, 0); n != 5 || g[0][0] != 3 {
		t.Errorf("clip 0 changed grads: %v", g)
	}
	if n := ClipGrads(g, 1); n != 5 || math.Abs(float64(g[0][0])-0.6) > 1e-7 || math.Abs(float64(g[2][0])-0.8) > 1e-7 {
		t.Errorf("clip 1: norm %v grads %v", n, g)
	}
	if n := GradNorm(g); math.Abs(n-1) > 1e-7 {
		t.Errorf("norm after clipping = %v", n)
	}
	inf := [][]float32{{float32(math.Inf(1)), 1}}
	if n := ClipGrads(inf, 1); !math.IsInf(n, 1) || inf[0][1] != 1 {
		t.Errorf("infinite norm: %v %v", n, inf)
	}
}

func TestStateRoundTrip(t *testing.T) {
	cfg := base("radam")
	mk := func() [][]float32 { return [][]float32{{1, 2, 3}, {4, 5}} }
	grads := func(s int) [][]float32 {
		f := float32(s)
		return [][]float32{{0.1 * f, -0.2, 0.3}, {0.05, -0.01 * f}}
	}
	pa := mk()
	a, _ := New(cfg, pa)
	for s := 1; s <= 7; s++ {
		a.Step(grads(s))
	}
	m, v, step := a.State()
	if step != 7 || len(m) != 2 || len(v[1]) != 2 {
		t.Fatalf("State: step %d, shapes %d %d", step, len(m), len(v[1]))
	}
	// A fresh optimizer over a copy of the parameters, restored from
	// the state, continues exactly like the original.
	pb := mk()
	for i := range pb {
		copy(pb[i], pa[i])
	}
	b, _ := New(cfg, pb)
	if err := b.SetState(m, v, step); err != nil {
		t.Fatal(err)
	}
	for s := 8; s <= 10; s++ {
		la, lb := a.Step(grads(s)), b.Step(grads(s))
		if la != lb {
			t.Fatalf("lr differs: %v %v", la, lb)
		}
	}
	for i := range pa {
		for j := range pa[i] {
			if pa[i][j] != pb[i][j] {
				t.Fatalf("restored run diverged: %v vs %v", pa, pb)
			}
		}
	}
	if err := b.SetState(m[:1], v, 3); err == nil {
		t.Error("SetState accepted the wrong number of tensors")
	}
	if err := b.SetState([][]float32{{1, 2, 3}, {1}}, v, 3); err == nil {
		t.Error("SetState accepted a wrong-sized tensor")
	}
	if err := b.SetState(m, v, -1); err == nil {
		t.Error("SetState accepted a negative step")
	}
}

func TestValidate(t *testing.T) {
	good := base("adam")
	if _, err := New(good, nil); err != nil {
		t.Fatal(err)
	}
	for want, mod := range map[string]func(*Config){
		"unknown optimizer": func(c *Config) { c.Name = "sgd" },
		"schedule":          func(c *Config) { c.Schedule = "cosine" },
		"learning rate":     func(c *Config) { c.LR = 0 },
		"beta1":             func(c *Config) { c.Beta1 = 1 },
		"beta2":             func(c *Config) { c.Beta2 = -0.1 },
		"eps":               func(c *Config) { c.Eps = 0 },
		"weight decay":      func(c *Config) { c.WeightDecay = math.NaN() },
		"warm-up":           func(c *Config) { c.Warmup = -1 },
		"clip":              func(c *Config) { c.Clip = -1 },
	} {
		c := good
		mod(&c)
		_, err := New(c, nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v", want, err)
		}
	}
}

func TestStepAllocs(t *testing.T) {
	p := [][]float32{make([]float32, parallelMin+1), make([]float32, 10)}
	g := [][]float32{make([]float32, parallelMin+1), make([]float32, 10)}
	o, _ := New(base("adam"), p)
	if n := testing.AllocsPerRun(5, func() { o.Step(g) }); n != 0 {
		t.Errorf("Step allocates %v times", n)
	}
}

// GradNorm on the pool is the serial sum of the slices' SumSq in slice
// order, bit for bit, at every thread count, with empty slices anywhere
// and a Normer reused across different gradient lists.
func TestGradNormThreads(t *testing.T) {
	mk := func(lens ...int) [][]float32 {
		var gs [][]float32
		for i, n := range lens {
			g := make([]float32, n)
			for j := range g {
				g[j] = float32(math.Sin(float64(i*7919+j))) * float32(i+1)
			}
			gs = append(gs, g)
		}
		return gs
	}
	var nr Normer
	for _, gs := range [][][]float32{
		mk(0, 40000, 3, 70000, 0, 1, 9000, 0),
		mk(100000, 5, 0),
		mk(7, 0),
	} {
		var s float64
		for _, g := range gs {
			s += asm.SumSq(g)
		}
		want := math.Sqrt(s)
		for _, threads := range []int{1, 2, 3, 5} {
			nr.Pool = asm.NewPool(threads)
			got := nr.Norm(gs)
			nr.Pool.Close()
			if math.Float64bits(got) != math.Float64bits(want) {
				t.Errorf("threads %d, %d slices: %v, want %v", threads, len(gs), got, want)
			}
		}
	}
}

// The update is one pass over the parameters as one vector, split over
// the pool at grain boundaries that fall inside tensors: clipped, with a
// decay mask and the rollback copy, it gives the bits of the same
// optimizer inline, and the rollback copy holds the weights before each
// step.
func TestPassSplitBitIdentical(t *testing.T) {
	cfg := base("radam")
	cfg.Clip, cfg.WeightDecay = 0.05, 0.1
	sizes := []int{passGrain - 3, 5, 3*passGrain + 7, 1, parallelMin + 11, 0, 2 * passGrain}
	total := 0
	for _, n := range sizes {
		total += n
	}
	mk := func(seed uint64) [][]float32 {
		r := lcg(seed)
		out := make([][]float32, len(sizes))
		for i, n := range sizes {
			out[i] = make([]float32, n)
			for j := range out[i] {
				out[i][j] = float32(r.next())
			}
		}
		return out
	}
	mask := []bool{true, false, true, false, true, true, false}
	var ref [][]float32
	for _, threads := range []int{1, 2, 3, 5} {
		params := mk(1)
		o, err := New(cfg, params)
		if err != nil {
			t.Fatal(err)
		}
		o.SetDecayMask(mask)
		pool := asm.NewPool(threads)
		o.SetPool(pool)
		prev := make([]float32, total)
		if err := o.SetRollback(prev); err != nil {
			t.Fatal(err)
		}
		for step := uint64(0); step < 8; step++ {
			before := slices.Concat(params...)
			o.Step(mk(100 + step))
			if !slices.Equal(prev, before) {
				t.Fatalf("threads %d step %d: the rollback copy is not the weights before the step", threads, step)
			}
		}
		pool.Close()
		if threads == 1 {
			ref = params
			continue
		}
		for i := range params {
			for j := range params[i] {
				if math.Float32bits(params[i][j]) != math.Float32bits(ref[i][j]) {
					t.Fatalf("threads %d: parameter %d[%d] = %v, inline %v", threads, i, j, params[i][j], ref[i][j])
				}
			}
		}
	}
	if o, _ := New(cfg, mk(1)); o.SetRollback(make([]float32, total-1)) == nil {
		t.Error("a rollback buffer of the wrong length was accepted")
	}
}
