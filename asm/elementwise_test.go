package asm

import (
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"
)

// TestAsmLevelsComplete: every assembly level has a GEMM kernel and an
// entry for every element-wise kernel, unless gen/gluegen's spec leaves
// it out of that level (asmAbsent). (A nil entry would silently run the
// twin, and the TestImpl* tests skip it.)
func TestAsmLevelsComplete(t *testing.T) {
	for _, l := range asmLevels() {
		if l.gemm == nil {
			t.Errorf("level %s: no GEMM kernel", l.name)
		}
		v := reflect.ValueOf(l.elementwise)
		for i := range v.NumField() {
			name := v.Type().Field(i).Name
			switch absent := asmAbsent[l.name+"."+name]; {
			case v.Field(i).IsNil() && !absent:
				t.Errorf("level %s: no assembly for %s", l.name, name)
			case !v.Field(i).IsNil() && absent:
				t.Errorf("level %s: assembly for %s, which the spec leaves out", l.name, name)
			}
		}
	}
}

// TestStartLevel runs the test binary with CLINIC_CPU set: a supported
// level is honoured, an unknown one is reported on stderr and ignored.
func TestStartLevel(t *testing.T) {
	if want := os.Getenv("ASM_TEST_START_LEVEL"); want != "" {
		if CPULevel() != want {
			t.Fatalf("CLINIC_CPU=%s: CPULevel() = %q, want %q", os.Getenv("CLINIC_CPU"), CPULevel(), want)
		}
		return
	}
	exe, err := os.Executable()
	if err != nil {
		t.Skip("cannot re-run the test binary:", err)
	}
	for _, c := range []struct{ env, want, note string }{
		{LevelGeneric, LevelGeneric, ""},
		{"sse9", supported[0].name, "CLINIC_CPU=sse9 ignored"},
	} {
		cmd := exec.Command(exe, "-test.run=^TestStartLevel$")
		cmd.Env = append(os.Environ(), "CLINIC_CPU="+c.env, "ASM_TEST_START_LEVEL="+c.want)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("CLINIC_CPU=%s: %v\n%s", c.env, err, firstLines(out, 16))
		}
		if c.note != "" && strings.Count(string(out), c.note) != 1 {
			t.Errorf("CLINIC_CPU=%s: want the note %q once on stderr, got:\n%s", c.env, c.note, firstLines(out, 16))
		}
	}
}

// TestKernelsNoAlloc: no kernel allocates, at any level.
func TestKernelsNoAlloc(t *testing.T) {
	for _, l := range benchLevels() {
		for _, kc := range kernelCases(4) {
			f := kc.make(&l.elementwise)
			if n := testing.AllocsPerRun(3, f); n != 0 {
				t.Errorf("%s at %s: %v allocations per call", kc.name, l.name, n)
			}
		}
	}
	// The exported functions (through cur) too.
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
