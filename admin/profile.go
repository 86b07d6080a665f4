// Package admin implements Admin (adaptive model initialization, Liu et
// al. 2020): profiling the output variance of each residual sublayer to
// set ω, saving and reloading that profile, and the profiling-free
// variant of admin-torch.
package admin

import (
	"encoding/json"
	"fmt"
	"math"
	"os"

	"github.com/clinic-ml/clinic/internal/atomicfile"
	"github.com/clinic-ml/clinic/model"
)

// Format names the profile file format.
const Format = "clinic-admin-profile/1"

// Profile is one ω per residual sublayer, in forward order (layer i's
// attention is 2i, its FFN 2i+1). Saved as JSON:
//
//	{"format": "clinic-admin-profile/1", "method": "profiled",
//	 "layers": 6, "omega": [1, 1.41, ...], "config": {...},
//	 "batch": 16, "seed": 1}
type Profile struct {
	Format string        `json:"format"`
	Method string        `json:"method"` // "profiled" or "free"
	Layers int           `json:"layers"`
	Omega  []float64     `json:"omega"`
	Config *model.Config `json:"config,omitempty"`
	Batch  int           `json:"batch,omitempty"`
	Seed   uint64        `json:"seed,omitempty"`
}

// profileDraw is the dropout draw profiling uses: far from any draw a
// training run reaches, so that training after profiling sees the same
// masks as training from a saved profile.
const profileDraw = 1 << 63

// Run profiles m's parameters on one batch, as the reference code does:
// one forward pass in training mode (dropout on) that walks the
// sublayers in order with a running scalar ratio, starting at 1; sublayer
// k's ω is filled with ratio, then
//
//	ratio = sqrt(Var[ω_k⊙x_k] + Var[Drop(F_k(x_k))])
//
// with population variances over every element of the batch. The ω
// values are left in m.P and returned as the profile. m's dropout stream
// is left where it was.
func Run(m *model.Model, tokens []int32, bsz, t int, seed uint64) (*Profile, error) {
	cfg := m.Cfg
	if cfg.Norm != model.Admin {
		return nil, fmt.Errorf("profiling needs norm admin, model is %s", cfg.Norm)
	}
	ratio := 1.0
	var om []float64
	hook, draws := m.SublayerHook, m.Draws()
	defer func() { m.SublayerHook = hook; m.SetDraws(draws) }()
	m.SetDraws(profileDraw)
	m.SublayerHook = func(k int, x, branch, omega []float32) {
		for i := range omega {
			omega[i] = float32(ratio)
		}
		om = append(om, ratio)
		ratio = math.Sqrt(variance(x, omega) + variance(branch, nil))
	}
	if _, err := m.Forward(tokens, nil, bsz, t, true); err != nil {
		return nil, err
	}
	for k, v := range om {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("admin profiling produced a non-finite ω at sublayer %d", k)
		}
	}
	return &Profile{Format: Format, Method: "profiled", Layers: cfg.Layers, Omega: om, Config: &cfg, Batch: bsz, Seed: seed}, nil
}

// variance is the population variance of w⊙x (w per column, nil = 1),
// in float64.
func variance(x, w []float32) float64 {
	d := len(w)
	at := func(i int) float64 {
		if w == nil {
			return float64(x[i])
		}
		return float64(w[i%d]) * float64(x[i])
	}
	var s float64
	for i := range x {
		s += at(i)
	}
	mu := s / float64(len(x))
	var q float64
	for i := range x {
		u := at(i) - mu
		q += u * u
	}
	return q / float64(len(x))
}

// FreeOmega is admin-torch's profiling-free ω for n residual sublayers,
// the O(log n) setting: sqrt((n+1)/ln(n+1) − 1).
func FreeOmega(n int) float64 {
	x := float64(n + 1)
	return math.Sqrt(x/math.Log(x) - 1)
}

// Free returns admin-torch's profiling-free profile: every ω equal to
// FreeOmega(n) for n = 2·layers sublayers.
func Free(cfg model.Config) *Profile {
	n := cfg.Sublayers()
	w := FreeOmega(n)
	om := make([]float64, n)
	for i := range om {
		om[i] = w
	}
	return &Profile{Format: Format, Method: "free", Layers: cfg.Layers, Omega: om, Config: &cfg}
}

// Apply sets the ω of p from the profile.
func (pr *Profile) Apply(p *model.Params) error {
	if pr.Layers != p.Cfg.Layers {
		return fmt.Errorf("admin profile is for %d layers, model has %d", pr.Layers, p.Cfg.Layers)
	}
	return p.SetOmegas(pr.Omega)
}

// Validate checks a loaded profile.
func (pr *Profile) Validate() error {
	if pr.Format != Format {
		return fmt.Errorf("not a clinic admin profile (format %q, want %q)", pr.Format, Format)
	}
	if pr.Layers < 1 || len(pr.Omega) != 2*pr.Layers {
		return fmt.Errorf("admin profile has %d ω values for %d layers, want %d", len(pr.Omega), pr.Layers, 2*pr.Layers)
	}
	for k, v := range pr.Omega {
		if !(v > 0) || math.IsInf(v, 0) {
			return fmt.Errorf("admin profile ω[%d] = %v is not a positive finite number", k, v)
		}
	}
	return nil
}

// Save writes the profile as JSON, atomically.
func (pr *Profile) Save(path string) error {
	b, err := json.MarshalIndent(pr, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, append(b, '\n'))
}

// Load reads and validates a profile file.
func Load(path string) (*Profile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("admin profile: %v", err)
	}
	var pr Profile
	if err := json.Unmarshal(b, &pr); err != nil {
		return nil, fmt.Errorf("admin profile %s: malformed JSON: %v", path, err)
	}
	if err := pr.Validate(); err != nil {
		return nil, fmt.Errorf("admin profile %s: %v", path, err)
	}
	return &pr, nil
}
