package main

import (
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/clinic-ml/clinic/internal/experiment"
	"github.com/clinic-ml/clinic/internal/rundir"
)

// A learning-rate sweep is one 'analyze sweep' per learning rate;
// lr-range reads their sweep.csv files (nothing is trained) and reports
// each method's stable range: the largest learning rate at which it
// still trains. Keeping the sweeps separate lets each be rerun, or
// continued, on its own.

func runAnalyzeLRRange(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("analyze lr-range", "The stable learning-rate range: reads the sweep.csv of finished 'clinic analyze\nsweep' folders run at different --lr (the same depths and norms otherwise) and reports,\nfor each depth and norm, the final validation loss and status at each learning rate and\nthe largest learning rate at which the run still trained. Nothing is trained.\n\n  clinic analyze lr-range --out runs/lr-range runs/lr-3e-4 runs/lr-1e-3 runs/lr-3e-3\n\nWrites lr_range.csv, lr_range.png/.svg and report.md.", stdout)
	lrsS := fs.String("lrs", "", "the learning rate of each folder, in order (needed for sweeps whose sweep.csv has no lr column)")
	out := fs.String("out", "runs/analyze-lr-range", "output folder")
	overwrite := fs.Bool("overwrite", false, overwriteUsage)
	if err := parseFiles(fs, args); err != nil {
		return err
	}
	dirs := fs.Args()
	if len(dirs) < 2 {
		return usagef("name at least two sweep folders (one per learning rate)")
	}
	var inputs []string
	for _, d := range dirs {
		inputs = append(inputs, d, filepath.Join(d, "sweep.csv"))
	}
	if err := rundir.CheckReportDir(*out, *overwrite, inputs...); err != nil {
		return err
	}
	var given []float64
	if *lrsS != "" {
		for _, f := range strings.Split(*lrsS, ",") {
			v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
			if err != nil || !(v > 0) || math.IsInf(v, 0) {
				return usagef("--lrs: %q is not a positive learning rate", f)
			}
			given = append(given, v)
		}
		if len(given) != len(dirs) {
			return usagef("--lrs has %d learning rates for %d folders", len(given), len(dirs))
		}
	}
	return printSummary(stdout)((&experiment.LRRange{Dirs: dirs, LRs: given, Out: *out, Command: experiment.CommandLine("lr-range", args)}).Run())
}
