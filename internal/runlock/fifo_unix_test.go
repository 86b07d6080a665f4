//go:build unix

package runlock

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A lock file that is a FIFO or a link to a device is refused at once
// (the lock file goes through the same gate as every other file).
func TestIrregularLockFileRefused(t *testing.T) {
	for _, kind := range []string{"fifo", "null"} {
		dir := t.TempDir()
		p := filepath.Join(dir, Name)
		var err error
		if kind == "fifo" {
			err = syscall.Mkfifo(p, 0o644)
		} else {
			err = os.Symlink(os.DevNull, p)
		}
		if err != nil {
			t.Skip(err)
		}
		done := make(chan error, 1)
		go func() {
			l, err := Acquire(dir)
			l.Release()
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "not a regular file") {
				t.Errorf("%s: got %v", kind, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: Acquire blocked", kind)
		}
	}
}
