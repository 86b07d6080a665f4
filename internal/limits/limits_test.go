package limits

import (
	"errors"
	"math"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// Every refusal is a UsageError (exit 2) naming what was refused; what
// is in bounds passes.
func TestLimits(t *testing.T) {
	usage := func(err error, want string) {
		t.Helper()
		var ue UsageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want a usage error containing %q", err, want)
		}
	}
	limit := maxThreadsPerCPU * runtime.NumCPU()
	for _, n := range []int{0, 1, limit} {
		if err := CheckThreads(n); err != nil {
			t.Errorf("CheckThreads(%d): %v", n, err)
		}
	}
	usage(CheckThreads(-1), "--threads must be between 0")
	usage(CheckThreads(limit+1), "got "+strconv.Itoa(limit+1))

	if err := CheckSize("beam", 5, 1, MaxBeam); err != nil {
		t.Error(err)
	}
	usage(CheckSize("beam", 0, 1, MaxBeam), "--beam must be at least 1, got 0")
	usage(CheckSize("eval-every", -3, 0, 10), "--eval-every must be ≥ 0, got -3")
	usage(CheckSize("beam", MaxBeam+1, 1, MaxBeam), "--beam must be at most")

	if p, err := SizeProduct("a × b", 1<<20, 1<<20); err != nil || p != 1<<40 {
		t.Errorf("SizeProduct: %d, %v", p, err)
	}
	_, err := SizeProduct("--beam × --batch-size", math.MaxInt/2+1, 2)
	usage(err, "--beam × --batch-size is too large")

	if err := CheckFits("a tiny run", 1<<20, "hint"); err != nil {
		t.Errorf("1 MiB refused: %v", err)
	}
	usage(CheckFits("a huge run", 1<<60, "use less"), "a huge run needs about")
	usage(CheckFits("a NaN estimate", math.NaN(), "use less"), "a NaN estimate needs about")
}

// Fitting counts what fits in 90% of the machine's memory beside what
// is used, at least one.
func TestFitting(t *testing.T) {
	if n := Fitting(0, 0); n != math.MaxInt {
		t.Errorf("Fitting(0, 0) = %d, want no bound", n)
	}
	total := float64(MachineMemory())
	if total <= 0 {
		t.Skip("the machine's memory is unknown")
	}
	for _, c := range []struct {
		used, need float64
		want       int
	}{
		{0, total / 10.5, 9},
		{0.45 * total, total / 10, 4},
		{0, 2 * total, 1},
		{total, 1, 1},
	} {
		if n := Fitting(c.used, c.need); n != c.want {
			t.Errorf("Fitting(%.2f, %.2f of the memory) = %d, want %d", c.used/total, c.need/total, n, c.want)
		}
	}
}
