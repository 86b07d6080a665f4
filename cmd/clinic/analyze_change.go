package main

import (
	"fmt"
	"github.com/clinic-ml/clinic/asm"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/clinic-ml/clinic/admin"
	"github.com/clinic-ml/clinic/internal/plot"
	"github.com/clinic-ml/clinic/model"
)

// modeText describes a perturbation mode for reports.
var modeText = map[string]string{
	admin.PerturbRandom: "random sign: w* = w ± ε",
	admin.PerturbGrad:   "gradient sign: w* = w − ε·sign(∂L/∂w)",
}

func parseModes(s string) ([]string, error) {
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f != admin.PerturbRandom && f != admin.PerturbGrad {
			return nil, usagef("--modes: unknown mode %q (want random, grad or random,grad)", f)
		}
		if slices.Contains(out, f) {
			return nil, usagef("--modes lists %s twice", f)
		}
		out = append(out, f)
	}
	return out, nil
}

func runAnalyzeChange(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("analyze change", "Output change against depth (Liu et al. 2020, §4): at initialization (Admin's ω\nprofiled on the batch), dropout off, move every weight matrix of the layers by ε\n(random sign, or against the sign of the gradient), run the same batch again and\nreport ‖F(x,W) − F(x,W*)‖_F of the stack's output; mean and spread over --seeds\nseeds. Writes change.csv, change_seeds.csv, change_<mode>.png/.svg and report.md.", stdout)
	var mf modelFlags
	var af analyzeFlags
	mf.register(fs)
	af.register(fs, "change")
	depthsS := fs.String("depths", "6,12,24,48", "comma-separated numbers of layers")
	normsS := fs.String("norms", "postln,preln,admin", "comma-separated variants: "+model.NormList)
	seeds := fs.Int("seeds", 3, "seeds per point (weights, batch and signs differ)")
	eps := fs.Float64("eps", 1e-4, "size ε of the perturbation of each weight")
	modesS := fs.String("modes", "random,grad", "perturbations: random (±ε, random sign), grad (−ε·sign of the gradient), or both")
	embed := fs.Bool("perturb-embedding", false, "also perturb the embedding matrix (the paper perturbs the layers only)")
	setDefault(fs, "seq-len", "64")
	hidden := []hiddenFlag{{"layers", "--depths"}, {"norm", "--norms"}}
	hideFlags(fs, hidden...)
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := checkHidden(fs, hidden...); err != nil {
		return err
	}
	depths, err := parseDepths("depths", *depthsS)
	if err != nil {
		return err
	}
	norms, err := parseNorms("norms", *normsS)
	if err != nil {
		return err
	}
	modes, err := parseModes(*modesS)
	if err != nil {
		return err
	}
	if err := checkSize("seeds", *seeds, 1, maxRepeats); err != nil {
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
	if err := checkDepths(base, depths, norms); err != nil {
		return err
	}
	if err := checkModelFits("this analysis", base, depths, af.batch); err != nil {
		return err
	}
	bs, err := af.batches()
	if err != nil {
		return err
	}
	pool := asm.NewPool(af.threads)
	defer pool.Close()
	threads := pool.Threads()

	// vals[mode][norm][depth] = one value per seed
	vals := map[string]map[string]map[int][]float64{}
	for _, mode := range modes {
		vals[mode] = map[string]map[int][]float64{}
		for _, norm := range norms {
			vals[mode][norm] = map[int][]float64{}
		}
	}
	for _, norm := range norms {
		for _, depth := range depths {
			for i := 0; i < *seeds; i++ {
				s := af.seed + uint64(i)
				cfg := base
				cfg.Layers, cfg.Norm = depth, norm
				b, err := bs.get(cfg.SeqLen, s)
				if err != nil {
					return err
				}
				m, err := admin.NewModel(cfg, s, b)
				if err != nil {
					return err
				}
				m.SetPool(pool)
				for _, mode := range modes {
					v, err := admin.OutputChange(m, b, admin.ChangeOptions{Mode: mode, Eps: *eps, Seed: s, Embedding: *embed})
					if err != nil {
						return err
					}
					vals[mode][norm][depth] = append(vals[mode][norm][depth], v)
				}
			}
			fmt.Fprintf(stderr, "change: %s, %d layers done\n", norm, depth)
		}
	}

	rep, err := newReport(af.out, "Output change against depth")
	if err != nil {
		return err
	}
	rep.para("Command: `%s`", commandLine("change", args))
	pert := "every weight matrix of the layers (Wqkv, Wo, W1, W2; not the embedding, biases, LayerNorm parameters or ω)"
	if *embed {
		pert = "every weight matrix (the embedding and the layers' Wqkv, Wo, W1, W2; not biases, LayerNorm parameters or ω)"
	}
	rep.para("At initialization (%s; Admin's ω profiled on the same batch, as training does), dropout off, on one batch of %d×%d bytes from %s, %s moves by ε = %g, and the same batch runs again. The value is ‖F(x,W) − F(x,W*)‖_F over the whole batch, F the stack's output (the last sublayer's LayerNorm output for postln, admin and deepnorm, the final LayerNorm's output for preln, the stream after the last residual add for rezero and tfixup). Mean ± sample standard deviation over %d seeds (seed %d onwards: weights, batch and signs differ), %d worker thread(s).",
		shapeText(base), af.batch, base.SeqLen, bs.source, pert, *eps, *seeds, af.seed, threads)
	rep.para("Modes: %s.", strings.Join(func() []string {
		var s []string
		for _, m := range modes {
			s = append(s, "**"+m+"**, "+modeText[m])
		}
		return s
	}(), "; "))

	header := []string{"mode", "norm", "depth", "seeds", "mean", "std", "min", "max", "ratio_to_depth_" + strconv.Itoa(depths[0]), "rms_per_element"}
	// The per-element RMS of the change: LayerNorm outputs have unit
	// variance per element at initialization, so two unrelated outputs
	// differ by about √2.
	elems := math.Sqrt(float64(af.batch * base.SeqLen * base.DModel))
	maxRMS := 0.0
	var rows, seedRows [][]string
	theader := []string{"mode", "norm"}
	for _, d := range depths {
		theader = append(theader, fmt.Sprintf("L%d", d))
	}
	ratioName := fmt.Sprintf("ratio L%d/L%d", depths[len(depths)-1], depths[0])
	theader = append(theader, ratioName)
	var trows [][]string
	for _, mode := range modes {
		chart := &plot.LineChart{Title: "Output change at initialization (" + modeText[mode] + ")", XLabel: "layers",
			YLabel: "‖F(x,W) − F(x,W*)‖", LogX: true, LogY: true, XTicks: toFloats(depths), LegendLeft: true}
		var mrows [][]string
		for _, norm := range norms {
			trow := []string{mode, norm}
			s := plot.Series{Label: norm, Color: normColor(norm), Dash: normColor(norm), Points: true}
			m0, _ := admin.MeanStd(vals[mode][norm][depths[0]])
			var last float64
			for _, d := range depths {
				vs := vals[mode][norm][d]
				mean, std := admin.MeanStd(vs)
				lo, hi := math.Inf(1), math.Inf(-1)
				for i, v := range vs {
					lo, hi = math.Min(lo, v), math.Max(hi, v)
					seedRows = append(seedRows, []string{mode, norm, strconv.Itoa(d), strconv.FormatUint(af.seed+uint64(i), 10), num(v)})
				}
				rows = append(rows, []string{mode, norm, strconv.Itoa(d), strconv.Itoa(len(vs)), num(mean), num(std), num(lo), num(hi), num(mean / m0), num(mean / elems)})
				maxRMS = math.Max(maxRMS, mean/elems)
				trow = append(trow, fmt.Sprintf("%s ± %s", short(mean), short(std)))
				s.X, s.Y, s.YErr = append(s.X, float64(d)), append(s.Y, mean), append(s.YErr, std)
				last = mean
			}
			if m0 > 0 {
				trow = append(trow, fmt.Sprintf("%.2f", last/m0))
			} else {
				trow = append(trow, "–")
			}
			trows = append(trows, trow)
			mrows = append(mrows, trow[1:])
			chart.Series = append(chart.Series, s)
		}
		names, err := chart.Save(af.out, "change_"+mode)
		if err != nil {
			return err
		}
		rep.heading("Mode " + mode + ": " + modeText[mode])
		rep.table(theader[1:], mrows)
		rep.figure(names, "output change against depth, "+mode)
		rep.dropped(chart.Dropped)
	}
	rep.para("Per element, the largest mean change is %.3g (RMS over the batch: ‖F − F*‖_F / √(%d·%d·%d)). LayerNorm outputs have unit variance per element at initialization, so two unrelated outputs differ by about √2 ≈ 1.41: a value approaching that means the perturbation has scrambled the output and the growth with depth saturates; rerun with a smaller --eps.", maxRMS, af.batch, base.SeqLen, base.DModel)
	if slices.Contains(norms, model.ReZero) && !*embed {
		rep.para("ReZero starts with every α = 0: each sublayer is the identity, so its output does not depend on the layers' weights at all and the change is exactly 0 (left out of the log-scale figures). With --perturb-embedding it measures the embedding's share alone.")
	}
	rep.para("The paper's claim (Liu et al. 2020, §4): the squared output change grows O(N) with N layers for Post-LN and O(log N) for Pre-LN; Admin, which scales each shortcut by ω, behaves like Pre-LN at initialization. Read the ratio column: the growth from the shallowest to the deepest model.")
	if err := rep.csv("change.csv", header, rows); err != nil {
		return err
	}
	if err := rep.csv("change_seeds.csv", []string{"mode", "norm", "depth", "seed", "change"}, seedRows); err != nil {
		return err
	}
	return rep.finish(stdout, theader, trows)
}

func toFloats(xs []int) []float64 {
	f := make([]float64, len(xs))
	for i, x := range xs {
		f[i] = float64(x)
	}
	return f
}
