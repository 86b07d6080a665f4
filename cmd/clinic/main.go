// Command clinic trains Transformers on CPU — byte-level language
// models and encoder–decoder translators, with Post-LN, Pre-LN, Admin
// and the other residual variants — and runs the experiments around
// them.
//
//	clinic train     [flags]   train a language model or a translator
//	clinic profile   [flags]   run Admin's profiling and save ω
//	clinic sample    [flags]   generate text from a language model
//	clinic average   [flags]   average the weights of checkpoints
//	clinic logits    [flags]   write a checkpoint's logits (to compare with PyTorch)
//	clinic bpe       learn|encode|decode   a joint BPE subword vocabulary
//	clinic analyze   <analysis> [flags]    change, grads, dependency, sweep, lr-range, scaling
//	clinic translate [flags]   translate sentences with a translator checkpoint
//	clinic bleu      [flags]   score translations with BLEU as sacreBLEU does
//	clinic corpus    [flags]   write the built-in corpora
//	clinic board     [DIR...]  a live, read-only web page of the runs and sweeps in DIR
//	clinic version             print the version and the kernels in use
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/pflag"
)

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

func commands() []command {
	return []command{
		{"train", "train a language model or a translator (--task)", runTrain},
		{"profile", "run Admin profiling and save the ω profile", runProfile},
		{"sample", "generate text from a checkpoint", runSample},
		{"average", "average the weights of checkpoints", runAverage},
		{"logits", "write a checkpoint's logits on a text (to compare with PyTorch)", runLogits},
		{"bpe", "learn, apply and invert a joint BPE subword vocabulary", runBPE},
		{"analyze", "measure the amplification effect: output change, gradients, dependency, depth sweep", runAnalyze},
		{"translate", "translate sentences with an encoder–decoder checkpoint (beam search)", runTranslate},
		{"bleu", "score translations with BLEU exactly as sacreBLEU 2.x does", runBLEU},
		{"corpus", "write the built-in corpora (the Bible's train/valid/test splits, State of the Union)", runCorpus},
		{"board", "a live, read-only web page of the runs and sweeps in DIR... (default runs/)", runBoard},
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
