// Package limits holds what a request to clinic may ask for: the usage
// error (bad input on the command line, exit status 2), the bounds of
// the size flags, and the memory check that refuses work which cannot
// fit before anything is allocated. The CLI, the trainer's tasks and the
// experiments share it, so a refusal reads the same wherever it comes
// from.
package limits

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"runtime"
	"strconv"
	"strings"

	"github.com/clinic-ml/clinic/internal/checked"
	"github.com/clinic-ml/clinic/internal/fileutil"
	"github.com/clinic-ml/clinic/model"
)

// UsageError is bad input in what was asked (a flag, a size, a model
// that cannot fit): the CLI exits with status 2 on it.
type UsageError struct{ Msg string }

func (e UsageError) Error() string { return e.Msg }

// Usagef returns a UsageError.
func Usagef(format string, a ...any) error { return UsageError{fmt.Sprintf(format, a...)} }

// maxThreadsPerCPU bounds --threads: more workers than a few per CPU only
// adds switching (and a typo like --threads 10000 would start that many).
const maxThreadsPerCPU = 4

// CheckThreads validates a --threads value: 0 (one per CPU) up to a few
// per CPU.
func CheckThreads(n int) error {
	if limit := maxThreadsPerCPU * runtime.NumCPU(); n < 0 || n > limit {
		return Usagef("--threads must be between 0 (one per CPU) and %d (%d per CPU), got %d", limit, maxThreadsPerCPU, n)
	}
	return nil
}

// procField is the value of the first "key: value" line of a /proc file
// whose key is key ("" where the file or line is missing).
func procField(path, key string) string {
	b, err := fileutil.ReadRegular(path, 1<<22)
	if err != nil {
		return ""
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// CPUName is the CPU's model name, for reports: figures are only
// comparable on one CPU.
func CPUName() string {
	if n := procField("/proc/cpuinfo", "model name"); n != "" {
		return fmt.Sprintf("%s (%d CPUs)", n, runtime.NumCPU())
	}
	return fmt.Sprintf("%s/%s (%d CPUs)", runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
}

// MachineMemory is the machine's memory in bytes (MemTotal), 0 where
// /proc/meminfo is missing.
func MachineMemory() int64 {
	v := strings.TrimSpace(strings.TrimSuffix(procField("/proc/meminfo", "MemTotal"), "kB"))
	kb, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0
	}
	return kb << 10
}

// maxPlannedBytes is the most memory clinic plans for on any machine (1
// PiB): where the machine's memory is unknown, an estimate above it is
// still refused, so that sizes which would wrap around never reach an
// allocation.
const maxPlannedBytes = 1 << 50

// CheckFits refuses work whose planned memory (an estimate, in bytes)
// exceeds 90% of the machine's, before anything is allocated: a Go "out
// of memory" crash hours in, or the machine swapping, is worse than a
// refusal with the numbers.
func CheckFits(what string, need float64, hint string) error {
	total := MachineMemory()
	switch {
	case total > 0 && !(need <= 0.9*float64(total)):
		return Usagef("%s needs about %s of memory, this machine has %s; %s", what, gb(need), gb(float64(total)), hint)
	case !(need <= maxPlannedBytes):
		return Usagef("%s needs about %s of memory, more than clinic plans for on any machine (%s); %s", what, gb(need), gb(maxPlannedBytes), hint)
	}
	return nil
}

// Fitting is how many pieces of work of need bytes each fit, beside
// used bytes, in the memory CheckFits allows: at least 1 (the caller
// checks the first with CheckFits); any number on a machine of unknown
// memory.
func Fitting(used, need float64) int {
	total := MachineMemory()
	if total <= 0 || !(need > 0) {
		return math.MaxInt
	}
	return max(1, int(min((0.9*float64(total)-used)/need, math.MaxInt32)))
}

// Upper bounds of the size flags: far above what a run on a CPU uses,
// and low enough that the sizes formed from them (with the model's own
// bounds, model.Config.Validate) stay far inside an int. A typo or a
// hostile value is refused naming its flag (exit 2), instead of wrapping
// around past the memory check: a --beam of 2^62+1 times a batch of 4
// had planned 4 hypotheses.
const (
	MaxBeam    = 1 << 12 // --beam, --bleu-beam: hypotheses per sentence
	MaxBatch   = 1 << 20 // --batch-size: sequences or sentences at once
	MaxTokens  = 1 << 30 // --max-tokens, --max-sentences: per batch
	MaxOutLen  = 1 << 20 // --max-len-a, --max-len-b: output tokens (seq-len's own bound)
	MaxLength  = 1 << 30 // sample --length: bytes generated, held in memory
	MaxRepeats = 1 << 10 // --seeds, --avg-last: models analyzed, checkpoints averaged
)

// CheckSize refuses a size flag outside [lo, hi].
func CheckSize(name string, v, lo, hi int) error {
	switch {
	case v < lo && lo == 0:
		return Usagef("--%s must be ≥ 0, got %d", name, v)
	case v < lo:
		return Usagef("--%s must be at least %d, got %d", name, lo, v)
	case v > hi:
		return Usagef("--%s must be at most %d, got %d", name, hi, v)
	}
	return nil
}

// SizeProduct multiplies sizes that come from flags, refusing (exit 2,
// naming what) a product that does not fit in an int.
func SizeProduct(what string, factors ...int) (int, error) {
	p, ok := checked.Mul(factors...)
	if !ok {
		return 0, Usagef("%s is too large", what)
	}
	return p, nil
}

func gb(b float64) string {
	if b >= 1<<40 {
		return fmt.Sprintf("%.1f TB", b/(1<<40))
	}
	return fmt.Sprintf("%.1f GB", b/(1<<30))
}

// CheckModelFits refuses an analysis or profiling run of base at the
// deepest of depths (its parameters, their gradients and the buffers of
// batch sequences) that cannot fit.
func CheckModelFits(what string, base model.Config, depths []int, batch int) error {
	c := base
	for _, d := range depths {
		c.Layers = max(c.Layers, d)
	}
	rows, err := SizeProduct("--batch-size × --seq-len", batch, c.SeqLen)
	if err != nil {
		return err
	}
	need := 4*2*float64(c.ParamCount()) + model.ModelBytes(c, rows)
	return CheckFits(what, need, "make the model, --batch-size or --seq-len smaller")
}
