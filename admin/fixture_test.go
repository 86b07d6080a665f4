package admin

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/clinic-ml/clinic/asm"
	"github.com/clinic-ml/clinic/internal/safetensors"
	"github.com/clinic-ml/clinic/model"
)

// TestProfileMatchesPyTorch runs Admin's profiling on the golden
// fixtures that the independent PyTorch implementation
// (model/testdata/reference.py) wrote, at every kernel level this CPU
// supports, and requires every ω to agree to 1e-4 relative.
func TestProfileMatchesPyTorch(t *testing.T) {
	files, _ := filepath.Glob("../model/testdata/fixture_*.safetensors")
	defer asm.SetCPULevel(asm.CPULevel())
	seen := 0
	for _, path := range files {
		f, err := safetensors.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := model.ParseConfig(f.Metadata["config"])
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Norm != model.Admin || cfg.EncoderLayers > 0 {
			continue // encoder–decoders: TestSeq2SeqProfileMatchesPyTorch
		}
		seen++
		for _, level := range asm.SupportedLevels() {
			if err := asm.SetCPULevel(level); err != nil {
				t.Fatal(err)
			}
			t.Run(level+"/"+filepath.Base(path), func(t *testing.T) {
				p, err := model.NewParams(cfg)
				if err != nil {
					t.Fatal(err)
				}
				if err := p.LoadTensors(f, "param/"); err != nil {
					t.Fatal(err)
				}
				for _, q := range p.Omegas() {
					for i := range q.W {
						q.W[i] = 1
					}
				}
				toks := f.Get("tokens")
				B, T := toks.Shape[0], toks.Shape[1]
				m, err := model.New(p, B, 1)
				if err != nil {
					t.Fatal(err)
				}
				pr, err := Run(m, toks.I32, B, T, 1)
				if err != nil {
					t.Fatal(err)
				}
				want := f.Get("profile").F32
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
		}
	}
	if seen != 2 {
		t.Fatalf("expected 2 decoder-only Admin fixtures among %v, found %d", files, seen)
	}
}
