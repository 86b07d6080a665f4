package asm

import (
	"fmt"
	"math"
	"testing"
)

// TestGemmEdgeKernels checks every level's r-row kernel variants against
// the full kernel run on the same rows zero-padded to mr (with mr = r
// stores): the results must be bit-identical, as the FMA order is the
// same.
func TestGemmEdgeKernels(t *testing.T) {
	for _, l := range asmLevels() {
		kn := l.gemm
		for r := 1; r < kn.mr; r++ {
			for _, k := range []int{1, 3, 4, 37, 64} {
				for _, nr := range []int{1, kn.nr / 2, kn.nr - 1, kn.nr} {
					for _, accum := range []bool{false, true} {
						rg := newRand(uint64(r*1000 + k))
						ap := randSlice(rg, k*r, -1, 1)
						bp := randSlice(rg, k*kn.nr, -1, 1)
						pad := make([]float32, k*kn.mr)
						for p := 0; p < k; p++ {
							copy(pad[p*kn.mr:], ap[p*r:p*r+r])
						}
						ldc := kn.nr + 3
						c0 := randSlice(rg, kn.mr*ldc, -1, 1)
						want := append([]float32(nil), c0...)
						got := append([]float32(nil), c0...)
						kn.fn(k, &pad[0], &bp[0], &want[0], ldc, 0.75, 0.5, r, nr, accum)
						kn.edge[r](k, &ap[0], &bp[0], &got[0], ldc, 0.75, 0.5, r, nr, accum)
						for i := range want {
							if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
								t.Fatalf("%s edge[%d] k=%d nr=%d accum=%v: C[%d] = %v, want %v", l.name, r, k, nr, accum, i, got[i], want[i])
							}
						}
					}
				}
			}
		}
	}
}

// TestGemmPackRows checks the levels' row-dealing packers against the
// pure-Go twin (copyPanels), including the zero padding and that nothing
// outside the panels is written.
func TestGemmPackRows(t *testing.T) {
	generic := &gemmKernel{}
	for _, l := range asmLevels() {
		kn := l.gemm
		if kn.packRows == nil {
			continue
		}
		for _, w := range []int{1, 5, 6, 14, 16, 17, 32} {
			for _, kc := range []int{1, 2, 7} {
				for _, nfull := range []int{0, 1, 3} {
					for _, tail := range []int{0, 1, w / 2, w - 1} {
						if nfull == 0 && tail == 0 || tail >= w {
							continue
						}
						n := nfull*w + tail
						ld := n + 5
						panel := kc*w + 2
						rg := newRand(uint64(w*100 + kc))
						src := randSlice(rg, (kc-1)*ld+n, -1, 1)
						size := (nfull+min(tail, 1))*panel + 9
						want := make([]float32, size)
						got := make([]float32, size)
						for i := range want {
							want[i], got[i] = -7, -7
						}
						packRows(generic, want, src, ld, kc, nfull, tail, w, panel)
						packRows(kn, got, src, ld, kc, nfull, tail, w, panel)
						label := fmt.Sprintf("%s w=%d kc=%d nfull=%d tail=%d", l.name, w, kc, nfull, tail)
						for i := range want {
							if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
								t.Fatalf("%s: dst[%d] = %v, want %v", label, i, got[i], want[i])
							}
						}
					}
				}
			}
		}
	}
}

// TestGemmInPlaceMatchesPacked checks the paths that read op(A) in place
// against the packed path on the same logical problem: lda a multiple of
// 1024 floats forces packing, so the same A stored with lda = 1024 and
// lda = 1031 must give bit-identical C (the FMA order is the same).
// Shapes cover the big blocked path (m·kc past gemmDirectMaxA, mc
// blocks with an edge tile), the small direct path and n ≤ 64.
func TestGemmInPlaceMatchesPacked(t *testing.T) {
	if cur.gemm == nil || cur.gemm.directR == nil {
		t.Skip("no in-place kernels at this level")
	}
	for _, sh := range [][3]int{{701, 300, 100}, {701, 300, 40}, {100, 70, 90}, {29, 513, 33}} {
		m, k, n := sh[0], sh[1], sh[2]
		for _, tb := range []bool{false, true} {
			rg := newRand(uint64(m + k + n))
			ldb := n
			if tb {
				ldb = k
			}
			rb := k
			if tb {
				rb = n
			}
			b := randSlice(rg, rb*ldb, -1, 1)
			a0 := randSlice(rg, m*k, -1, 1)
			run := func(lda int) []float32 {
				a := make([]float32, (m-1)*lda+k)
				for i := 0; i < m; i++ {
					copy(a[i*lda:i*lda+k], a0[i*k:(i+1)*k])
				}
				c := randSlice(newRand(7), m*n, -1, 1)
				SgemmST(false, tb, m, n, k, 0.5, a, lda, b, ldb, 0.25, c, n)
				return c
			}
			want, got := run(1024), run(1031)
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%dx%dx%d transB=%v: C[%d] = %v in place, %v packed", m, k, n, tb, i, got[i], want[i])
				}
			}
		}
	}
}
