package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/clinic-ml/clinic/asm"
)

// The row-blocked column reductions (ColSum, ColDot, LNBack's dγ and dβ)
// give the same bits at every thread count, for row counts that are and
// are not multiples of the block (and past 4,096 rows, where the block
// grows), and match a float64 sum.
func TestReductionsThreadsBitIdentical(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	vec := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64())
		}
		return v
	}
	const w = 40
	for _, rows := range []int{1, 31, 32, 33, 100, 4097, 9000} {
		a, b, x := vec(rows*w), vec(rows*w), vec(rows*w)
		mean, rstd := vec(rows), vec(rows)
		gamma := vec(w)
		init := [4][]float32{vec(w), vec(w), vec(w), vec(w)}
		clone := func(v []float32) []float32 { return append([]float32(nil), v...) }
		var first [][]float32
		for _, th := range []int{1, 2, 3, 5, 8} {
			pool := asm.NewPool(th)
			o := newOps()
			o.pool, o.red = pool, newPartials(rows, 2*w)
			// canaries: the gradients accumulate onto what they held
			sum, dot, dg, db := clone(init[0]), clone(init[1]), clone(init[2]), clone(init[3])
			want := make([]float64, w)
			for j := range want {
				want[j] = float64(sum[j])
				for i := 0; i < rows; i++ {
					want[j] += float64(a[i*w+j])
				}
			}
			o.ColSum(sum, a)
			o.ColDot(dot, a, b)
			dx := make([]float32, rows*w)
			o.LNBack(dx, dg, db, a, x, mean, rstd, gamma, w)
			pool.Close()
			for j := range want {
				if math.Abs(float64(sum[j])-want[j]) > 1e-4*(1+math.Sqrt(float64(rows))) {
					t.Fatalf("rows %d: column sum %d = %v, want %v", rows, j, sum[j], want[j])
				}
			}
			got := [][]float32{sum, dot, dg, db, dx}
			if th == 1 {
				first = got
				continue
			}
			for k := range got {
				for j := range got[k] {
					if math.Float32bits(got[k][j]) != math.Float32bits(first[k][j]) {
						t.Fatalf("rows %d, %d threads: output %d element %d is %v, %v at 1 thread", rows, th, k, j, got[k][j], first[k][j])
					}
				}
			}
		}
	}
}

// eachBlock cuts rows at the block boundaries of n and marks the pieces
// that start a block, whatever the walk's own step.
func TestEachBlock(t *testing.T) {
	for _, n := range []int{5, 64, 100, 5000} {
		rb := redRows(n)
		for _, step := range []int{1, 7, 16, 256} {
			seen := make([]int, n)
			blocks := 0
			for r0 := 0; r0 < n; r0 += step {
				eachBlock(n, r0, min(r0+step, n), func(b, a, z int, fresh bool) {
					if a/rb != b || (z-1)/rb != b || a >= z {
						t.Fatalf("n %d step %d: piece [%d,%d) is not in block %d", n, step, a, z, b)
					}
					if fresh != (a%rb == 0) {
						t.Fatalf("n %d step %d: piece [%d,%d) fresh = %v", n, step, a, z, fresh)
					}
					if fresh {
						blocks++
					}
					for i := a; i < z; i++ {
						seen[i]++
					}
				})
			}
			for i, c := range seen {
				if c != 1 {
					t.Fatalf("n %d step %d: row %d seen %d times", n, step, i, c)
				}
			}
			if blocks != redBlocks(n) {
				t.Fatalf("n %d step %d: %d blocks, want %d", n, step, blocks, redBlocks(n))
			}
		}
	}
}

// complete sums each block once, whole, after all of its rows were
// recorded, for ranges that cut the blocks anywhere (a GEMM epilogue's
// tiles of 14 rows, odd sizes), recorded in any order by concurrent
// workers; and the counts start over after reset.
func TestPartialsComplete(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1, 13, 32, 100, 4096, 4097, 5000, 16384} {
		p := newPartials(n, 1)
		for _, step := range []int{1, 14, 33, 112, 4097} {
			var ranges [][2]int
			for r0 := 0; r0 < n; r0 += step {
				ranges = append(ranges, [2]int{r0, min(r0+step, n)})
			}
			rng.Shuffle(len(ranges), func(i, j int) { ranges[i], ranges[j] = ranges[j], ranges[i] })
			recorded := make([]atomic.Bool, n)
			summed := make([]atomic.Int32, redBlocks(n))
			var bad atomic.Value
			p.reset(n)
			var wg sync.WaitGroup
			for w := range 3 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := w; i < len(ranges); i += 3 {
						r := ranges[i]
						for j := r[0]; j < r[1]; j++ {
							recorded[j].Store(true)
						}
						p.complete(n, r[0], r[1], func(b, a, z int) {
							rb := redRows(n)
							if a != b*rb || z != min(n, a+rb) {
								bad.Store(fmt.Sprintf("block %d summed as [%d,%d)", b, a, z))
							}
							for j := a; j < z; j++ {
								if !recorded[j].Load() {
									bad.Store(fmt.Sprintf("block %d summed before row %d", b, j))
								}
							}
							summed[b].Add(1)
						})
					}
				}()
			}
			wg.Wait()
			if v := bad.Load(); v != nil {
				t.Fatalf("n %d, ranges of %d: %s", n, step, v)
			}
			for b := range summed {
				if c := summed[b].Load(); c != 1 {
					t.Fatalf("n %d, ranges of %d: block %d summed %d times", n, step, b, c)
				}
			}
		}
	}
}

