package main

import (
	"io"

	"github.com/clinic-ml/clinic/internal/experiment"
)

func runAnalyzeGrads(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("analyze grads", "Gradient norm at each sublayer's output (Liu et al. 2020, §3): ‖∂L/∂x_{k+1}‖_F over\none batch, dropout off, for every sublayer k, at initialization (Admin's ω profiled\non the batch) for each norm in --norms, or, with --checkpoint, for a trained model\nand for a fresh initialization of the same model. Mean over --seeds batches.\nWrites grads.csv, grads_<norm>.png/.svg and report.md.", stdout)
	var mf modelFlags
	var af analyzeFlags
	mf.register(fs)
	af.register(fs, "grads")
	normsS := fs.String("norms", "postln,preln,admin", "comma-separated variants: postln, preln, admin, deepnorm, rezero, tfixup")
	seeds := fs.Int("seeds", 3, "batches (and, at initialization, weights) to average over")
	ckpt := fs.String("checkpoint", "", "also analyze this trained model (model.safetensors from 'clinic train')")
	setDefault(fs, "seq-len", "64")
	setDefault(fs, "layers", "12")
	src, err := parseModelSource(fs, args, &mf, &af, normsS, seeds, ckpt)
	if err != nil {
		return err
	}
	defer src.pool.Close()
	g := &experiment.Grads{Analysis: af.analysis(src.base, src.norms, *seeds, src.batches, src.pool, "grads", args, stderr),
		Trained: src.trained, Checkpoint: *ckpt}
	return printSummary(stdout)(g.Run())
}
