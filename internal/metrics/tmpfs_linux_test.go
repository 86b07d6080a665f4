package metrics

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// On a real full disk (a 64 KiB tmpfs, when the test may mount one),
// the file ends with the last whole record.
func TestFullDiskLeavesWholeLines(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=64k"); err != nil {
		t.Skip("cannot mount a tmpfs:", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, 0) })
	path := filepath.Join(dir, "metrics.jsonl")
	w, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	rec := map[string]any{"step": 0, "pad": strings.Repeat("x", 1000)}
	var werr error
	for i := 0; i < 1000 && werr == nil; i++ {
		rec["step"] = i
		werr = w.Write(rec)
	}
	if werr == nil {
		t.Fatal("64 KiB tmpfs never filled")
	}
	b, _ := os.ReadFile(path)
	if len(b) == 0 || b[len(b)-1] != '\n' {
		t.Fatalf("file ends with a torn line (%d bytes): %v", len(b), werr)
	}
	if _, err := ReadAll(path); err != nil {
		t.Fatal(err)
	}
}
