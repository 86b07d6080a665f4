package asm

import (
	"fmt"
	"time"
)

// BF16PaysRatio is how much faster than the FMA peak the measured
// VDPBF16PS peak must be for bf16 training to pay: the microkernel runs
// near its peak, the fp32 GEMM near the FMA peak, and the step's other
// work (packing, the fp32 elementwise passes) eats part of the gain.
// CPUs that run VDPBF16PS at half the FMA rate (measured on a Xeon
// without AMX) or not at all stay on fp32.
const BF16PaysRatio = 1.5

// Peaks are one core's measured throughput probes, in GFLOP/s: FMA at
// the current CPU level's fp32 kernel, BF16 of VDPBF16PS (0 where the
// level has no bf16 kernel).
type Peaks struct {
	FMA, BF16 float64
}

// MeasurePeaks times both probes, about d each, and keeps each one's
// best rate (a short probe interrupted by another process reads low).
func MeasurePeaks(d time.Duration) Peaks {
	var p Peaks
	if cur.gemm != nil {
		p.FMA = bestRate(d, func(iters int) int {
			cur.gemm.peak(iters)
			return iters * cur.gemm.peakFlops
		})
	}
	if cur.bf16 != nil {
		p.BF16 = bestRate(d, func(iters int) int {
			cur.bf16.peak(iters)
			return iters * cur.bf16.peakFlops
		})
	}
	return p
}

// bestRate runs probe (which does iters iterations and returns its
// flops) repeatedly for about d and returns the best GFLOP/s.
func bestRate(d time.Duration, probe func(iters int) int) float64 {
	const iters = 1 << 14 // ~25M flops: tens of µs
	probe(100)
	best := 0.0
	for start := time.Now(); time.Since(start) < d; {
		t0 := time.Now()
		f := probe(iters)
		if r := float64(f) / time.Since(t0).Seconds() / 1e9; r > best {
			best = r
		}
	}
	return best
}

// BF16Pays reports whether bf16 GEMMs pay on peaks p, and why, in a
// phrase for the user.
func (p Peaks) BF16Pays() (bool, string) {
	switch {
	case p.BF16 == 0:
		return false, "no AVX512-BF16 kernel at this CPU level"
	case p.FMA == 0:
		return true, fmt.Sprintf("VDPBF16PS %.0f GFLOP/s per core, no fp32 FMA kernel at this CPU level", p.BF16)
	}
	r := p.BF16 / p.FMA
	verdict := "≥"
	if r < BF16PaysRatio {
		verdict = "<"
	}
	return r >= BF16PaysRatio, fmt.Sprintf("VDPBF16PS peak %.0f GFLOP/s per core is %.2f× the fp32 FMA peak %.0f (%s %.1f×)", p.BF16, r, p.FMA, verdict, BF16PaysRatio)
}
