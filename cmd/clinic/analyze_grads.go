package main

import (
	"io"

	"github.com/clinic-ml/clinic/internal/experiment"
	"github.com/clinic-ml/clinic/internal/task"
	"github.com/clinic-ml/clinic/model"
)

func runAnalyzeGrads(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("analyze grads", "Gradient norm at each sublayer's output (Liu et al. 2020, §3): ‖∂L/∂x_{k+1}‖_F over\none batch, dropout off, for every sublayer k, at initialization (Admin's ω profiled\non the batch) for each norm in --norms, or, with --checkpoint, for a trained model\nand for a fresh initialization of the same model. Mean over --seeds batches.\nWith --task translate, the encoder's and the decoder's sublayers, on training\nbatches of --max-tokens (figures grads_<norm>_<encoder|decoder>).\nWrites grads.csv, grads_<norm>.png/.svg and report.md.", stdout)
	var mf modelFlags
	var af analyzeFlags
	mf.register(fs)
	af.register(fs, "grads", args)
	normsS := fs.String("norms", "postln,preln,admin", "comma-separated variants: "+model.NormList)
	seeds := fs.Int("seeds", 3, "batches (and, at initialization, weights) to average over")
	ckpt := fs.String("checkpoint", "", "also analyze this trained model (model.safetensors from 'clinic train')")
	task.SetDefault(fs, "layers", "12")
	a, trained, err := parseModelSource("grads", fs, args, &mf, &af, normsS, seeds, ckpt, stderr)
	if err != nil {
		return err
	}
	defer a.Pool.Close()
	return printSummary(stdout)((&experiment.Grads{Analysis: a, Trained: trained, Checkpoint: *ckpt}).Run())
}
