package main

import (
	"io"

	"github.com/clinic-ml/clinic/internal/stop"
)

// testBeforeStep, when set, runs before each step of a run whose
// options set no beforeStep (the signal tests slow the run down).
var testBeforeStep func(step int)

// cli makes the job a command's: progress and summary on stdout and
// stderr, stopped cleanly by SIGINT, SIGTERM or SIGHUP (internal/stop).
func (o *trainOpts) cli(stdout, stderr io.Writer) {
	o.Stdout, o.Stderr = stdout, stderr
	if o.BeforeStep == nil {
		o.BeforeStep = testBeforeStep
	}
	o.Watch = stop.JobWatch(o.RunInfo != nil)
}
