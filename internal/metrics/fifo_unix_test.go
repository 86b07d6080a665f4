//go:build unix

package metrics

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A metrics file that is a FIFO or a link to /dev/zero is refused at
// once by Create, Append and ReadAll: opening a FIFO waits for a writer
// and reading /dev/zero never ends.
func TestIrregularMetricsRefused(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.jsonl")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skip("no FIFO:", err)
	}
	zero := filepath.Join(dir, "zero.jsonl")
	if err := os.Symlink("/dev/zero", zero); err != nil {
		t.Skip("no symlinks:", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, p := range []string{fifo, zero} {
			errs := make([]error, 3)
			var w *Writer
			if w, errs[0] = Append(p); w != nil {
				w.Close()
			}
			if w, errs[1] = Create(p); w != nil {
				w.Close()
			}
			_, errs[2] = ReadAll(p)
			for i, err := range errs {
				if err == nil || !strings.Contains(err.Error(), p+": is ") || !strings.Contains(err.Error(), "not a regular file") || strings.Contains(err.Error(), "\n") {
					t.Errorf("%s (call %d): %v", p, i, err)
				}
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("blocked on a FIFO or /dev/zero")
	}
}
