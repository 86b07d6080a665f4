package train

import (
	"cmp"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/clinic-ml/clinic/asm"
	"github.com/clinic-ml/clinic/internal/limits"
)

// The values of --precision: fp32, bf16 mixed precision (model.Config.BF16),
// or auto, bf16 where the CPU's probe says it pays (asm.Peaks.BF16Pays).
const (
	FP32 = "fp32"
	BF16 = "bf16"
	Auto = "auto"
)

// PeaksEnv names the environment variable that replaces the peak probe's
// measurement, "fma:233,bf16:476" (GFLOP/s per core; bf16:0 is a CPU
// without AVX512-BF16): --precision auto and 'clinic version' then act
// as on a CPU with those peaks.
const PeaksEnv = "CLINIC_PEAKS"

// probeTime is how long each peak probe runs: long enough for a stable
// best rate, short beside a run's start.
const probeTime = 30 * time.Millisecond

// CheckPrecision refuses a --precision value other than fp32, bf16 or
// auto, and a malformed CLINIC_PEAKS (usage errors).
func CheckPrecision(p string) error {
	switch p {
	case FP32, BF16, Auto:
	default:
		return limits.Usagef("--precision must be fp32, bf16 or auto, got %q", p)
	}
	_, _, err := envPeaks()
	return err
}

// Peaks returns the CPU's FMA and bf16 peaks per core: CLINIC_PEAKS's if
// set (forced is true), else measured by the probes.
func Peaks() (p asm.Peaks, forced bool, err error) {
	if p, forced, err = envPeaks(); forced || err != nil {
		return p, forced, err
	}
	return asm.MeasurePeaks(probeTime), false, nil
}

// envPeaks parses CLINIC_PEAKS; forced is false when it is unset.
func envPeaks() (p asm.Peaks, forced bool, err error) {
	s, ok := os.LookupEnv(PeaksEnv)
	if !ok {
		return p, false, nil
	}
	bad := limits.Usagef("%s=%q: want fma:GFLOPS,bf16:GFLOPS (each a number ≥ 0), e.g. fma:233,bf16:476", PeaksEnv, s)
	seen := map[string]bool{}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), ":")
		x, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if !ok || err != nil || !(x >= 0) || x > 1e9 || seen[k] {
			return p, false, bad
		}
		seen[k] = true
		switch k {
		case "fma":
			p.FMA = x
		case "bf16":
			p.BF16 = x
		default:
			return p, false, bad
		}
	}
	if !seen["fma"] || !seen["bf16"] {
		return p, false, bad
	}
	return p, true, nil
}

// AutoPrecision is what --precision auto picks on peaks p, and why.
func AutoPrecision(p asm.Peaks, forced bool) (string, string) {
	pays, why := p.BF16Pays()
	if forced {
		why += " (" + PeaksEnv + ")"
	}
	if pays {
		return BF16, why
	}
	return FP32, why
}

// ChoosePrecision resolves the job's --precision (j.Precision) to fp32
// or bf16, sets j.Model.BF16 to match, and prints the run's first line on
// w (rank 0): the precision, the layer code and why. A run resumed
// without --precision (keep) keeps its own, saved (the flag's value in
// its trainer state): fp32 when it was saved before --precision existed.
// Rank 0 chooses (auto runs its probe) and every rank of a data-parallel
// job takes its choice: the ranks' steps must compute alike.
func (j *Job) ChoosePrecision(keep bool, saved string, w io.Writer) error {
	var choice, why string
	var err error
	switch {
	case !j.Rank0():
	case keep:
		choice, _, err = choosePrecision(cmp.Or(saved, FP32))
		why = "the resumed run's"
	default:
		choice, why, err = choosePrecision(j.Precision)
	}
	if j.Ranks() > 1 {
		var b []byte
		if b, err = FromRank0(j.Comm, []byte(choice+"\n"+why), err); err != nil {
			return fmt.Errorf("--precision: %v", err)
		}
		choice, why, _ = strings.Cut(string(b), "\n")
	}
	if err != nil {
		return err
	}
	j.Precision, j.Model.BF16 = choice, choice == BF16
	if j.Rank0() {
		cfg := j.Model
		cfg.Generic = !j.Specialized
		fmt.Fprintf(w, "clinic: precision %s with %s; %s\n", choice, LayerCode(cfg), why)
	}
	return nil
}

// VersionLine is 'clinic version”s line on precision: the paths, both
// peaks and what --precision auto picks.
func VersionLine() (string, error) {
	p, forced, err := Peaks()
	if err != nil {
		return "", err
	}
	auto, why := AutoPrecision(p, forced)
	return fmt.Sprintf("precision: fp32 or bf16 (%s); peaks per core: FMA %.0f, bf16 %.0f GFLOP/s; --precision auto picks %s: %s",
		asm.PrecisionPaths(), p.FMA, p.BF16, auto, why), nil
}

// choosePrecision resolves flag: fp32 and bf16 as given, auto by the
// peaks.
func choosePrecision(flag string) (string, string, error) {
	if err := CheckPrecision(flag); err != nil {
		return "", "", err
	}
	var why string
	switch flag {
	case FP32:
		return FP32, "--precision fp32", nil
	case BF16:
		why = "--precision bf16"
	default:
		p, forced, err := Peaks()
		if err != nil {
			return "", "", err
		}
		var reason string
		flag, reason = AutoPrecision(p, forced)
		why = "--precision auto: " + reason
		if flag == FP32 {
			return FP32, why, nil
		}
	}
	if asm.BF16Level() == asm.LevelGeneric {
		why += "; no AVX512-BF16 kernel at CPU level " + asm.CPULevel() + ": its GEMMs run the pure-Go twin, slowly"
	}
	return BF16, why, nil
}
