package main

import (
	"io"

	"github.com/clinic-ml/clinic/internal/experiment"
	"github.com/clinic-ml/clinic/model"
)

func runAnalyzeDependency(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("analyze dependency", "Residual dependency (Liu et al. 2020, §4.1; Transformer-Clinic's plot_variance): for\nthe input of every sublayer i, the share of its variance contributed by the embedding\nand by each earlier residual branch j, carried through every LayerNorm (γ, 1/σ) and\nω; each row sums to 1. At initialization (Admin's ω profiled on the batch) for each\nnorm in --norms, or for --checkpoint; dropout off; shares averaged over --seeds.\nWith --task translate, the encoder and the decoder each on its own (heat maps\ndependency_<norm>_<encoder|decoder>).\nWrites dependency.csv, dependency_<norm>.png/.svg (heat maps) and report.md.", stdout)
	var mf modelFlags
	var af analyzeFlags
	mf.register(fs)
	af.register(fs, "dependency", args)
	normsS := fs.String("norms", "postln,preln,admin", "comma-separated variants: "+model.NormList)
	seeds := fs.Int("seeds", 1, "batches (and, at initialization, weights) to average the shares over")
	ckpt := fs.String("checkpoint", "", "analyze this trained model instead (model.safetensors from 'clinic train')")
	a, trained, err := parseModelSource("dependency", fs, args, &mf, &af, normsS, seeds, ckpt, stderr)
	if err != nil {
		return err
	}
	defer a.Pool.Close()
	return printSummary(stdout)((&experiment.Dependency{Analysis: a, Trained: trained, Checkpoint: *ckpt}).Run())
}
