package runlock

import (
	"errors"
	"runtime"
	"strings"
	"testing"
)

func TestExclusive(t *testing.T) {
	dir := t.TempDir()
	a, err := Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Acquire(dir)
	switch runtime.GOOS {
	case "linux", "darwin", "freebsd", "netbsd", "openbsd", "dragonfly":
		if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "in use by another run (process ") {
			t.Fatalf("second Acquire: %v", err)
		}
	}
	if err := a.Release(); err != nil {
		t.Fatal(err)
	}
	b, err := Acquire(dir)
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	b.Release()
	if _, err := Acquire(dir + "/missing"); err == nil {
		t.Fatal("Acquire in a missing directory succeeded")
	}
}
