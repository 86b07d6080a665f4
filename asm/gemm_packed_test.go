package asm

import (
	"fmt"
	"testing"
)

// TestSgemmPacked checks SgemmPacked and SgemmPackedBias at every CPU
// level and thread counts 1–3 against Sgemm on the reference problems
// (every layout, odd sizes, sizes past the blocking): the bits of C, its
// padding and the guards around every buffer must be Sgemm's, and B must
// be unchanged by packing.
func TestSgemmPacked(t *testing.T) {
	probs := refGemmProblems(testing.Short())
	for _, level := range SupportedLevels() {
		withLevel(t, level, func() {
			for _, p := range probs {
				b0 := p.b.clone()
				pb := PackB(p.tb, p.k, p.n, p.b.s(), p.ldb)
				if !bitsEqual(p.b.full, b0.full) {
					t.Fatalf("%s %v: PackB changed B", level, p)
				}
				if pb.K() != p.k || pb.N() != p.n {
					t.Fatalf("%s %v: packed %d×%d", level, p, pb.K(), pb.N())
				}
				bias := randGuarded(newRand(uint64(p.n)), p.n, -1, 1)
				for th := 1; th <= 3; th++ {
					withThreads(t, th, func(pool *Pool) {
						for _, ab := range scalarsFor(p) {
							label := fmt.Sprintf("%s threads=%d %v alpha=%v beta=%v", level, th, p, ab.alpha, ab.beta)
							want := p.run(Sgemm, ab.alpha, ab.beta)
							got := p.initC(ab.beta)
							pool.SgemmPacked(p.ta, p.m, ab.alpha, p.a.s(), p.lda, pb, ab.beta, got.s(), p.ldc)
							if d := firstBitDiff(got.full, want.full); d >= 0 {
								t.Errorf("%s: element %d = %v, Sgemm gives %v", label, d-guardLen, got.full[d], want.full[d])
							}
						}
						// With a bias: BroadcastRows then Sgemm(beta = 1).
						label := fmt.Sprintf("%s threads=%d %v bias", level, th, p)
						want := p.c0.clone()
						for i := 0; i < p.m && p.n > 0; i++ {
							copy(want.s()[i*p.ldc:i*p.ldc+p.n], bias.s())
						}
						if p.m > 0 && p.n > 0 {
							Sgemm(p.ta, p.tb, p.m, p.n, p.k, 1, p.a.s(), p.lda, p.b.s(), p.ldb, 1, want.s(), p.ldc)
						}
						got := p.initC(0) // NaN where C is written: the bias must replace it
						pool.SgemmPackedBias(p.ta, p.m, p.a.s(), p.lda, pb, bias.s(), got.s(), p.ldc)
						if d := firstBitDiff(got.full, want.full); d >= 0 {
							t.Errorf("%s: element %d = %v, BroadcastRows+Sgemm gives %v", label, d-guardLen, got.full[d], want.full[d])
						}
						checkGuards(t, label, bias, p.a, p.b)
					})
				}
			}
		})
	}
}

// TestSgemmPackedDecoderShapes runs the shapes beam search uses (few
// rows, weight-sized B, k past kc) on pools of 2, 5 and 16 threads,
// where column, row and grid splits are taken, against the float64
// reference and bit for bit against one thread.
func TestSgemmPackedDecoderShapes(t *testing.T) {
	for _, sh := range [][3]int{{160, 768, 256}, {160, 256, 1024}, {5, 8003, 256}, {37, 256, 1024}, {321, 256, 300}, {1, 40, 2100}, {70, 100, 64}} {
		p := newRefGemm(uint64(sh[0]*7+sh[1]), false, true, sh[0], sh[1], sh[2], 3)
		for _, level := range SupportedLevels() {
			withLevel(t, level, func() {
				pb := PackB(true, p.k, p.n, p.b.s(), p.ldb)
				one := p.initC(0)
				SgemmPacked(false, p.m, 1, p.a.s(), p.lda, pb, 0, one.s(), p.ldc)
				for _, th := range []int{2, 5, 16} {
					withThreads(t, th, func(pool *Pool) {
						c := p.initC(0)
						pool.SgemmPacked(false, p.m, 1, p.a.s(), p.lda, pb, 0, c.s(), p.ldc)
						label := fmt.Sprintf("%s threads=%d %v", level, th, p)
						p.check(t, label, c, 1, 0)
						if d := firstBitDiff(c.full, one.full); d >= 0 {
							t.Errorf("%s: element %d = %v, one thread gives %v", label, d-guardLen, c.full[d], one.full[d])
						}
					})
				}
			})
		}
	}
}

