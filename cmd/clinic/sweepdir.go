package main

import (
	"io"
	"slices"

	"github.com/clinic-ml/clinic/internal/experiment"
	"github.com/clinic-ml/clinic/internal/rundir"
	"github.com/clinic-ml/clinic/model"
	"github.com/spf13/pflag"
)

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

// openSweepDir locks the sweep directory dir (rundir.OpenSweep) with
// the sweep's flags fs.
func openSweepDir(fs *pflag.FlagSet, dir string, cont, overwrite bool, keep ...string) (func(), error) {
	return rundir.OpenSweep(dir, sweepFlags(fs), cont, overwrite, keep...)
}

// sweepConfig reads a sweep's depths and norms and checks the model at
// each and the training flags (encoder: as many encoder layers).
func sweepConfig(mf *modelFlags, o *trainOpts, depthsS, normsS string, encoder bool) ([]int, []string, error) {
	depths, err := experiment.ParseDepths("depths", depthsS)
	if err != nil {
		return nil, nil, err
	}
	norms, err := experiment.ParseNorms("norms", normsS)
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
	if err := experiment.CheckDepths(cfg, depths, norms); err != nil {
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
	return experiment.Sweep{Job: o.Job, Depths: depths, Norms: norms, Continue: cont, Command: experiment.CommandLine("sweep", args), Log: stderr}
}
