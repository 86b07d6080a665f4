package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// 'clinic train' on a shape with generated layer code says so in its
// first line and trains bit for bit as --specialized=false does, which
// says it runs the generic path.
func TestTrainSpecializedFlag(t *testing.T) {
	dir := t.TempDir()
	text := writeText(t, dir)
	spec, gen := filepath.Join(dir, "spec"), filepath.Join(dir, "gen")
	code, out, e := runCLI(t, lmArgs(text, spec, "8")...)
	if code != 0 {
		t.Fatalf("train: exit %d: %s", code, e)
	}
	if first := strings.SplitN(out, "\n", 2)[0]; !strings.Contains(first, "specialized layer code (admin d16 h2 ff32 relu)") {
		t.Errorf("first line %q does not name the generated layer code", first)
	}
	code, out, e = runCLI(t, lmArgs(text, gen, "8", "--specialized=false")...)
	if code != 0 {
		t.Fatalf("train --specialized=false: exit %d: %s", code, e)
	}
	if first := strings.SplitN(out, "\n", 2)[0]; !strings.Contains(first, "generic layer code") {
		t.Errorf("--specialized=false: first line %q does not say generic", first)
	}
	sameRun(t, spec, gen)
}
