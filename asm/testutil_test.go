package asm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"
)

// Shared helpers for the kernel tests: seeded random data, guarded
// buffers, finite-difference gradient checks and the harness that runs
// every implementation of a kernel against its pure-Go twin.

// sizes covers the empty case, tiny lengths and the tails of 4-, 8- and
// 16-lane vectors.
var sizes = []int{0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 255, 256, 257}

// rowCounts are the row counts used with row-wise kernels.
var rowCounts = []int{0, 1, 2, 3, 5}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x636c696e6963)) }

// fill sets s to uniform values in [lo, hi).
func fill(r *rand.Rand, s []float32, lo, hi float64) {
	for i := range s {
		s[i] = float32(lo + (hi-lo)*r.Float64())
	}
}

func randSlice(r *rand.Rand, n int, lo, hi float64) []float32 {
	s := make([]float32, n)
	fill(r, s, lo, hi)
	return s
}

// guardBits is the sentinel stored around (and, for strided operands,
// between) the elements a kernel may touch: a quiet NaN with a
// recognisable payload, so that a stray read poisons results and a
// stray write is caught bit-exactly.
const guardBits = 0x7fc0dead

var guardVal = math.Float32frombits(guardBits)

// guardLen is the number of guard elements on each side of a buffer.
const guardLen = 16

// gbuf is a buffer of n elements with guardLen guard elements on each
// side.
type gbuf struct {
	full []float32
	n    int
}

func newGuarded(n int) gbuf {
	full := make([]float32, n+2*guardLen)
	for i := range full {
		full[i] = guardVal
	}
	return gbuf{full, n}
}

// randGuarded is a guarded buffer of n uniform values in [lo, hi).
func randGuarded(r *rand.Rand, n int, lo, hi float64) gbuf {
	b := newGuarded(n)
	fill(r, b.s(), lo, hi)
	return b
}

// s is the region a kernel is given; its capacity is its length.
func (b gbuf) s() []float32 { return b.full[guardLen : guardLen+b.n : guardLen+b.n] }

func (b gbuf) clone() gbuf { return gbuf{append([]float32(nil), b.full...), b.n} }

// guardsOK reports whether both guard zones still hold the sentinel.
func (b gbuf) guardsOK() (bool, int) {
	for i, v := range b.full {
		if i >= guardLen && i < guardLen+b.n {
			continue
		}
		if math.Float32bits(v) != guardBits {
			return false, i - guardLen
		}
	}
	return true, 0
}

// reporter is the part of testing.TB the checkers use, so that tests of
// the checkers can capture failures.
type reporter interface {
	Helper()
	Errorf(format string, args ...any)
}

func checkGuards(t reporter, label string, bufs ...gbuf) {
	t.Helper()
	for k, b := range bufs {
		if ok, at := b.guardsOK(); !ok {
			t.Errorf("%s: operand %d: guard element at offset %d (len %d) overwritten with %v", label, k, at, b.n, b.full[at+guardLen])
		}
	}
}

