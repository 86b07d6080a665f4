package stop

import (
	"bytes"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A signal closes the stop channel once, names itself on stderr and
// becomes the run's error, whose exit status is 128 + the signal; a
// 'clinic train' run's error says how to resume it.
func TestWatchStopsOnSignal(t *testing.T) {
	var stderr bytes.Buffer
	stop, stopped, done := JobWatch(true)("/tmp/run", &stderr)
	defer done()
	select {
	case <-stop:
		t.Fatal("stopped before any signal")
	default:
	}
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	select {
	case <-stop:
	case <-time.After(5 * time.Second):
		t.Fatal("SIGHUP did not stop the run")
	}
	err := stopped(7)
	s, ok := err.(*Stopped)
	if !ok || s.ExitCode() != 128+int(syscall.SIGHUP) {
		t.Fatalf("error %v (%T)", err, err)
	}
	for _, want := range []string{"stopped by SIGHUP after step 7", "clinic train --resume /tmp/run"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if !strings.Contains(stderr.String(), "SIGHUP: finishing the current step") {
		t.Errorf("stderr %q", stderr.String())
	}
	if r := (&Stopped{Sig: syscall.SIGTERM, Step: 1, Dir: "d"}).Error(); strings.Contains(r, "--resume") {
		t.Errorf("a sweep's run offers --resume: %q", r)
	}
}
