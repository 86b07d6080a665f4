package main

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A run directory that cannot be written is refused at the start, not
// at the first checkpoint.
func TestRunDirNotWritable(t *testing.T) {
	dir := t.TempDir()
	ro := filepath.Join(dir, "ro")
	if err := syscall.Mkdir(ro, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", ro, "tmpfs", syscall.MS_RDONLY, "size=64k"); err != nil {
		t.Skip("cannot mount a read-only tmpfs:", err)
	}
	t.Cleanup(func() { syscall.Unmount(ro, 0) })
	code, _, e := runCLI(t, tinyTrain(filepath.Join(dir, "none.txt"), ro)...)
	if code != 1 || !strings.Contains(e, ro) || !strings.Contains(e, "read-only") {
		t.Errorf("exit %d, %q", code, e)
	}
}
