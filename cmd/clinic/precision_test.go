package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clinic-ml/clinic/asm"
)

// precisionRun trains a tiny language model in dir/out with extra flags
// and returns its stdout; it fails the test on a non-zero exit.
func precisionRun(t *testing.T, dir, out string, extra ...string) string {
	t.Helper()
	text := filepath.Join(dir, "t.txt")
	if _, err := os.Stat(text); err != nil {
		os.WriteFile(text, bytes.Repeat([]byte("the quick brown fox jumps over the lazy dog. "), 100), 0o644)
	}
	args := append([]string{"train", "--data", text, "--out", filepath.Join(dir, out), "--layers", "1", "--d-model", "16",
		"--heads", "2", "--d-ff", "32", "--seq-len", "16", "--batch-size", "2", "--steps", "3", "--eval-every", "3",
		"--eval-batches", "1", "--seed", "5", "--val-frac", "0.1"}, extra...)
	code, stdout, stderr := runCLI(t, args...)
	if code != 0 {
		t.Fatalf("%v: exit %d: %s", extra, code, stderr)
	}
	return stdout
}

func firstLine(s string) string { return strings.SplitN(s, "\n", 2)[0] }

// stepPrecisions are the "precision" fields of a run's metrics lines.
func stepPrecisions(t *testing.T, dir string) []any { return stepField(t, dir, "precision") }

