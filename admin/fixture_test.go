package admin

import (
	"math"
	"testing"

	"github.com/clinic-ml/clinic/model"
	"github.com/clinic-ml/clinic/model/modeltest"
)

// TestProfileMatchesPyTorch runs Admin's profiling on the golden
// fixtures that the independent PyTorch implementation
// (model/testdata/reference.py) wrote, at every kernel level this CPU
// supports, and requires every ω to agree to 1e-4 relative.
func TestProfileMatchesPyTorch(t *testing.T) {
	seen := 0
	for _, fx := range modeltest.Fixtures(t, fixtures, false) {
		if p := fixtureParams(t, fx); !p.Cfg.HasOmega() {
			continue
		}
		seen++
		modeltest.EachLevel(t, func(level string) {
			t.Run(level+"/"+fx.Name(), func(t *testing.T) {
				p := fixtureParams(t, fx)
				for _, q := range p.Omegas() {
					for i := range q.W {
						q.W[i] = 1
					}
				}
				toks, _, B, T := fx.Tokens()
				m, err := model.New(p, B, 1)
				if err != nil {
					t.Fatal(err)
				}
				pr, err := Run(m, toks, B, T, 1)
				if err != nil {
					t.Fatal(err)
				}
				want := fx.File.Get("profile").F32
				if len(pr.Omega) != len(want) {
					t.Fatalf("%d ω values, PyTorch has %d", len(pr.Omega), len(want))
				}
				var num, den float64
				for k, v := range pr.Omega {
					e := v - float64(want[k])
					num += e * e
					den += float64(want[k]) * float64(want[k])
				}
				if e := math.Sqrt(num / den); e > 1e-4 {
					t.Errorf("admin profile %v, PyTorch %v (rel err %.2g)", pr.Omega, want, e)
				}
				if pr.Omega[0] != 1 {
					t.Errorf("ω_0 = %v, want exactly 1", pr.Omega[0])
				}
				// The ω left in the parameters are the profile's.
				for k, q := range p.Omegas() {
					if q.W[0] != float32(pr.Omega[k]) || q.W[len(q.W)-1] != float32(pr.Omega[k]) {
						t.Fatalf("ω_%d holds %v, profile says %v", k, q.W[0], pr.Omega[k])
					}
				}
				if m.Draws() != 0 || m.SublayerHook != nil {
					t.Errorf("profiling left the model changed: draws %d, hook set %v", m.Draws(), m.SublayerHook != nil)
				}
			})
		})
	}
	if seen != 2 {
		t.Fatalf("expected 2 decoder-only Admin fixtures, found %d", seen)
	}
}

// fixtures is where the PyTorch fixtures are.
const fixtures = "../model/testdata"

// fixtureParams plans a fixture's model and loads its weights.
func fixtureParams(t *testing.T, fx modeltest.Fixture) *model.Params {
	return modeltest.Params(t, fx, func(config string) (*model.Params, error) {
		cfg, err := model.ParseConfig(config)
		if err != nil {
			return nil, err
		}
		return model.NewParams(cfg)
	})
}
