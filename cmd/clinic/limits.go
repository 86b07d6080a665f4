package main

import (
	"bufio"
	"bytes"
	"fmt"
	"runtime"
	"strconv"
	"strings"

	"github.com/clinic-ml/clinic/internal/fileutil"
	"github.com/clinic-ml/clinic/model"
)

// maxThreadsPerCPU bounds --threads: more workers than a few per CPU only
// adds switching (and a typo like --threads 10000 would start that many).
const maxThreadsPerCPU = 4

// checkThreads validates a --threads value: 0 (one per CPU) up to a few
// per CPU.
func checkThreads(n int) error {
	if limit := maxThreadsPerCPU * runtime.NumCPU(); n < 0 || n > limit {
		return usagef("--threads must be between 0 (one per CPU) and %d (%d per CPU), got %d", limit, maxThreadsPerCPU, n)
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

// cpuName is the CPU's model name, for reports: figures are only
// comparable on one CPU.
func cpuName() string {
	if n := procField("/proc/cpuinfo", "model name"); n != "" {
		return fmt.Sprintf("%s (%d CPUs)", n, runtime.NumCPU())
	}
	return fmt.Sprintf("%s/%s (%d CPUs)", runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
}

// machineMemory is the machine's memory in bytes (MemTotal), 0 where
// /proc/meminfo is missing.
func machineMemory() int64 {
	v := strings.TrimSpace(strings.TrimSuffix(procField("/proc/meminfo", "MemTotal"), "kB"))
	kb, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0
	}
	return kb << 10
}

// checkFits refuses work whose planned memory (an estimate, in bytes)
// exceeds 90% of the machine's, before anything is allocated: a Go "out
// of memory" crash hours in, or the machine swapping, is worse than a
// refusal with the numbers.
func checkFits(what string, need float64, hint string) error {
	total := machineMemory()
	if total > 0 && need > 0.9*float64(total) {
		return usagef("%s needs about %s of memory, this machine has %s; %s", what, gb(need), gb(float64(total)), hint)
	}
	return nil
}

func gb(b float64) string {
	if b >= 1<<40 {
		return fmt.Sprintf("%.1f TB", b/(1<<40))
	}
	return fmt.Sprintf("%.1f GB", b/(1<<30))
}

// checkModelFits refuses an analysis or profiling run of base at the
// deepest of depths (its parameters, their gradients and the buffers of
// batch sequences) that cannot fit.
func checkModelFits(what string, base model.Config, depths []int, batch int) error {
	c := base
	for _, d := range depths {
		c.Layers = max(c.Layers, d)
	}
	need := 4*2*float64(c.ParamCount()) + model.ModelBytes(c, batch*c.SeqLen)
	return checkFits(what, need, "make the model, --batch-size or --seq-len smaller")
}
