//go:build unix

package fileutil

import (
	"path/filepath"
	"syscall"
	"testing"
)

func makeFIFO(t *testing.T, dir string) (string, bool) {
	p := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(p, 0o644); err != nil {
		t.Log("no FIFO:", err)
		return "", false
	}
	return p, true
}
