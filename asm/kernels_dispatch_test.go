package asm

import "testing"

// TestKernelsFollowCPULevel: SetCPULevel switches the non-GEMM kernels
// with the GEMM, and every level's set is what levelKernels reports.
func TestKernelsFollowCPULevel(t *testing.T) {
	old := CPULevel()
	defer SetCPULevel(old)
	for _, l := range SupportedLevels() {
		if err := SetCPULevel(l); err != nil {
			t.Fatal(err)
		}
		if kern.name != l || kern != levelKernels(l) {
			t.Errorf("level %s: kernel set %q", l, kern.name)
		}
		if l != LevelGeneric && kern.dropout == nil {
			t.Errorf("level %s: no assembly Dropout", l)
		}
	}
	if err := SetCPULevel("avx1024"); err == nil {
		t.Fatal("SetCPULevel(avx1024) succeeded")
	}
	if kern.name != CPULevel() {
		t.Errorf("after a failed SetCPULevel: kernels %q, level %q", kern.name, CPULevel())
	}
}

// TestKernelsNoAlloc: no kernel allocates, at any level.
func TestKernelsNoAlloc(t *testing.T) {
	for _, ks := range benchLevels() {
		for _, kc := range kernelCases(4) {
			f := kc.make(ks)
			if n := testing.AllocsPerRun(3, f); n != 0 {
				t.Errorf("%s at %s: %v allocations per call", kc.name, ks.name, n)
			}
		}
	}
	// The exported functions (through kern) too.
	x, y := make([]float32, 100), make([]float32, 100)
	for _, l := range SupportedLevels() {
		withLevel(t, l, func() {
			f := func() {
				Dropout(y, x, 0.1, 1, 2)
				GELU(y, x)
				LayerNorm(y, x[:10], x[10:20], x, x[:10], x[:10], 10, 1e-5)
				SoftmaxCausal(y, x, 10, 0.5, 0)
				ReLUDropout(y, x, 0.1, 1, 2)
				_ = SumSq(x)
			}
			if n := testing.AllocsPerRun(3, f); n != 0 {
				t.Errorf("exported kernels at %s: %v allocations per call", l, n)
			}
		})
	}
}

// TestKernelsStartLevel: at start-up the kernels are those of CPULevel()
// (the best level, or CLINIC_CPU's).
func TestKernelsStartLevel(t *testing.T) {
	if kern.name != CPULevel() {
		t.Errorf("kernels %q at level %q", kern.name, CPULevel())
	}
	t.Logf("level %s", kern.name)
}
