package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strconv"

	"github.com/clinic-ml/clinic/admin"
	"github.com/clinic-ml/clinic/internal/plot"
	"github.com/clinic-ml/clinic/model"
	"github.com/spf13/pflag"
)

// shapeFlags are the modelFlags a checkpoint overrides.
var shapeFlags = []string{"layers", "d-model", "heads", "d-ff", "seq-len", "norm", "activation",
	"dropout", "attn-dropout", "act-dropout", "label-smoothing"}

// checkpointConflict rejects model flags given together with --checkpoint
// (which takes the model from the file), --norms included.
func checkpointConflict(fs *pflag.FlagSet) error {
	for _, n := range append(shapeFlags, "norms") {
		if fs.Changed(n) {
			return usagef("--%s does not apply with --checkpoint, which takes the model from the file", n)
		}
	}
	return nil
}

// loadForAnalysis reads a checkpoint for an analysis.
func loadForAnalysis(path string) (*model.Params, error) {
	if err := fileExists(path); err != nil {
		return nil, err
	}
	p, _, err := model.LoadCheckpoint(path)
	if err == nil && p.Cfg.EncoderLayers > 0 {
		return nil, fmt.Errorf("%s is an encoder–decoder translator; the analyses run on language models", path)
	}
	return p, err
}

// gradRun is the gradient norms of one model variant, averaged over
// seeds.
type gradRun struct {
	source, norm string
	cfg          model.Config
	per          [][]float64 // [seed][k]
}

