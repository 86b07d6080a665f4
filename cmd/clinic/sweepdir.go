package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/clinic-ml/clinic/internal/atomicfile"
	"github.com/clinic-ml/clinic/internal/experiment"
	"github.com/clinic-ml/clinic/internal/fileutil"
	"github.com/clinic-ml/clinic/model"
	"github.com/spf13/pflag"
)

// sweepFlagsFile records the flags of a sweep, which --continue must
// repeat.
const sweepFlagsFile = "sweep_flags.json"

// sweepMayChange are the flags a continued sweep may set anew.
var sweepMayChange = []string{"threads", "specialized", "continue", "overwrite", "help"}

func sweepFlags(fs *pflag.FlagSet) map[string]string {
	m := map[string]string{}
	fs.VisitAll(func(f *pflag.Flag) {
		if !slices.Contains(sweepMayChange, f.Name) {
			m[f.Name] = f.Value.String()
		}
	})
	return m
}

func saveSweepFlags(dir string, fs *pflag.FlagSet) error {
	b, err := json.MarshalIndent(sweepFlags(fs), "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, sweepFlagsFile), append(b, '\n'))
}

// openSweepDir locks the sweep directory dir: with cont, an earlier
// sweep there run with the flags fs repeats (continueSweep); else a new
// sweep (an earlier one only with overwrite), whose flags it records.
// keep lists input files that may lie in dir.
func openSweepDir(fs *pflag.FlagSet, dir string, cont, overwrite bool, keep ...string) (func(), error) {
	if cont {
		if overwrite {
			return nil, usagef("--continue keeps the earlier sweep, --overwrite replaces it: give one")
		}
		return continueSweep(dir, fs)
	}
	release, err := prepareSweepDir(dir, overwrite, keep...)
	if err != nil {
		return nil, err
	}
	if err := saveSweepFlags(dir, fs); err != nil {
		release()
		return nil, err
	}
	return release, nil
}

// continueSweep locks the sweep in dir and checks that fs repeats its
// flags.
func continueSweep(dir string, fs *pflag.FlagSet) (func(), error) {
	b, err := fileutil.ReadRegular(filepath.Join(dir, sweepFlagsFile), experiment.MaxSmallFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil, usagef("--continue: %s holds no sweep to continue (%v)", dir, errors.Unwrap(err))
	}
	if err != nil {
		return nil, fmt.Errorf("--continue: %v", err)
	}
	var saved map[string]string
	if err := json.Unmarshal(b, &saved); err != nil {
		return nil, fmt.Errorf("--continue: %s: %v", filepath.Join(dir, sweepFlagsFile), err)
	}
	for n, v := range sweepFlags(fs) {
		if sv, ok := saved[n]; ok && sv != v {
			return nil, usagef("--%s %s differs from the sweep in %s, run with --%s %s (on --continue only --threads may change)", n, v, dir, n, sv)
		}
	}
	release, err := lockRunDir(dir)
	if err != nil {
		return nil, err
	}
	// The runs' temporary files of saves a kill cut short go too.
	runs, _ := filepath.Glob(filepath.Join(dir, "runs", "*"))
	for _, sub := range runs {
		if st, err := os.Lstat(sub); err != nil || !st.IsDir() {
			continue
		}
		if err := cleanRunDir(sub, false, nil, nil, nil); err != nil {
			release()
			return nil, err
		}
	}
	return release, nil
}

// sweepConfig reads a sweep's depths and norms and checks the model at
// each and the training flags (encoder: as many encoder layers).
func sweepConfig(mf *modelFlags, o *trainOpts, depthsS, normsS string, encoder bool) ([]int, []string, error) {
	depths, err := parseDepths("depths", depthsS)
	if err != nil {
		return nil, nil, err
	}
	norms, err := parseNorms("norms", normsS)
	if err != nil {
		return nil, nil, err
	}
	mf.cfg.Layers, mf.cfg.Norm = depths[0], norms[0]
	if encoder {
		mf.cfg.EncoderLayers = depths[0]
	}
	cfg, err := mf.config()
	if err != nil {
		return nil, nil, err
	}
	if err := checkDepths(cfg, depths, norms); err != nil {
		return nil, nil, err
	}
	o.Model = cfg
	if o.AdminInit != "profile" {
		if !slices.Contains(norms, model.Admin) {
			return nil, nil, usagef("--admin-init needs admin in --norms")
		}
		o.Model.Norm = model.Admin
	}
	if err := o.check(); err != nil {
		return nil, nil, err
	}
	o.Model = cfg
	return depths, norms, nil
}

// sweep is the experiment's part of a sweep run from the command line:
// its runs stop cleanly on a signal (cli), its log is stderr.
func (o *trainOpts) sweep(depths []int, norms []string, cont bool, args []string, stderr io.Writer) experiment.Sweep {
	o.cli(io.Discard, io.Discard)
	return experiment.Sweep{Job: o.Job, Depths: depths, Norms: norms, Continue: cont, Command: commandLine("sweep", args), Log: stderr}
}
