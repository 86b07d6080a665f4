//go:build unix

package data

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// A FIFO with no writer would block an open(2) forever; the loaders must
// refuse it at once.
func TestLoadFIFO(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "pipe.tsv")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	plain := write(t, dir, "plain.txt", "a\n")
	done := make(chan [3]error, 1)
	go func() {
		_, e1 := LoadTSV(fifo, 1, 2)
		_, e2 := LoadAligned(fifo, plain)
		_, e3 := LoadAligned(plain, fifo)
		done <- [3]error{e1, e2, e3}
	}()
	select {
	case errs := <-done:
		for _, err := range errs {
			checkErr(t, "fifo", err, "pipe.tsv: is a named pipe (FIFO), not a regular file")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("loading a FIFO blocked")
	}
}
