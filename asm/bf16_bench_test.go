package asm

import (
	"fmt"
	"testing"
	"time"
)

// bf16PeakGFLOPS times the VDPBF16PS probe for about d and returns the
// best single-core rate, or 0 without the instruction.
func bf16PeakGFLOPS(d time.Duration) float64 {
	if _, err := peakBF16(1000); err != nil {
		return 0
	}
	best := 0.0
	for start := time.Now(); time.Since(start) < d; {
		t0 := time.Now()
		f, _ := peakBF16(1 << 15)
		if r := float64(f) / time.Since(t0).Seconds() / 1e9; r > best {
			best = r
		}
	}
	return best
}

// BenchmarkGEMMBF16 runs SgemmBF16 and, in the same run for the ratio,
// Sgemm (fp32) on the shapes of BenchmarkGEMM. bf16-peak-frac is GFLOP/s
// over threads × the measured single-core VDPBF16PS peak.
func BenchmarkGEMMBF16(b *testing.B) {
	peak := bf16PeakGFLOPS(50 * time.Millisecond)
	b.Logf("bf16 GEMM: %s; VDPBF16PS peak %.0f GFLOP/s per core, FMA peak %.0f", BF16Level(), peak, peakGFLOPS(CPULevel()))
	for _, lay := range []string{"NN", "NT", "TN"} {
		ta, tb := lay[0] == 'T', lay[1] == 'T'
		for _, sh := range benchShapes {
			m, k, n := sh[0], sh[1], sh[2]
			for _, th := range []int{1, 2} {
				for _, prec := range []string{"bf16", "fp32"} {
					b.Run(fmt.Sprintf("%s/%dx%dx%d/threads=%d/%s", lay, m, k, n, th, prec), func(b *testing.B) {
						benchGEMMRun(b, prec == "bf16", ta, tb, m, k, n, th)
						gf := 2 * float64(m) * float64(n) * float64(k) * float64(b.N) / b.Elapsed().Seconds() / 1e9
						b.ReportMetric(gf, "GFLOP/s")
						if prec == "bf16" && peak > 0 {
							b.ReportMetric(gf/(peak*float64(th)), "bf16-peak-frac")
						}
					})
				}
			}
		}
	}
}

// BenchmarkKernelBF16 times the bf16 microkernel alone on packed panels
// in cache (one k block, 24 row panels), the driver's ceiling.
func BenchmarkKernelBF16(b *testing.B) {
	for _, l := range supported {
		kn := l.bf16
		if kn == nil {
			continue
		}
		b.Run(l.name, func(b *testing.B) {
			kc, panels := bf16KC, 24
			pa := make([]uint32, kc*kn.mr*panels)
			pb := make([]uint32, kc*kn.nr)
			for i := range pa {
				pa[i] = 0x3f803f80
			}
			for i := range pb {
				pb[i] = 0x3c003c00
			}
			c := make([]float32, kn.mr*panels*kn.nr)
			for b.Loop() {
				for i := 0; i < panels; i++ {
					kn.fn(kc, &pa[i*kc*kn.mr], &pb[0], &c[i*kn.mr*kn.nr], kn.nr, 1, 1, kn.mr, kn.nr, true)
				}
			}
			gf := 4 * float64(kc*kn.mr*kn.nr*panels) * float64(b.N) / b.Elapsed().Seconds() / 1e9
			b.ReportMetric(gf, "GFLOP/s")
			if p := bf16PeakGFLOPS(50 * time.Millisecond); p > 0 {
				b.ReportMetric(gf/p, "bf16-peak-frac")
			}
		})
	}
}

