package asm

import (
	"fmt"
	"os"
	"strings"
)

// CPU levels, best first. LevelGeneric (the pure-Go twins) is always
// supported.
const (
	LevelAVX512  = "avx512"
	LevelAVX2    = "avx2"
	LevelGeneric = "generic"
)

// A level is one CPU level's implementation of every kernel: its SGEMM
// kernel and its element-wise kernels. The assembly levels are defined,
// with the CPU features each requires, in cpu_amd64.go.
type level struct {
	name string
	// gemm is the level's blocked SGEMM kernel; nil runs the pure-Go
	// twin sgemmGeneric.
	gemm *gemmKernel
	// bf16 is the level's bf16 GEMM (SgemmBF16); nil runs the pure-Go
	// twin sgemmBF16Generic.
	bf16 *bf16Kernel
	// elementwise holds the level's non-GEMM kernels; a nil entry runs
	// the pure-Go twin.
	elementwise
}

// genericLevel runs only the pure-Go twins.
var genericLevel = &level{name: LevelGeneric}

var (
	// supported lists the levels this CPU and build can run, best first,
	// generic last. It is fixed at start-up.
	supported = append(asmLevels(), genericLevel)

	// cur is the level in use: the best supported one, or CLINIC_CPU's.
	// Only SetCPULevel changes it.
	cur = startLevel()
)

// startLevel picks the level at start-up: the best supported, unless the
// environment variable CLINIC_CPU names another supported level. A
// request that cannot be honoured is reported once on stderr.
func startLevel() *level {
	best := supported[0]
	want := os.Getenv("CLINIC_CPU")
	if want == "" {
		return best
	}
	l, err := findLevel(want)
	if err != nil {
		fmt.Fprintf(os.Stderr, "clinic/asm: CLINIC_CPU=%s ignored (%v); using %s\n", want, err, best.name)
		return best
	}
	return l
}

// findLevel returns the supported level of that name.
func findLevel(name string) (*level, error) {
	name = strings.ToLower(strings.TrimSpace(name))
	for _, l := range supported {
		if l.name == name {
			return l, nil
		}
	}
	switch name {
	case LevelAVX512, LevelAVX2:
		return nil, fmt.Errorf("cpu level %q not supported by this CPU or build", name)
	}
	return nil, fmt.Errorf("unknown cpu level %q (want avx512, avx2 or generic)", name)
}

// CPULevel reports the kernel level in use: "avx512", "avx2" or
// "generic". At start-up it is the best the CPU supports, or lower if
// the environment variable CLINIC_CPU names a lower supported level.
func CPULevel() string { return cur.name }

// SupportedLevels lists the levels this CPU and build can run, best
// first; the last is always "generic".
func SupportedLevels() []string {
	var ls []string
	for _, l := range supported {
		ls = append(ls, l.name)
	}
	return ls
}

// SetCPULevel selects the kernel level, for tests and benchmarks. It
// returns an error, changing nothing, if the level is unknown or not
// supported here. It is not safe to call while kernels are running.
func SetCPULevel(name string) error {
	l, err := findLevel(name)
	if err != nil {
		return err
	}
	cur = l
	return nil
}

// peakFMA runs the FMA throughput probe of level ("avx512" or "avx2"):
// iters iterations of independent vfmadd231ps chains, enough to keep
// both FMA ports busy. It returns the floating-point operations done,
// so flops/seconds is the core's measured peak. It fails for "generic"
// or a level this CPU lacks.
func peakFMA(name string, iters int) (flops int, err error) {
	for _, l := range supported {
		if l.name == name && l.gemm != nil {
			l.gemm.peak(iters)
			return iters * l.gemm.peakFlops, nil
		}
	}
	return 0, fmt.Errorf("no FMA probe for cpu level %q here", name)
}
