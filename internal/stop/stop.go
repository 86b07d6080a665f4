// Package stop stops a training run cleanly on SIGINT, SIGTERM or
// SIGHUP: the run finishes its step and saves (train.Job.Watch, Options.Stop), and
// the process exits with 128 + the signal; a second signal exits at once,
// which is as safe as a kill (every file is written atomically).
package stop

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Stopped is a run stopped by a signal: its checkpoint, state and
// metrics are saved, and the exit status is 128 + the signal's number.
type Stopped struct {
	Sig  syscall.Signal
	Step int
	Dir  string
	// resumable: a 'clinic train' run, which --resume continues (a
	// sweep's runs are not).
	Resumable bool
}

func (e *Stopped) Error() string {
	msg := fmt.Sprintf("stopped by %s after step %d; checkpoint, trainer state and metrics are saved in %s", Name(e.Sig), e.Step, e.Dir)
	if e.Resumable {
		msg += "; continue with: clinic train --resume " + e.Dir
	}
	return msg
}

func (e *Stopped) ExitCode() int { return 128 + int(e.Sig) }

// Name is the signal's name.
func Name(s syscall.Signal) string {
	switch s {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGHUP:
		return "SIGHUP"
	}
	return s.String()
}

// signals are the signals that stop a training run cleanly.
var signals = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP}

// Watch returns a channel closed on the first of signals,
// the signal that closed it (once closed), and a function to stop
// watching. A second signal exits at once with its status: every file
// is written atomically, so the previous checkpoint is intact.
func Watch(stderr io.Writer, dir string) (stop <-chan struct{}, which func() syscall.Signal, done func()) {
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, signals...)
	c := make(chan struct{})
	quit := make(chan struct{})
	var first syscall.Signal
	go func() {
		select {
		case s := <-ch:
			first = s.(syscall.Signal)
			fmt.Fprintf(stderr, "\nclinic: %s: finishing the current step and saving (a second signal exits at once)\n", Name(first))
			close(c)
		case <-quit:
			return
		}
		select {
		case s := <-ch:
			fmt.Fprintf(stderr, "clinic: %s again: exiting at once; the last saved checkpoint in %s is intact\n", Name(s.(syscall.Signal)), dir)
			os.Exit(128 + int(s.(syscall.Signal)))
		case <-quit:
		}
	}()
	// After a signal stopped the run the process is about to exit with
	// that signal's status; a signal arriving between here and the exit
	// is ignored rather than left to its default action, which would
	// kill the process without that status.
	return c, func() syscall.Signal { <-c; return first }, func() {
		select {
		case <-c:
			signal.Ignore(signals...)
		default:
			signal.Stop(ch)
		}
		close(quit)
	}
}

// JobWatch is a train.Job's Watch that stops on the signals, reporting
// on the job's stderr; resumable: the error offers 'clinic train
// --resume'.
func JobWatch(resumable bool) func(dir string, w io.Writer) (<-chan struct{}, func(int) error, func()) {
	return func(dir string, w io.Writer) (<-chan struct{}, func(int) error, func()) {
		stop, which, done := Watch(w, dir)
		return stop, func(step int) error { return &Stopped{Sig: which(), Step: step, Dir: dir, Resumable: resumable} }, done
	}
}
