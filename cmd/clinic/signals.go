package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// signalStop is a run stopped by a signal: its checkpoint, state and
// metrics are saved, and the exit status is 128 + the signal's number.
type signalStop struct {
	sig  syscall.Signal
	step int
	dir  string
	// resumable: a 'clinic train' run, which --resume continues (a
	// sweep's runs are not).
	resumable bool
}

func (e *signalStop) Error() string {
	msg := fmt.Sprintf("stopped by %s after step %d; checkpoint, trainer state and metrics are saved in %s", signalName(e.sig), e.step, e.dir)
	if e.resumable {
		msg += "; continue with: clinic train --resume " + e.dir
	}
	return msg
}

func (e *signalStop) ExitCode() int { return 128 + int(e.sig) }

func signalName(s syscall.Signal) string {
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

// testBeforeStep, when set, runs before each step of a run whose
// options set no beforeStep (the signal tests slow the run down).
var testBeforeStep func(step int)

// stopSignals are the signals that stop a training run cleanly.
var stopSignals = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP}

// watchSignals returns a channel closed on the first of stopSignals,
// the signal that closed it (once closed), and a function to stop
// watching. A second signal exits at once with its status: every file
// is written atomically, so the previous checkpoint is intact.
func watchSignals(stderr io.Writer, dir string) (stop <-chan struct{}, which func() syscall.Signal, done func()) {
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, stopSignals...)
	c := make(chan struct{})
	quit := make(chan struct{})
	var first syscall.Signal
	go func() {
		select {
		case s := <-ch:
			first = s.(syscall.Signal)
			fmt.Fprintf(stderr, "\nclinic: %s: finishing the current step and saving (a second signal exits at once)\n", signalName(first))
			close(c)
		case <-quit:
			return
		}
		select {
		case s := <-ch:
			fmt.Fprintf(stderr, "clinic: %s again: exiting at once; the last saved checkpoint in %s is intact\n", signalName(s.(syscall.Signal)), dir)
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
			signal.Ignore(stopSignals...)
		default:
			signal.Stop(ch)
		}
		close(quit)
	}
}

// cli makes the job a command's: progress and summary on stdout and
// stderr, stopped cleanly by SIGINT, SIGTERM or SIGHUP (resume.go).
func (o *trainOpts) cli(stdout, stderr io.Writer) {
	o.Stdout, o.Stderr = stdout, stderr
	if o.BeforeStep == nil {
		o.BeforeStep = testBeforeStep
	}
	resumable := o.RunInfo != nil
	o.Watch = func(dir string, w io.Writer) (<-chan struct{}, func(int) error, func()) {
		stop, which, done := watchSignals(w, dir)
		return stop, func(step int) error { return &signalStop{sig: which(), step: step, dir: dir, resumable: resumable} }, done
	}
}
