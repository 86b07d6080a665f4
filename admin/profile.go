// Package admin implements Admin (adaptive model initialization, Liu et
// al. 2020): profiling the output variance of each residual sublayer to
// set ω, saving and reloading that profile, and the profiling-free
// variant of admin-torch.
package admin

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/clinic-ml/clinic/internal/atomicfile"
	"github.com/clinic-ml/clinic/internal/fileutil"
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
//
// An encoder–decoder's profile also holds the encoder's ω (two per
// layer) under "encoder_layers" and "encoder_omega"; its "omega" is the
// decoder's, three per layer (self-attention 3i, cross-attention 3i+1,
// FFN 3i+2).
type Profile struct {
	Format        string        `json:"format"`
	Method        string        `json:"method"` // "profiled" or "free"
	Layers        int           `json:"layers"`
	Omega         []float64     `json:"omega"`
	EncoderLayers int           `json:"encoder_layers,omitempty"`
	EncoderOmega  []float64     `json:"encoder_omega,omitempty"`
	Config        *model.Config `json:"config,omitempty"`
	Batch         int           `json:"batch,omitempty"`
	Seed          uint64        `json:"seed,omitempty"`
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
	if !cfg.HasOmega() {
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
	if err := finite(om, ""); err != nil {
		return nil, err
	}
	return &Profile{Format: Format, Method: "profiled", Layers: cfg.Layers, Omega: om, Config: &cfg, Batch: bsz, Seed: seed}, nil
}

func finite(om []float64, stack string) error {
	for k, v := range om {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("admin profiling produced a non-finite ω at %ssublayer %d", stack, k)
		}
	}
	return nil
}

// RunSeq2Seq profiles an encoder–decoder on one batch, as the reference
// does: the encoder and the decoder each keep their own running ratio,
// starting at 1 from their embedding, and every decoder layer has three
// sublayers. The variances are taken over the real tokens only, so that
// padding does not change the profile (the reference takes them over the
// padded tensor; the two agree on a batch without padding).
func RunSeq2Seq(m *model.Seq2Seq, b *model.Pair, seed uint64) (*Profile, error) {
	cfg := m.Cfg
	if !cfg.HasOmega() {
		return nil, fmt.Errorf("profiling needs norm admin, model is %s", cfg.Norm)
	}
	var encOm, decOm []float64
	hook := func(encoder bool, om *[]float64) func(k int, x, branch, omega []float32) {
		ratio := 1.0
		return func(k int, x, branch, omega []float32) {
			for i := range omega {
				omega[i] = float32(ratio)
			}
			*om = append(*om, ratio)
			bsz, t, lens := m.RowsOf(encoder)
			rows := validRows(bsz, t, lens)
			ratio = math.Sqrt(varianceRows(x, omega, cfg.DModel, rows) + varianceRows(branch, nil, cfg.DModel, rows))
		}
	}
	eh, dh, draws := m.EncoderHooks.SublayerHook, m.DecoderHooks.SublayerHook, m.Draws()
	defer func() {
		m.EncoderHooks.SublayerHook, m.DecoderHooks.SublayerHook = eh, dh
		m.SetDraws(draws)
	}()
	m.SetDraws(profileDraw)
	m.EncoderHooks.SublayerHook = hook(true, &encOm)
	m.DecoderHooks.SublayerHook = hook(false, &decOm)
	nb := *b
	nb.TgtOut = nil
	if _, _, err := m.Forward(&nb, true); err != nil {
		return nil, err
	}
	if err := finite(encOm, "encoder "); err != nil {
		return nil, err
	}
	if err := finite(decOm, "decoder "); err != nil {
		return nil, err
	}
	return &Profile{Format: Format, Method: "profiled", Layers: cfg.Layers, Omega: decOm,
		EncoderLayers: cfg.EncoderLayers, EncoderOmega: encOm, Config: &cfg, Batch: b.Bsz, Seed: seed}, nil
}

// validRows lists the rows of a [bsz, t] batch inside each sequence's
// valid length (all rows when lens is nil).
func validRows(bsz, t int, lens []int32) []int {
	var rows []int
	for i := 0; i < bsz; i++ {
		n := t
		if lens != nil {
			n = int(lens[i])
		}
		for j := 0; j < n; j++ {
			rows = append(rows, i*t+j)
		}
	}
	return rows
}

