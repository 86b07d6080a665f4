// Command clinic trains byte-level Transformer language models on CPU
// with Post-LN, Pre-LN or Admin, profiles Admin's ω, and samples text.
//
//	clinic train   [flags]   train on the built-in corpus or --data
//	clinic profile [flags]   run Admin's profiling and save ω
//	clinic sample  [flags]   generate text from a checkpoint
//	clinic version           print version and CPU kernels in use
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

// Version is the release this binary was built from.
const Version = "0.1.0"

func main() {
	code := run(os.Args[1:], os.Stdout, os.Stderr)
	if world != nil && world.Size() > 1 {
		if code != 0 && code < 128 {
			// The other ranks may wait for this one in a collective. (A
			// stop by a signal, 128 + its number, was agreed by every
			// rank: they all saved and finish.)
			world.Abort(code)
		}
		if err := world.Finalize(); err != nil {
			fmt.Fprintf(os.Stderr, "clinic: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// stdin is what commands read from standard input (bpe encode and
// decode, bleu, translate); a variable so tests can feed it.
var stdin io.Reader = os.Stdin

// usageError is bad input on the command line: exit status 2.
type usageError = limits.UsageError

var usagef = limits.Usagef

type command struct {
	name, summary string
	run           func(args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"train", "train a language model", runTrain},
		{"profile", "run Admin profiling and save the ω profile", runProfile},
		{"sample", "generate text from a checkpoint", runSample},
		{"average", "average the weights of checkpoints", runAverage},
		{"logits", "write a checkpoint's logits on a text (to compare with PyTorch)", runLogits},
		{"bpe", "learn, apply and invert a joint BPE subword vocabulary", runBPE},
		{"analyze", "measure the amplification effect: output change, gradients, dependency, depth sweep", runAnalyze},
		{"translate", "translate sentences with an encoder–decoder checkpoint (beam search)", runTranslate},
		{"bleu", "score translations with BLEU exactly as sacreBLEU 2.x does", runBLEU},
		{"corpus", "write the built-in corpora (the Bible's train/valid/test splits, State of the Union)", runCorpus},
		{"version", "print the version and the kernels in use", runVersion},
	}
}

func topUsage(w io.Writer) {
	fmt.Fprintf(w, "clinic %s: train Transformers on CPU, stably at any depth (Post-LN, Pre-LN, Admin).\n\nUsage: clinic <command> [flags]\n\nCommands:\n", Version)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun 'clinic <command> --help' for a command's flags.\n")
}

// exitInternal is the status of an unexpected internal error: a bug,
// reported in one line instead of a panic trace.
const exitInternal = 3

func run(args []string, stdout, stderr io.Writer) (code int) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "clinic: internal error: %v (please report it, with the command line)\n", r)
			code = exitInternal
		}
	}()
	if len(args) == 0 {
		topUsage(stderr)
		return 2
	}
	name := args[0]
	if name == "-h" || name == "--help" || name == "help" {
		topUsage(stdout)
		return 0
	}
	for _, c := range commands() {
		if c.name != name {
			continue
		}
		err := c.run(args[1:], stdout, stderr)
		var ue usageError
		var ec interface{ ExitCode() int }
		switch {
		case err == nil:
			return 0
		case errors.Is(err, pflag.ErrHelp):
			return 0
		case errors.As(err, &ue):
			fmt.Fprintf(stderr, "clinic %s: %s (see 'clinic %s --help')\n", name, oneLine(ue.Msg), name)
			return 2
		case errors.As(err, &ec):
			fmt.Fprintf(stderr, "clinic %s: %s\n", name, oneLine(err.Error()))
			return ec.ExitCode()
		default:
			fmt.Fprintf(stderr, "clinic %s: %s\n", name, oneLine(err.Error()))
			return 1
		}
	}
	fmt.Fprintf(stderr, "clinic: unknown command %q (see 'clinic --help')\n", name)
	return 2
}

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
