package main

import (
	"io"
	"math"
	"slices"

	"github.com/clinic-ml/clinic/internal/experiment"
	"github.com/clinic-ml/clinic/internal/limits"
	"github.com/clinic-ml/clinic/model"
)

func runAnalyzeChange(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("analyze change", "Output change against depth (Liu et al. 2020, §4): at initialization (Admin's ω\nprofiled on the batch), dropout off, move every weight matrix of the layers by ε\n(random sign, or against the sign of the gradient), run the same batch again and\nreport ‖F(x,W) − F(x,W*)‖_F of the stack's output; mean and spread over --seeds\nseeds. With --task translate, on encoder–decoders of --depths layers a side: the\nencoder's and the decoder's output, each with its own matrices moved, and the\ndecoder's with all moved (figures change_<mode>_<encoder|decoder|model>).\nWrites change.csv, change_seeds.csv, change_<mode>.png/.svg and report.md.", stdout)
	var mf modelFlags
	var af analyzeFlags
	mf.register(fs)
	af.register(fs, "change", args)
	depthsS := fs.String("depths", "6,12,24,48", "comma-separated numbers of layers")
	normsS := fs.String("norms", "postln,preln,admin", "comma-separated variants: "+model.NormList)
	seeds := fs.Int("seeds", 3, "seeds per point (weights, batch and signs differ)")
	eps := fs.Float64("eps", 1e-4, "size ε of the perturbation of each weight")
	modesS := fs.String("modes", "random,grad", "perturbations: random (±ε, random sign), grad (−ε·sign of the gradient), or both")
	embed := fs.Bool("perturb-embedding", false, "also perturb the embedding matrix (the paper perturbs the layers only)")
	hidden := []hiddenFlag{{"layers", "--depths"}, {"encoder-layers", "--depths (layers on each side)"}, {"norm", "--norms"}}
	hideFlags(fs, hidden...)
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := checkHidden(fs, hidden...); err != nil {
		return err
	}
	depths, err := experiment.ParseDepths("depths", *depthsS)
	if err != nil {
		return err
	}
	norms, err := experiment.ParseNorms("norms", *normsS)
	if err != nil {
		return err
	}
	modes, err := experiment.ParseModes(*modesS)
	if err != nil {
		return err
	}
	if err := limits.CheckSize("seeds", *seeds, 1, limits.MaxRepeats); err != nil {
		return err
	}
	if !(*eps > 0) || math.IsInf(*eps, 0) {
		return usagef("--eps must be positive, got %g", *eps)
	}
	if err := af.check(); err != nil {
		return err
	}
	mf.cfg.Layers, mf.cfg.Norm = depths[0], norms[0]
	base, err := mf.config()
	if err != nil {
		return err
	}
	if err := experiment.CheckDepths(base, depths, norms); err != nil {
		return err
	}
	bs, err := af.data(fs, &base, nil, "", stderr)
	if err != nil {
		return err
	}
	deepest := base
	bs.SetDepth(&deepest, slices.Max(depths))
	if err := bs.Fits(deepest); err != nil {
		return err
	}
	pool, err := af.sh.pool()
	if err != nil {
		return err
	}
	defer pool.Close()
	c := &experiment.Change{Analysis: af.analysis(base, norms, *seeds, bs, pool, "change", args, stderr),
		Depths: depths, Modes: modes, Eps: *eps, Embedding: *embed}
	return printSummary(stdout)(c.Run())
}
