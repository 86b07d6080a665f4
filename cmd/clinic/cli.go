package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/clinic-ml/clinic/internal/limits"
	"github.com/spf13/pflag"
)

// stdin is what commands read from standard input (bpe encode and
// decode, bleu, translate); a variable so tests can feed it.
var stdin io.Reader = os.Stdin

// command is a command or an analysis: its name, summary and run.
type command struct {
	name, summary string
	run           func(args []string, stdout, stderr io.Writer) error
}

// usageError is bad input on the command line: exit status 2.
type usageError = limits.UsageError

var usagef = limits.Usagef

func oneLine(s string) string { return strings.ReplaceAll(strings.TrimSpace(s), "\n", "; ") }

// newFlags returns a flag set whose --help prints a usage to stdout.
func newFlags(name, synopsis string, stdout io.Writer) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.SortFlags = false
	fs.Usage = func() {
		fmt.Fprintf(stdout, "Usage: clinic %s [flags]\n\n%s\n\nFlags:\n", name, synopsis)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args, turning flag errors into usage errors; arguments
// after the flags are refused.
func parse(fs *pflag.FlagSet, args []string) error {
	if err := parseFiles(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

// parseFiles is parse for commands that take files after the flags.
func parseFiles(fs *pflag.FlagSet, args []string) error {
	fs.SetOutput(io.Discard)
	usage := fs.Usage
	fs.Usage = func() {}
	err := fs.Parse(args)
	fs.Usage = usage
	if errors.Is(err, pflag.ErrHelp) {
		fs.Usage()
		return err
	}
	if err != nil {
		return usageError{Msg: err.Error()}
	}
	return nil
}