// bitsEqual reports whether a and b hold the same bits.
func bitsEqual(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// firstBitDiff returns the first index where a and b differ, or -1.
func firstBitDiff(a, b []float32) int {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	return -1
}

// closeTo reports whether got is within tol·(1+|want|) of want; NaN
// must match NaN. tol = 0 demands identical bits.
func closeTo(got, want, tol float64) bool {
	if math.IsNaN(want) || math.IsNaN(got) {
		return math.IsNaN(want) && math.IsNaN(got)
	}
	if tol == 0 {
		return got == want
	}
	if math.IsInf(want, 0) {
		return got == want
	}
	return math.Abs(got-want) <= tol*(1+math.Abs(want))
}

// named is one implementation of a kernel. Entry 0 of every kernel's
// list is the pure-Go twin; assembly versions are appended to the lists
// (for example from an init function in an amd64-only test file, when
// the CPU supports them) and are then checked against the twin by the
// TestImpl* tests.
type named[F any] struct {
	name string
	fn   F
}

// implRun is an implementation adapted to the harness: it runs the
// kernel on the operands (the middles of guarded buffers) and returns
// the kernel's scalar result, or 0.
type implRun struct {
	name string
	run  func(ops [][]float32) float64
}

// adapt turns a kernel's implementation list into harness runs.
func adapt[F any](list []named[F], call func(F, [][]float32) float64) []implRun {
	out := make([]implRun, len(list))
	for i, im := range list {
		out[i] = implRun{im.name, func(ops [][]float32) float64 { return call(im.fn, ops) }}
	}
	return out
}

// checkImpls runs every implementation on its own copy of the operands
// and checks that:
//   - no guard element of any operand was written;
//   - operands not in written are unchanged (bit-exact, padding too);
//   - every implementation after the first (the twin) produces the
//     twin's output within tol (see closeTo; tol = 0 means bit-exact),
//     for the written operands and the scalar result.
//
// Guard zones and strided padding hold NaN, so an implementation that
// reads outside its operands produces NaN and fails the comparison.
func checkImpls(t reporter, label string, ops []gbuf, written []bool, impls []implRun, tol float64) {
	t.Helper()
	var ref []gbuf
	var refScalar float64
	for k, im := range impls {
		cl := make([]gbuf, len(ops))
		mids := make([][]float32, len(ops))
		for i, b := range ops {
			cl[i] = b.clone()
			mids[i] = cl[i].s()
		}
		res := im.run(mids)
		lbl := fmt.Sprintf("%s [%s]", label, im.name)
		checkGuards(t, lbl, cl...)
		for i := range ops {
			if !written[i] && !bitsEqual(cl[i].full, ops[i].full) {
				t.Errorf("%s: read-only operand %d modified at element %d", lbl, i, firstBitDiff(cl[i].full, ops[i].full)-guardLen)
			}
		}
		if k == 0 {
			ref, refScalar = cl, res
			continue
		}
		if !closeTo(res, refScalar, tol) {
			t.Errorf("%s: result %v, twin %v", lbl, res, refScalar)
		}
		for i := range ops {
			if !written[i] {
				continue
			}
			g, w := cl[i].s(), ref[i].s()
			bad := 0
			for j := range g {
				if !closeTo(float64(g[j]), float64(w[j]), tol) {
					if bad < 3 {
						t.Errorf("%s: operand %d element %d = %v, twin %v", lbl, i, j, g[j], w[j])
					}
					bad++
				}
			}
			if bad > 3 {
				t.Errorf("%s: operand %d: %d mismatches in all", lbl, i, bad)
			}
		}
	}
}

// fdGrad checks an analytic gradient ga of a scalar loss with respect
// to x against float64 central differences. loss evaluates the loss for
// the current contents of x (which fdGrad perturbs in place and then
// restores). The step actually taken is measured after rounding x±h to
// float32. A component passes if |num − ga| ≤ atol + rtol·max(|num|,
// |ga|). skip, if non-nil, excludes components (points of
// non-differentiability).
func fdGrad(t reporter, label string, x, ga []float32, loss func() float64, h, rtol, atol float64, skip func(i int) bool) {
	t.Helper()
	bad := 0
	for i := range x {
		if skip != nil && skip(i) {
			continue
		}
		x0 := x[i]
		xp := float32(float64(x0) + h)
		xm := float32(float64(x0) - h)
		x[i] = xp
		lp := loss()
		x[i] = xm
		lm := loss()
		x[i] = x0
		num := (lp - lm) / (float64(xp) - float64(xm))
		an := float64(ga[i])
		if far(num-an, atol+rtol*math.Max(math.Abs(num), math.Abs(an))) {
			if bad < 5 {
				t.Errorf("%s: d/dx[%d]: analytic %.7g, numeric %.7g", label, i, an, num)
			}
			bad++
		}
	}
	if bad > 5 {
		t.Errorf("%s: %d of %d components off", label, bad, len(x))
	}
}

// far reports whether |e| exceeds tol, or e is NaN (a plain
// |e| > tol comparison lets NaN through).
func far(e, tol float64) bool { return !(math.Abs(e) <= tol) }

// dot64 is Σ w·y in float64, the linear loss used by gradient checks.
func dot64(w, y []float32) float64 {
	var s float64
	for i := range w {
		s += float64(w[i]) * float64(y[i])
	}
	return s
}

func maxAbs(s []float32) float64 {
	var m float64
	for _, v := range s {
		m = math.Max(m, math.Abs(float64(v)))
	}
	return m
}

// testPool is a pool of three threads for tests that run a kernel both
// inline and split.
var testPool = NewPool(3)

// withThreads runs f with a pool of n threads, closed after.
func withThreads(t *testing.T, n int, f func(p *Pool)) {
	t.Helper()
	p := NewPool(n)
	defer p.Close()
	f(p)
}

// recorder is a reporter that counts failures.
type recorder struct{ fails []string }

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.fails = append(r.fails, fmt.Sprintf(format, args...))
}

