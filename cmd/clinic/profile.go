package main

import (
	"fmt"
	"io"

	"github.com/clinic-ml/clinic/admin"
	"github.com/clinic-ml/clinic/internal/fileutil"
	"github.com/clinic-ml/clinic/internal/limits"
	"github.com/clinic-ml/clinic/internal/rundir"
	"github.com/clinic-ml/clinic/internal/task/lm"
	"github.com/clinic-ml/clinic/model"
)

func runProfile(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("profile", "Run Admin's profiling on one training batch (dropout on) and save the ω\nprofile, which 'clinic train --norm admin --admin-profile FILE' loads.", stdout)
	var mf modelFlags
	mf.register(fs)
	batch := fs.Int("batch-size", 16, "sequences in the profiling batch")
	seed := fs.Uint64("seed", 1, "random seed (weights, batch, dropout)")
	var sh shared
	sh.take(fs, "threads", "data")
	valFrac := fs.Float64("val-frac", 0.01, "fraction of the text held out (profiling reads the rest)")
	out := fs.String("out", "admin_profile.json", "where to write the profile")
	free := fs.Bool("free", false, "print and save admin-torch's profiling-free ω instead")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.Changed("norm") && mf.cfg.Norm != model.Admin {
		// it had been replaced by admin without a word
		return usagef("--norm %s: profiling is Admin's (--norm admin, the default here)", mf.cfg.Norm)
	}
	if err := fileutil.CheckOutput(*out); err != nil {
		return err
	}
	if err := rundir.NotInput("out", *out, rundir.WithTxt(sh.data)...); err != nil {
		return err
	}
	if err := fs.Set("norm", model.Admin); err != nil {
		return err
	}
	mf.cfg.Norm = model.Admin
	cfg, err := mf.config()
	if err != nil {
		return err
	}
	if err := limits.CheckSize("batch-size", *batch, 1, limits.MaxBatch); err != nil {
		return err
	}
	if !(*valFrac > 0 && *valFrac < 1) {
		return usagef("--val-frac must be in (0,1), got %g", *valFrac)
	}
	if err := limits.CheckModelFits("profiling this model", cfg, nil, *batch); err != nil {
		return err
	}
	if err := limits.CheckThreads(sh.threads); err != nil {
		return err
	}
	pool, err := sh.pool()
	if err != nil {
		return err
	}
	defer pool.Close()
	var pr *admin.Profile
	if *free {
		pr = admin.Free(cfg)
	} else if pr, err = lm.Profile(cfg, *batch, *seed, sh.data, *valFrac, pool); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Admin ω (%s) for %d layers, d%d:\n", pr.Method, cfg.Layers, cfg.DModel)
	fmt.Fprintf(stdout, "%-6s %-10s %s\n", "layer", "sublayer", "ω")
	for k, w := range pr.Omega {
		fmt.Fprintf(stdout, "%-6d %-10s %.6f\n", k/2, [2]string{"attention", "ffn"}[k%2], w)
	}
	if err := pr.Save(*out); err != nil {
		return fmt.Errorf("writing %s: %v", *out, err)
	}
	fmt.Fprintf(stdout, "saved %s\n", *out)
	return nil
}
