package main

// clinic analyze: the amplification analysis of Liu et al. (2020) and the
// depth experiment, each writing a folder with CSV data, PNG and SVG
// figures and a Markdown report.

import (
	"fmt"
	"io"

	"github.com/spf13/pflag"
)

func analyses() []command {
	return []command{
		{"change", "output change under a ±ε perturbation of every weight matrix, against depth", runAnalyzeChange},
		{"grads", "gradient norm at each sublayer's output, at initialization or for a checkpoint", runAnalyzeGrads},
		{"dependency", "residual dependency: each layer input's variance share per earlier branch", runAnalyzeDependency},
		{"sweep", "the depth experiment: train each depth × norm, record curves and failures", runAnalyzeSweep},
		{"lr-range", "the stable learning-rate range, from sweeps run at several learning rates", runAnalyzeLRRange},
		{"scaling", "the training step's predicted speedup on 1 to 64 threads, from a work/span profile", runAnalyzeScaling},
	}
}

func analyzeUsage(w io.Writer) {
	fmt.Fprintf(w, "Usage: clinic analyze <analysis> [flags]\n\nThe amplification effect (Liu et al. 2020), measured. Each analysis writes a folder\n(--out) with <analysis>.csv, PNG and SVG figures and report.md, and prints its table.\n\nAnalyses:\n")
	for _, a := range analyses() {
		fmt.Fprintf(w, "  %-11s %s\n", a.name, a.summary)
	}
	fmt.Fprintf(w, "\nRun 'clinic analyze <analysis> --help' for its flags.\n")
}

func runAnalyze(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("missing analysis: want change, grads, dependency, sweep, lr-range or scaling")
	}
	switch args[0] {
	case "-h", "--help", "help":
		analyzeUsage(stdout)
		return pflag.ErrHelp
	}
	for _, a := range analyses() {
		if a.name == args[0] {
			return a.run(args[1:], stdout, stderr)
		}
	}
	return usagef("unknown analysis %q: want change, grads, dependency, sweep, lr-range or scaling", args[0])
}