// TestCheckersCatchFaults makes sure the harness fails broken
// implementations: a write past the end, a write to a read-only
// operand, a read of strided padding, a wrong value, and a wrong
// gradient.
func TestCheckersCatchFaults(t *testing.T) {
	r := newRand(99)
	const n = 17
	ops := []gbuf{newGuarded(n), randGuarded(r, n, -1, 1)}
	good := implRun{"go", func(o [][]float32) float64 { ReLU(o[0], o[1]); return 0 }}
	faults := map[string]implRun{
		"overrun": {"overrun", func(o [][]float32) float64 {
			ReLU(o[0], o[1])
			unsafe.Slice(&o[0][0], n+1)[n] = 0 // the guard after the end
			return 0
		}},
		"over-read": {"over-read", func(o [][]float32) float64 {
			ReLU(o[0], o[1])
			o[0][n-1] += unsafe.Slice(&o[1][0], n+1)[n] // a guard NaN
			return 0
		}},
		"input write":  {"input write", func(o [][]float32) float64 { ReLU(o[0], o[1]); o[1][3] = 1; return 0 }},
		"wrong value":  {"wrong value", func(o [][]float32) float64 { ReLU(o[0], o[1]); o[0][n-1] += 1e-3; return 0 }},
		"wrong scalar": {"wrong scalar", func(o [][]float32) float64 { ReLU(o[0], o[1]); return 1 }},
	}
	for name, bad := range faults {
		rec := &recorder{}
		checkImpls(rec, name, ops, []bool{true, false}, []implRun{good, bad}, 1e-6)
		if len(rec.fails) == 0 {
			t.Errorf("checkImpls missed fault %q", name)
		}
	}
	// Reading a strided padding column pulls in a guard NaN.
	const rows, w, stride = 3, 4, 6
	src := strided(r, rows, w, stride)
	cs := func(f func([]float32, []float32, int, int)) implRun {
		return implRun{"", func(o [][]float32) float64 { f(o[0], o[1], rows, stride); return 0 }}
	}
	rec := &recorder{}
	checkImpls(rec, "padding read", []gbuf{randGuarded(r, w, -1, 1), src}, []bool{true, false},
		[]implRun{cs(ColSum), cs(func(dst, s []float32, rows, stride int) {
			ColSum(dst, s, rows, stride)
			dst[w-1] += s[w] // padding
		})}, 1e-6)
	if len(rec.fails) == 0 {
		t.Errorf("checkImpls missed a read of padding")
	}
	// A gradient off by 5% fails the finite-difference check.
	x := randSlice(r, 20, -2, 2)
	ga := make([]float32, len(x))
	for i, v := range x {
		ga[i] = 2 * v * 1.05
	}
	rec = &recorder{}
	fdGrad(rec, "x²", x, ga, func() float64 { return SumSq(x) }, 1e-2, 1e-2, 1e-3, nil)
	if len(rec.fails) == 0 {
		t.Errorf("fdGrad missed a 5%% gradient error")
	}
}