// gemmGrid never uses more chunks than workers or more groups than
// tiles, and its largest chunk is never larger than under the split it
// replaced (whole column panels when there were at least 2 per worker
// or as many as row tiles, else rows).
func TestGemmGrid(t *testing.T) {
	for rt := 1; rt <= 40; rt++ {
		for ct := 1; ct <= 40; ct++ {
			for w := 1; w <= 20; w++ {
				r, c := gemmGrid(rt, ct, w)
				if r < 1 || c < 1 || r > rt || c > ct || r*c > w {
					t.Fatalf("gemmGrid(%d, %d, %d) = %d × %d", rt, ct, w, r, c)
				}
				before := ceilDiv(rt, min(rt, w)) * ct
				if ct >= 2*w || ct >= rt {
					before = rt * ceilDiv(ct, min(ct, w))
				}
				if got := ceilDiv(rt, r) * ceilDiv(ct, c); got > before {
					t.Errorf("gemmGrid(%d, %d, %d) = %d × %d: largest chunk %d tiles, %d before", rt, ct, w, r, c, got, before)
				}
			}
		}
	}
	// the decoding step that motivated it: 12 × 8 tiles on 16 workers
	if r, c := gemmGrid(12, 8, 16); ceilDiv(12, r)*ceilDiv(8, c) > 6 {
		t.Errorf("gemmGrid(12, 8, 16) = %d × %d", r, c)
	}
}

// TestSgemmPackedLevelMismatch: an operand packed at one level is
// refused at another rather than read in the wrong layout.
func TestSgemmPackedLevelMismatch(t *testing.T) {
	levels := SupportedLevels()
	if len(levels) < 2 {
		t.Skip("one CPU level only")
	}
	b := make([]float32, 64*64)
	var pb *PackedB
	withLevel(t, levels[0], func() { pb = PackB(false, 64, 64, b, 64) })
	withLevel(t, levels[len(levels)-1], func() {
		defer func() {
			if recover() == nil {
				t.Errorf("packed at %s, used at %s: no panic", levels[0], levels[len(levels)-1])
			}
		}()
		c := make([]float32, 64*64)
		SgemmPacked(false, 64, 1, b, 64, pb, 0, c, 64)
	})
}

// BenchmarkSgemmPacked compares Sgemm, which packs the weights at every
// call, with SgemmPacked on the decoder's products during beam search
// (160 hypothesis rows times a d256 model's weight matrices, op(B) = Wᵀ),
// in the same run, on 2 threads.
func BenchmarkSgemmPacked(b *testing.B) {
	for _, sh := range [][3]int{{160, 768, 256}, {160, 1024, 256}, {160, 256, 1024}, {160, 8357, 256}} {
		m, n, k := sh[0], sh[1], sh[2]
		r := newRand(uint64(n))
		a, w, c := randSlice(r, m*k, -1, 1), randSlice(r, n*k, -1, 1), make([]float32, m*n)
		pb := PackB(true, k, n, w, k)
		for _, packed := range []bool{false, true} {
			name := fmt.Sprintf("m%d_n%d_k%d/packed=%v", m, n, k, packed)
			b.Run(name, func(b *testing.B) {
				pool := NewPool(2)
				defer pool.Close()
				for b.Loop() {
					if packed {
						pool.SgemmPacked(false, m, 1, a, k, pb, 0, c, n)
					} else {
						pool.Sgemm(false, true, m, n, k, 1, a, k, w, k, 0, c, n)
					}
				}
				b.ReportMetric(2*float64(m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