// The partials hold the blocks of any row count up to the one they were
// made for: 4,096 rows are 128 blocks of 32, more rows fewer, larger
// blocks (4,097 are 65 of 64), so a model planned for 4,224 rows that
// steps 4,096 needs more blocks than its own row count has.
func TestPartialsHoldFewerRows(t *testing.T) {
	for _, rows := range []int{1, 31, 100, 4095, 4096, 4097, 4224, 8192, 20000, 65537} {
		p := newPartials(rows, 1)
		for n := 1; n <= rows; n++ {
			if redBlocks(n) > len(p.done) || redBlocks(n) > len(p.buf) {
				t.Fatalf("partials for %d rows: %d blocks, %d rows need %d", rows, len(p.done), n, redBlocks(n))
			}
		}
	}
}

// A reduction wider than the partials' blocks is refused rather than
// summed over the next block's partials.
func TestPartialsRefuseOverlap(t *testing.T) {
	p := newPartials(100, 8)
	for _, c := range []struct{ off, w int }{{0, 9}, {4, 5}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("slot of %d at %d in blocks of 8: no panic", c.w, c.off)
				}
			}()
			p.at(1, c.off, c.w)
		}()
	}
	if got := len(p.at(3, 4, 4)); got != 4 {
		t.Errorf("slot of 4 at 4: %d floats", got)
	}
}

// A step over a batch of more than 2,048 tokens, whose weight gradients
// the GEMM sums in groups of tokens (asm's split-K products), gives the
// same loss and gradient bits at every thread count.
func TestLongBatchThreadsBitIdentical(t *testing.T) {
	cfg := TinyConfig(Admin, "gelu")
	cfg.DModel, cfg.DFF, cfg.SeqLen = 32, 48, 64
	cfg.Dropout = 0.1
	const batch = 41 // 2,624 tokens: two groups of 1,312
	p, _ := NewParams(cfg)
	p.Init(2)
	m, _ := New(p, batch, 7)
	toks, tgts := randTokens(batch*cfg.SeqLen, cfg.Vocab, 5), randTokens(batch*cfg.SeqLen, cfg.Vocab, 6)
	var l0 float64
	var g0 []float32
	for _, th := range []int{1, 2, 3, 4} {
		pool := asm.NewPool(th)
		m.SetPool(pool)
		p.ZeroGrad(pool)
		m.SetDraws(5)
		l, _ := m.Forward(toks, tgts, batch, cfg.SeqLen, true)
		m.Backward()
		pool.Close()
		if th == 1 {
			l0, g0 = l, append([]float32(nil), p.G...)
			continue
		}
		if l != l0 {
			t.Errorf("loss %v at %d threads, %v at 1", l, th, l0)
		}
		for i := range g0 {
			if math.Float32bits(p.G[i]) != math.Float32bits(g0[i]) {
				t.Fatalf("gradient %d is %v at %d threads, %v at 1", i, p.G[i], th, g0[i])
			}
		}
	}
}

// A model planned for more than 4,096 rows steps a smaller batch, whose
// reductions have more (smaller) blocks than the planned rows' own: a
// translation batch under --max-tokens 6000 had crashed the trainer
// (its partials were sized for the planned rows' 94 blocks).
func TestSmallerBatchThanPlanned(t *testing.T) {
	cfg := TinyConfig(Admin, "relu")
	cfg.DModel, cfg.DFF, cfg.SeqLen = 16, 24, 64
	p, _ := NewParams(cfg)
	p.Init(2)
	m, _ := New(p, 66, 7) // 4,224 rows: 66 blocks of 64
	pool := asm.NewPool(2)
	defer pool.Close()
	m.SetPool(pool)
	const batch = 40 // 2,560 rows: 80 blocks of 32
	toks, tgts := randTokens(batch*cfg.SeqLen, cfg.Vocab, 5), randTokens(batch*cfg.SeqLen, cfg.Vocab, 6)
	l, err := m.Forward(toks, tgts, batch, cfg.SeqLen, true)
	if err != nil || math.IsNaN(l) {
		t.Fatalf("loss %v, %v", l, err)
	}
	m.Backward()
}