func checkpoint(t *testing.T, dir string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// --precision auto picks bf16 on a CPU whose probe says it pays and
// fp32 on one where it does not (CLINIC_PEAKS forces the probe's
// result), and the run's first line says which and why; auto's fp32 is
// --precision fp32 bit for bit, and bf16 is not; bf16 runs at 1 and 2
// threads give the same checkpoint; the metrics mark bf16 steps.
func TestPrecisionAuto(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("CLINIC_PEAKS", "fma:233,bf16:476")
	out := precisionRun(t, dir, "pays", "--threads", "1")
	want := "clinic: precision bf16 with specialized layer code (admin d16 h2 ff32 relu); --precision auto: VDPBF16PS peak 476 GFLOP/s per core is 2.04× the fp32 FMA peak 233 (≥ 1.5×) (CLINIC_PEAKS)"
	if asm.BF16Level() == asm.LevelGeneric {
		// The forced probe says bf16 pays, but this build or CPU has
		// no bf16 kernel (the purego tag, a CPU without AVX512-BF16):
		// the line says the twin will run it.
		want += "; no AVX512-BF16 kernel at CPU level " + asm.CPULevel() + ": its GEMMs run the pure-Go twin, slowly"
	}
	if got := firstLine(out); got != want {
		t.Errorf("first line %q, want %q", got, want)
	}
	if ps := stepPrecisions(t, filepath.Join(dir, "pays")); len(ps) != 3 || ps[0] != "bf16" || ps[2] != "bf16" {
		t.Errorf("bf16 run's metrics precision fields %v, want bf16 on every step", ps)
	}
	precisionRun(t, dir, "pays2", "--threads", "2")
	if !bytes.Equal(checkpoint(t, filepath.Join(dir, "pays")), checkpoint(t, filepath.Join(dir, "pays2"))) {
		t.Error("bf16 runs at 1 and 2 threads give different checkpoints")
	}

	t.Setenv("CLINIC_PEAKS", "fma:233,bf16:100")
	out = precisionRun(t, dir, "slow")
	want = "clinic: precision fp32 with specialized layer code (admin d16 h2 ff32 relu); --precision auto: VDPBF16PS peak 100 GFLOP/s per core is 0.43× the fp32 FMA peak 233 (< 1.5×) (CLINIC_PEAKS)"
	if got := firstLine(out); got != want {
		t.Errorf("first line %q, want %q", got, want)
	}
	if ps := stepPrecisions(t, filepath.Join(dir, "slow")); len(ps) != 3 || ps[0] != nil {
		t.Errorf("fp32 run's metrics precision fields %v, want none", ps)
	}
	t.Setenv("CLINIC_PEAKS", "fma:233,bf16:0")
	if got := firstLine(precisionRun(t, dir, "none")); !strings.Contains(got, "precision fp32 with specialized layer code (admin d16 h2 ff32 relu); --precision auto: no AVX512-BF16 kernel") {
		t.Errorf("first line %q on a CPU without bf16", got)
	}
	if got := firstLine(precisionRun(t, dir, "fp32", "--precision", "fp32", "--specialized=false")); got != "clinic: precision fp32 with generic layer code; --precision fp32" {
		t.Errorf("first line %q with --precision fp32", got)
	}
	fp32 := checkpoint(t, filepath.Join(dir, "fp32"))
	if !bytes.Equal(fp32, checkpoint(t, filepath.Join(dir, "slow"))) {
		t.Error("--precision auto's fp32 differs from --precision fp32")
	}
	if bytes.Equal(fp32, checkpoint(t, filepath.Join(dir, "pays"))) {
		t.Error("the bf16 run's checkpoint is fp32's")
	}
	if !strings.HasPrefix(firstLine(precisionRun(t, dir, "forced", "--precision", "bf16", "--threads", "1")), "clinic: precision bf16 with specialized layer code (admin d16 h2 ff32 relu); --precision bf16") {
		t.Error("--precision bf16 does not say so first")
	}
	if !bytes.Equal(checkpoint(t, filepath.Join(dir, "forced")), checkpoint(t, filepath.Join(dir, "pays"))) {
		t.Error("--precision bf16 differs from auto's bf16")
	}

	code, stdout, _ := runCLI(t, "version")
	if code != 0 || !strings.Contains(stdout, "peaks per core: FMA 233, bf16 0 GFLOP/s; --precision auto picks fp32: no AVX512-BF16 kernel") {
		t.Errorf("version (exit %d) does not report the forced peaks: %q", code, stdout)
	}
}

// A resumed run keeps its precision unless given --precision, which it
// may change.
func TestPrecisionResume(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("CLINIC_PEAKS", "fma:233,bf16:476")
	precisionRun(t, dir, "r")
	run := filepath.Join(dir, "r")
	// On a CPU where bf16 does not pay, the run goes on in bf16.
	t.Setenv("CLINIC_PEAKS", "fma:233,bf16:100")
	code, out, e := runCLI(t, "train", "--resume", run, "--steps", "4")
	if code != 0 || !strings.Contains(out, "clinic: precision bf16 with specialized layer code (admin d16 h2 ff32 relu); the resumed run's\n") {
		t.Fatalf("resume: exit %d, stdout %q, stderr %q", code, out, e)
	}
	code, out, e = runCLI(t, "train", "--resume", run, "--steps", "5", "--precision", "fp32")
	if code != 0 || !strings.Contains(out, "--precision fp32 (was bf16)") || !strings.Contains(out, "clinic: precision fp32 with specialized layer code (admin d16 h2 ff32 relu); --precision fp32\n") {
		t.Fatalf("resume --precision fp32: exit %d, stdout %q, stderr %q", code, out, e)
	}
	code, out, e = runCLI(t, "train", "--resume", run, "--steps", "6")
	if code != 0 || !strings.Contains(out, "clinic: precision fp32 with specialized layer code (admin d16 h2 ff32 relu); the resumed run's\n") {
		t.Fatalf("second resume: exit %d, stdout %q, stderr %q", code, out, e)
	}
	ps := stepPrecisions(t, run)
	if len(ps) != 6 || ps[3] != "bf16" || ps[4] != nil || ps[5] != nil {
		t.Errorf("metrics precision fields %v, want bf16 for steps 1-4, none after", ps)
	}
}

// A bad --precision or CLINIC_PEAKS is a one-line usage error.
func TestPrecisionBadInput(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		env  string
		args []string
		want string
	}{
		{"", []string{"train", "--precision", "fp16", "--out", dir}, `--precision must be fp32, bf16 or auto, got "fp16"`},
		{"", []string{"train", "--precision", "", "--out", dir}, "--precision must be"},
		{"fma:233", []string{"train", "--out", dir}, "CLINIC_PEAKS"},
		{"fma:233,bf16:x", []string{"train", "--out", dir}, "CLINIC_PEAKS"},
		{"fma:233,bf16:-1", []string{"train", "--out", dir}, "CLINIC_PEAKS"},
		{"fma:1,bf16:2,amx:3", []string{"train", "--out", dir}, "CLINIC_PEAKS"},
		{"fma:NaN,bf16:2", []string{"version"}, "CLINIC_PEAKS"},
	} {
		if tc.env != "" {
			t.Setenv("CLINIC_PEAKS", tc.env)
		} else {
			os.Unsetenv("CLINIC_PEAKS")
		}
		code, stdout, errOut := runCLI(t, tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) || strings.Count(strings.TrimSpace(errOut), "\n") != 0 || stdout != "" {
			t.Errorf("CLINIC_PEAKS=%q %v: exit %d, stdout %q, stderr %q; want exit 2, one line with %q", tc.env, tc.args, code, stdout, errOut, tc.want)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a refused run wrote %d files", len(entries))
	}
}