func runAnalyzeGrads(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("analyze grads", "Gradient norm at each sublayer's output (Liu et al. 2020, §3): ‖∂L/∂x_{k+1}‖_F over\none batch, dropout off, for every sublayer k, at initialization (Admin's ω profiled\non the batch) for each norm in --norms, or, with --checkpoint, for a trained model\nand for a fresh initialization of the same model. Mean over --seeds batches.\nWrites grads.csv, grads_<norm>.png/.svg and report.md.", stdout)
	var mf modelFlags
	var af analyzeFlags
	mf.register(fs)
	af.register(fs, "grads")
	normsS := fs.String("norms", "postln,preln,admin", "comma-separated variants: "+model.NormList)
	seeds := fs.Int("seeds", 3, "batches (and, at initialization, weights) to average over")
	ckpt := fs.String("checkpoint", "", "also analyze this trained model (model.safetensors from 'clinic train')")
	setDefault(fs, "seq-len", "64")
	setDefault(fs, "layers", "12")
	src, err := parseModelSource(fs, args, &mf, &af, normsS, seeds, ckpt)
	if err != nil {
		return err
	}
	trained, base, norms, bs, pool := src.trained, src.base, src.norms, src.batches, src.pool
	defer pool.Close()
	threads := pool.Threads()

	var runs []*gradRun
	for _, norm := range norms {
		cfg := base
		cfg.Norm = norm
		r := &gradRun{source: "init", norm: norm, cfg: cfg}
		for i := 0; i < *seeds; i++ {
			s := af.seed + uint64(i)
			b, err := bs.get(cfg.SeqLen, s)
			if err != nil {
				return err
			}
			m, err := admin.NewModel(cfg, s, b)
			if err != nil {
				return err
			}
			m.SetPool(pool)
			g, err := admin.SublayerGradNorms(m, b)
			if err != nil {
				return err
			}
			r.per = append(r.per, g.Norm)
		}
		runs = append(runs, r)
	}
	if trained != nil {
		r := &gradRun{source: "checkpoint", norm: base.Norm, cfg: base}
		m, err := model.New(trained, af.batch, af.seed)
		if err != nil {
			return err
		}
		m.SetPool(pool)
		for i := 0; i < *seeds; i++ {
			b, err := bs.get(base.SeqLen, af.seed+uint64(i))
			if err != nil {
				return err
			}
			g, err := admin.SublayerGradNorms(m, b)
			if err != nil {
				return err
			}
			r.per = append(r.per, g.Norm)
		}
		runs = append(runs, r)
	}

	rep, err := newReport(af.out, "Gradient norm at each sublayer's output")
	if err != nil {
		return err
	}
	rep.para("Command: `%s`", commandLine("grads", args))
	what := fmt.Sprintf("%d-layer models (%s) at initialization (Admin's ω profiled on the batch)", base.Layers, shapeText(base))
	if trained != nil {
		what = fmt.Sprintf("the %s checkpoint %s (%d layers, %s) and a fresh initialization of the same model", base.Norm, filepath.Base(*ckpt), base.Layers, shapeText(base))
	}
	rep.para("For %s: the gradient of the mean loss (nats per byte, label smoothing %g) with respect to the output of every sublayer k, ‖∂L/∂x_{k+1}‖_F over a batch of %d×%d bytes from %s, dropout off. x_{k+1} is the sublayer's LayerNorm output for postln, admin and deepnorm and the stream after the residual add for preln, rezero and tfixup. Mean over %d seeds (seed %d onwards), %d worker thread(s).",
		what, base.LabelSmoothing, af.batch, base.SeqLen, bs.source, *seeds, af.seed, threads)
	rep.para("Liu et al. (2020, §3) find that Post-LN's decoder suffers gradient vanishing towards its input, but argue that this is not what makes deep Post-LN fail: Adam's update hardly depends on the scale of the gradient (§3.3), and the amplification effect (analysis change) is the cause (§4).")

	header := []string{"source", "norm", "layers", "k", "layer", "sublayer", "seeds", "mean", "std"}
	var rows [][]string
	theader := []string{"layer"}
	var tcols [][]float64
	for _, r := range runs {
		n := r.cfg.Sublayers()
		means := make([]float64, n)
		for k := 0; k < n; k++ {
			var vs []float64
			for _, p := range r.per {
				vs = append(vs, p[k])
			}
			mean, std := admin.MeanStd(vs)
			means[k] = mean
			kind := "attn"
			if k%2 == 1 {
				kind = "ffn"
			}
			rows = append(rows, []string{r.source, r.norm, strconv.Itoa(r.cfg.Layers), strconv.Itoa(k), strconv.Itoa(k / 2), kind, strconv.Itoa(len(vs)), num(mean), num(std)})
		}
		name := r.norm
		if trained != nil {
			name = r.source
		}
		theader = append(theader, name+" attn", name+" ffn")
		tcols = append(tcols, means)
	}
	var trows [][]string
	for l := 0; l < base.Layers; l++ {
		row := []string{strconv.Itoa(l)}
		for _, c := range tcols {
			row = append(row, short(c[2*l]), short(c[2*l+1]))
		}
		trows = append(trows, row)
	}
	if err := rep.csv("grads.csv", header, rows); err != nil {
		return err
	}
	rep.table(theader, trows)
	for _, norm := range norms {
		chart := &plot.LineChart{Title: fmt.Sprintf("%s: gradient norm at each sublayer's output", norm), XLabel: "layer",
			YLabel: "‖∂L/∂(sublayer output)‖", LogY: true, XTicks: layerTicks(base.Layers)}
		for ri, r := range runs {
			if r.norm != norm {
				continue
			}
			color := normColor(norm)
			if trained != nil {
				color = ri
			}
			for kind, kname := range []string{"attention", "FFN"} {
				s := plot.Series{Label: kname, Color: color, Dash: kind, Points: true}
				if trained != nil {
					s.Label = r.source + " " + kname
				}
				for k := kind; k < r.cfg.Sublayers(); k += 2 {
					mean, _ := admin.MeanStd(column(r.per, k))
					s.X, s.Y = append(s.X, float64(k/2)), append(s.Y, mean)
				}
				chart.Series = append(chart.Series, s)
			}
		}
		names, err := chart.Save(af.out, "grads_"+norm)
		if err != nil {
			return err
		}
		rep.figure(names, norm+" gradient norms")
		rep.dropped(chart.Dropped)
	}
	return rep.finish(stdout, theader, trows)
}

func column(m [][]float64, k int) []float64 {
	var c []float64
	for _, r := range m {
		c = append(c, r[k])
	}
	return c
}

// layerTicks are integer layer indices 0..layers-1, at most about 12.
func layerTicks(layers int) []float64 {
	step := (layers + 11) / 12
	var t []float64
	for l := 0; l < layers; l += step {
		t = append(t, float64(l))
	}
	return t
}
