package admin

import (
	"math"
	"testing"

	"github.com/clinic-ml/clinic/model"
	"github.com/clinic-ml/clinic/model/modeltest"
)

// TestSeq2SeqProfileMatchesPyTorch runs RunSeq2Seq on the encoder–decoder
// golden fixtures of the independent PyTorch implementation
// (model/testdata/reference.py), from every ω = 1 and the fixture's own
// other parameters and padded batch, at every kernel level this CPU
// supports, and requires each stack's ω to agree with profile_encoder and
// profile_decoder to 1e-4 relative.
func TestSeq2SeqProfileMatchesPyTorch(t *testing.T) {
	seen := 0
	for _, fx := range modeltest.Fixtures(t, fixtures, true) {
		if p := fixtureParams(t, fx); !p.Cfg.HasOmega() {
			continue
		} else if p.Cfg.EncoderLayers < 1 {
			t.Fatalf("%s: not an encoder–decoder", fx.Path)
		}
		seen++
		modeltest.EachLevel(t, func(level string) {
			t.Run(level+"/"+fx.Name(), func(t *testing.T) {
				p := fixtureParams(t, fx)
				for _, q := range append(p.EncoderOmegas(), p.Omegas()...) {
					for i := range q.W {
						q.W[i] = 1
					}
				}
				pair := fx.Pair(t)
				b := (*model.Pair)(&pair)
				m, err := model.NewSeq2Seq(p, b.Rows(), 1)
				if err != nil {
					t.Fatal(err)
				}
				pr, err := RunSeq2Seq(m, b, 1)
				if err != nil {
					t.Fatal(err)
				}
				for _, s := range []struct {
					name string
					got  []float64
					om   []*model.Param
				}{{"profile_encoder", pr.EncoderOmega, p.EncoderOmegas()}, {"profile_decoder", pr.Omega, p.Omegas()}} {
					want := fx.File.Get(s.name).F32
					if len(s.got) != len(want) {
						t.Fatalf("%s: %d ω values, PyTorch has %d", s.name, len(s.got), len(want))
					}
					var num, den, worst float64
					for k, v := range s.got {
						e := v - float64(want[k])
						num += e * e
						den += float64(want[k]) * float64(want[k])
						worst = max(worst, math.Abs(e)/float64(want[k]))
					}
					if e := math.Sqrt(num / den); e > 1e-4 || worst > 1e-4 {
						t.Errorf("%s %v, PyTorch %v (rel err %.2g, worst entry %.2g)", s.name, s.got, want, e, worst)
					} else {
						t.Logf("%s: rel err %.2g, worst entry %.2g", s.name, e, worst)
					}
					if s.got[0] != 1 {
						t.Errorf("%s: ω_0 = %v, want exactly 1", s.name, s.got[0])
					}
					// The ω left in the parameters are the profile's.
					for k, q := range s.om {
						if q.W[0] != float32(s.got[k]) || q.W[len(q.W)-1] != float32(s.got[k]) {
							t.Fatalf("%s: ω_%d holds %v, profile says %v", s.name, k, q.W[0], s.got[k])
						}
					}
				}
			})
		})
	}
	if seen < 1 {
		t.Fatal("no encoder–decoder Admin fixture")
	}
}
