package experiment

import (
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/clinic-ml/clinic/internal/limits"
	"github.com/clinic-ml/clinic/internal/workload"
	"github.com/clinic-ml/clinic/model"
)

// ParseNorms reads a comma-separated list of variants.
func ParseNorms(flag, s string) ([]string, error) {
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			return nil, limits.Usagef("--%s: empty entry in %q (want a comma-separated list of %s)", flag, s, strings.Join(model.Norms, ", "))
		}
		if !slices.Contains(model.Norms, f) {
			return nil, limits.Usagef("--%s: unknown norm %q (want %s)", flag, f, model.NormList)
		}
		if slices.Contains(out, f) {
			return nil, limits.Usagef("--%s lists %s twice", flag, f)
		}
		out = append(out, f)
	}
	return out, nil
}

// ParseDepths reads a comma-separated list of layer counts, sorted.
func ParseDepths(flag, s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			return nil, limits.Usagef("--%s: empty entry in %q (want a comma-separated list of layer counts)", flag, s)
		}
		v, err := strconv.Atoi(f)
		if err != nil {
			return nil, limits.Usagef("--%s: %q is not a whole number", flag, f)
		}
		if v < 1 {
			return nil, limits.Usagef("--%s: depth must be at least 1, got %d", flag, v)
		}
		if slices.Contains(out, v) {
			return nil, limits.Usagef("--%s lists %d twice", flag, v)
		}
		out = append(out, v)
	}
	slices.Sort(out)
	return out, nil
}

// CheckDepths validates base at every depth and norm before any work
// starts.
func CheckDepths(base model.Config, depths []int, norms []string) error {
	for _, d := range depths {
		for _, n := range norms {
			c := base
			c.Layers, c.Norm = d, n
			if err := c.Validate(); err != nil {
				return limits.Usagef("%d layers: %v", d, err)
			}
		}
	}
	return nil
}

// ParseMeasured reads --measured: "L6_d256:2=1.6,4=2.8;T6_d256:16=5.8".
func ParseMeasured(s string) (map[string]map[int]float64, error) {
	out := map[string]map[int]float64{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for _, part := range strings.Split(s, ";") {
		name, pts, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok || !slices.Contains(workload.AllNames(), name) {
			return nil, limits.Usagef("--measured: %q is not WORKLOAD:P=S,... with a known workload", part)
		}
		out[name] = map[int]float64{}
		for _, pt := range strings.Split(pts, ",") {
			ps, vs, ok := strings.Cut(strings.TrimSpace(pt), "=")
			p, err1 := strconv.Atoi(ps)
			v, err2 := strconv.ParseFloat(vs, 64)
			if !ok || err1 != nil || err2 != nil || p < 1 || !(v > 0) || math.IsInf(v, 0) {
				return nil, limits.Usagef("--measured: %q is not THREADS=SPEEDUP", pt)
			}
			out[name][p] = v
		}
	}
	return out, nil
}