// varianceRows is the population variance of w⊙x (w per column, nil =
// 1) over the listed rows of width d only, in float64.
func varianceRows(x, w []float32, d int, rows []int) float64 {
	at := func(r, j int) float64 {
		v := float64(x[r*d+j])
		if w != nil {
			v *= float64(w[j])
		}
		return v
	}
	var s float64
	for _, r := range rows {
		for j := 0; j < d; j++ {
			s += at(r, j)
		}
	}
	cnt := float64(len(rows) * d)
	mu := s / cnt
	var q float64
	for _, r := range rows {
		for j := 0; j < d; j++ {
			u := at(r, j) - mu
			q += u * u
		}
	}
	return q / cnt
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

// Free returns admin-torch's profiling-free profile: every ω of a stack
// equal to FreeOmega(n) for its n sublayers.
func Free(cfg model.Config) *Profile {
	fill := func(n int) []float64 {
		om := make([]float64, n)
		for i := range om {
			om[i] = FreeOmega(n)
		}
		return om
	}
	pr := &Profile{Format: Format, Method: "free", Layers: cfg.Layers, Omega: fill(cfg.Sublayers()), Config: &cfg}
	if cfg.EncoderLayers > 0 {
		pr.EncoderLayers, pr.EncoderOmega = cfg.EncoderLayers, fill(cfg.EncoderSublayers())
	}
	return pr
}

// Apply checks the profile (Validate) and that it fits p's layers and
// encoder layers, then sets the ω of p from it.
func (pr *Profile) Apply(p *model.Params) error {
	if err := pr.Validate(); err != nil {
		return err
	}
	if pr.Layers != p.Cfg.Layers || pr.EncoderLayers != p.Cfg.EncoderLayers {
		return fmt.Errorf("admin profile is for %s, model has %s", layersText(pr.EncoderLayers, pr.Layers), layersText(p.Cfg.EncoderLayers, p.Cfg.Layers))
	}
	if err := p.SetOmegas(p.Omegas(), pr.Omega); err != nil {
		return err
	}
	return p.SetOmegas(p.EncoderOmegas(), pr.EncoderOmega)
}

func layersText(enc, dec int) string {
	if enc > 0 {
		return fmt.Sprintf("%d encoder and %d decoder layers", enc, dec)
	}
	return fmt.Sprintf("%d layers", dec)
}

// Validate checks a loaded profile.
func (pr *Profile) Validate() error {
	if pr.Format != Format {
		return fmt.Errorf("not a clinic admin profile (format %q, want %q)", pr.Format, Format)
	}
	per := 2
	if pr.EncoderLayers > 0 {
		per = 3
		if len(pr.EncoderOmega) != 2*pr.EncoderLayers {
			return fmt.Errorf("admin profile has %d encoder ω values for %d encoder layers, want %d", len(pr.EncoderOmega), pr.EncoderLayers, 2*pr.EncoderLayers)
		}
	} else if pr.EncoderLayers < 0 || len(pr.EncoderOmega) > 0 {
		return fmt.Errorf("admin profile has %d encoder ω values for %d encoder layers", len(pr.EncoderOmega), pr.EncoderLayers)
	}
	if pr.Layers < 1 || len(pr.Omega) != per*pr.Layers {
		return fmt.Errorf("admin profile has %d ω values for %d layers, want %d", len(pr.Omega), pr.Layers, per*pr.Layers)
	}
	for _, om := range [][]float64{pr.EncoderOmega, pr.Omega} {
		for k, v := range om {
			// ω is stored as float32: a value that overflows it is as bad
			// as an infinite one.
			if !(v > 0) || math.IsInf(v, 0) || v > math.MaxFloat32 {
				return fmt.Errorf("admin profile ω[%d] = %v is not a positive finite float32", k, v)
			}
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

// MaxProfileBytes bounds the size of a profile file Load reads.
const MaxProfileBytes = 16 << 20

// Load reads and validates a profile file. Anything but a regular file
// of at most MaxProfileBytes is refused before it is opened.
func Load(path string) (*Profile, error) {
	b, err := fileutil.ReadRegular(path, MaxProfileBytes)
	if err != nil {
		return nil, fmt.Errorf("admin profile %v", err)
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
