package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/clinic-ml/clinic/admin"
	"github.com/clinic-ml/clinic/asm"
	"github.com/clinic-ml/clinic/internal/data"
	"github.com/clinic-ml/clinic/model"
)

func runProfile(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("profile", "Run Admin's profiling on one training batch (dropout on) and save the ω\nprofile, which 'clinic train --norm admin --admin-profile FILE' loads.", stdout)
	var mf modelFlags
	mf.register(fs)
	batch := fs.Int("batch-size", 16, "sequences in the profiling batch")
	seed := fs.Uint64("seed", 1, "random seed (weights, batch, dropout)")
	threads := fs.Int("threads", 0, "worker threads (0: one per CPU)")
	dataPath := fs.String("data", "", "UTF-8 text file or folder of .txt files (default: built-in corpus)")
	valFrac := fs.Float64("val-frac", 0.01, "fraction of the text held out (profiling reads the rest)")
	out := fs.String("out", "admin_profile.json", "where to write the profile")
	free := fs.Bool("free", false, "print and save admin-torch's profiling-free ω instead")
	if err := parse(fs, args); err != nil {
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
	if err := checkPositive("batch-size", *batch); err != nil {
		return err
	}
	if *threads < 0 {
		return usagef("--threads must be ≥ 0, got %d", *threads)
	}
	asm.SetThreads(*threads)
	var pr *admin.Profile
	if *free {
		pr = admin.Free(cfg)
	} else {
		text, source, err := loadText(*dataPath)
		if err != nil {
			return err
		}
		trainText, _ := data.Split(text, *valFrac)
		ps, err := data.NewSampler(trainText, *batch, cfg.SeqLen, *seed^0xad317)
		if err != nil {
			return fmt.Errorf("text (%s): %v", source, err)
		}
		p, err := model.NewParams(cfg)
		if err != nil {
			return err
		}
		p.Init(*seed)
		m, err := model.New(p, *batch, *seed)
		if err != nil {
			return err
		}
		n := *batch * cfg.SeqLen
		tokens, targets := make([]int32, n), make([]int32, n)
		ps.Next(tokens, targets)
		if pr, err = admin.Run(m, tokens, *batch, cfg.SeqLen, *seed); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "Admin ω (%s) for %d layers, d%d:\n", pr.Method, cfg.Layers, cfg.DModel)
	fmt.Fprintf(stdout, "%-6s %-10s %s\n", "layer", "sublayer", "ω")
	for k, w := range pr.Omega {
		kind := "attention"
		if k%2 == 1 {
			kind = "ffn"
		}
		fmt.Fprintf(stdout, "%-6d %-10s %.6f\n", k/2, kind, w)
	}
	if err := pr.Save(*out); err != nil {
		return fmt.Errorf("writing %s: %v", *out, err)
	}
	fmt.Fprintf(stdout, "saved %s\n", *out)
	return nil
}

func profileJSON(pr *admin.Profile) string {
	b, _ := json.Marshal(pr)
	return string(b)
}
