package main

import (
	"fmt"
	"io"

	"github.com/clinic-ml/clinic/internal/experiment"
	"github.com/clinic-ml/clinic/internal/fileutil"
	"github.com/clinic-ml/clinic/model"
)

func runAverage(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("average", "Average the weights of checkpoints of one model (the paper evaluates the\naverage of the last 10; 'clinic train --keep-last N' keeps them):\n\n  clinic average --out avg.safetensors runs/x/checkpoint900.safetensors runs/x/checkpoint1000.safetensors ...", stdout)
	out := fs.String("out", "", "where to write the averaged checkpoint (required)")
	if err := parseFiles(fs, args); err != nil {
		return err
	}
	paths := fs.Args()
	switch outErr := fileutil.CheckOutput(*out); {
	case *out == "":
		return usagef("--out must name the averaged checkpoint")
	case outErr != nil:
		return outErr
	case len(paths) == 0:
		return usagef("name the checkpoints to average")
	}
	// Files, not spellings: an absolute path or a link to an input is
	// the input.
	if in, ok := fileutil.SameAsAny(*out, paths...); ok {
		return usagef("--out %s is %s, one of the checkpoints being averaged", *out, in)
	}
	avg, meta, err := experiment.AverageFiles(paths)
	if err != nil {
		return err
	}
	if err := model.SaveCheckpoint(*out, avg, meta); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "averaged %d checkpoints into %s\n", len(paths), *out)
	return nil
}