// BenchmarkBF16Pack times the packers on the step's operands: op(B) = B
// of 256×1024 and 1024×256 into 32-column panels (packPairs, a k block
// at a time as the driver does), and op(A) = A of 2048×256 rows
// (packRows); GB/s counts the fp32 values read.
func BenchmarkBF16Pack(b *testing.B) {
	kn := cur.bf16
	if kn == nil {
		b.Skip("no bf16 kernel at this level")
	}
	for _, sh := range [][2]int{{256, 1024}, {1024, 256}, {2048, 256}} {
		k, n := sh[0], sh[1]
		b.Run(fmt.Sprintf("pairs/%dx%d", k, n), func(b *testing.B) {
			src := make([]float32, k*n)
			fill(newRand(1), src, -1, 1)
			j := bf16Job{kn: kn, n: n, k: k, b: src, ldb: n, nPanels: (n + 31) / 32}
			j.bpack = make([]uint32, j.nPanels*32*bf16KC)
			for b.Loop() {
				for p0 := 0; p0 < (k+1)/2; p0 += bf16KC {
					j.p0, j.kcp = p0, min(bf16KC, (k+1)/2-p0)
					j.packB(0, j.nPanels)
				}
			}
			b.ReportMetric(float64(4*k*n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
		})
	}
	b.Run("rows/2048x256", func(b *testing.B) {
		m, k := 2048, 256
		src := make([]float32, m*k)
		fill(newRand(1), src, -1, 1)
		dst := make([]uint32, m*bf16KC)
		for b.Loop() {
			kn.rowsPack(dst, src, k, m, k, bf16KC)
		}
		b.ReportMetric(float64(4*m*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
	})
}

// BenchmarkPackBF16 times PackBF16 of a weight in both of its layouts
// (op(B) = Wᵀ for the forward GEMM, W for the backward one), once a
// step in training; GB/s counts the fp32 weights read.
func BenchmarkPackBF16(b *testing.B) {
	for _, sh := range [][2]int{{1024, 256}, {256, 1024}} {
		rows, cols := sh[0], sh[1]
		w := make([]float32, rows*cols)
		fill(newRand(1), w, -1, 1)
		for _, trans := range []bool{true, false} {
			k, n := rows, cols
			if trans {
				k, n = cols, rows
			}
			b.Run(fmt.Sprintf("W%dx%d/transB=%v", rows, cols, trans), func(b *testing.B) {
				var pb *PackedBF16
				for b.Loop() {
					pb = (*Pool)(nil).PackBF16(pb, trans, k, n, w, cols)
				}
				b.ReportMetric(float64(4*rows*cols)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
			})
		}
	}
}

// BenchmarkGEMMBF16Step runs the GEMMs of a training step of the
// 6-layer d256 language model (2,048 tokens, d_ff 1,024) as the model
// calls them, bf16 against fp32 in the same run: the forward x·Wᵀ and
// the input gradient dy·W on weights packed once (PackBF16; the fp32
// path packs inside Sgemm), the weight gradient dyᵀ·x on activations.
// Names are layer/product/precision.
func BenchmarkGEMMBF16Step(b *testing.B) {
	const n, d, ff = 2048, 256, 1024
	type prod struct {
		name    string
		transA  bool
		m, k, o int // C is m×o, the product over k
	}
	var prods []prod
	for _, w := range []struct {
		name    string
		out, in int
	}{{"qkv", 3 * d, d}, {"attnout", d, d}, {"fc1", ff, d}, {"fc2", d, ff}} {
		prods = append(prods,
			prod{w.name + "/fwd", false, n, w.in, w.out},
			prod{w.name + "/dx", false, n, w.out, w.in},
			prod{w.name + "/dw", true, w.out, n, w.in})
	}
	r := newRand(7)
	for _, th := range []int{1, 2} {
		pool := NewPool(th)
		defer pool.Close()
		for _, p := range prods {
			a := make([]float32, p.m*p.k)
			bb := make([]float32, p.k*p.o)
			c := make([]float32, p.m*p.o)
			fill(r, a, -1, 1)
			fill(r, bb, -1, 1)
			lda := p.k
			if p.transA {
				lda = p.m
			}
			for _, prec := range []string{"fp32", "bf16"} {
				b.Run(fmt.Sprintf("%s/threads=%d/%s", p.name, th, prec), func(b *testing.B) {
					weight := !p.transA
					var pb *PackedBF16
					if prec == "bf16" && weight {
						pb = pool.PackBF16(nil, false, p.k, p.o, bb, p.o)
					}
					for b.Loop() {
						switch {
						case prec == "fp32":
							pool.Sgemm(p.transA, false, p.m, p.o, p.k, 1, a, lda, bb, p.o, 1, c, p.o)
						case weight:
							pool.SgemmBF16Packed(false, p.m, 1, a, lda, pb, 1, c, p.o)
						default:
							pool.SgemmBF16(p.transA, false, p.m, p.o, p.k, 1, a, lda, bb, p.o, 1, c, p.o)
						}
					}
					b.ReportMetric(2*float64(p.m*p.o*p.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				})
			}
		}
	}
}
