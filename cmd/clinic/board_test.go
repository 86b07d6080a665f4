package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// 'clinic board' refuses a bad --addr or a root that is a file with
// exit status 2 and one line; --help describes it.
func TestBoardUsage(t *testing.T) {
	file := filepath.Join(t.TempDir(), "f")
	os.WriteFile(file, nil, 0o644)
	for _, args := range [][]string{{"board", "--addr", "6006"}, {"board", "--addr", "localhost:99999"}, {"board", file}, {"board", "--port", "1"}} {
		code, _, errOut := runCLI(t, args...)
		if code != 2 || strings.Count(strings.TrimSpace(errOut), "\n") != 0 || !strings.HasPrefix(errOut, "clinic board: ") {
			t.Errorf("%v: exit %d, stderr %q; want 2 and one line", args, code, errOut)
		}
	}
	if code, out, _ := runCLI(t, "board", "--help"); code != 0 || !strings.Contains(out, "read") || !strings.Contains(out, "--addr") {
		t.Errorf("board --help: exit %d\n%s", code, out)
	}
}
