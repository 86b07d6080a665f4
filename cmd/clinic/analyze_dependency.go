package main

import (
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"

	"github.com/clinic-ml/clinic/admin"
	"github.com/clinic-ml/clinic/internal/plot"
	"github.com/clinic-ml/clinic/model"
)

func runAnalyzeDependency(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("analyze dependency", "Residual dependency (Liu et al. 2020, §4.1; Transformer-Clinic's plot_variance): for\nthe input of every sublayer i, the share of its variance contributed by the embedding\nand by each earlier residual branch j, carried through every LayerNorm (γ, 1/σ) and\nω; each row sums to 1. At initialization (Admin's ω profiled on the batch) for each\nnorm in --norms, or for --checkpoint; dropout off; shares averaged over --seeds.\nWrites dependency.csv, dependency_<norm>.png/.svg (heat maps) and report.md.", stdout)
	var mf modelFlags
	var af analyzeFlags
	mf.register(fs)
	af.register(fs, "dependency")
	normsS := fs.String("norms", "postln,preln,admin", "comma-separated variants: "+model.NormList)
	seeds := fs.Int("seeds", 1, "batches (and, at initialization, weights) to average the shares over")
	ckpt := fs.String("checkpoint", "", "analyze this trained model instead (model.safetensors from 'clinic train')")
	setDefault(fs, "seq-len", "64")
	src, err := parseModelSource(fs, args, &mf, &af, normsS, seeds, ckpt)
	if err != nil {
		return err
	}
	trained, base, norms, bs, pool := src.trained, src.base, src.norms, src.batches, src.pool
	defer pool.Close()
	threads := pool.Threads()

	deps := map[string]*admin.Dependency{}
	for _, norm := range norms {
		cfg := base
		cfg.Norm = norm
		var avg *admin.Dependency
		var m *model.Model
		for i := 0; i < *seeds; i++ {
			s := af.seed + uint64(i)
			b, err := bs.get(cfg.SeqLen, s)
			if err != nil {
				return err
			}
			if trained != nil {
				if m == nil {
					if m, err = model.New(trained, af.batch, af.seed); err != nil {
						return err
					}
				}
			} else if m, err = admin.NewModel(cfg, s, b); err != nil {
				return err
			}
			m.SetPool(pool)
			d, err := admin.ResidualDependency(m, b)
			if err != nil {
				return err
			}
			if avg == nil {
				avg = d
				continue
			}
			for r := range d.Share {
				for c := range d.Share[r] {
					avg.Share[r][c] += d.Share[r][c]
				}
			}
		}
		for r := range avg.Share {
			for c := range avg.Share[r] {
				avg.Share[r][c] /= float64(*seeds)
			}
		}
		deps[norm] = avg
	}

	rep, err := newReport(af.out, "Residual dependency")
	if err != nil {
		return err
	}
	rep.para("Command: `%s`", commandLine("dependency", args))
	what := fmt.Sprintf("%d-layer models (%s) at initialization (Admin's ω profiled on the batch)", base.Layers, shapeText(base))
	if trained != nil {
		what = fmt.Sprintf("the %s checkpoint %s (%d layers, %s)", base.Norm, filepath.Base(*ckpt), base.Layers, shapeText(base))
	}
	rep.para("For %s, on a batch of %d×%d bytes from %s, dropout off, averaged over %d seed(s) (seed %d onwards), %d worker thread(s).",
		what, af.batch, base.SeqLen, bs.source, *seeds, af.seed, threads)
	rep.para("The stream is split exactly into components: x_0 (the embedding) and each branch output b_j, carried through every later sublayer. For postln, admin and deepnorm, x_{k+1} = γ_k ⊙ (ω_k ⊙ x_k + b_k − μ_k)/σ_k + β_k (ω = 1 for postln, DeepNorm's constant α for deepnorm; μ, σ per token), so every component already in x_k is multiplied by γ_k·ω_k/σ_k and centred, and b_k joins it multiplied by γ_k/σ_k; the LayerNorm biases β form one more component (zero at initialization). For preln, x_{k+1} = x_k + b_k, and the input that sublayer i's branch reads is LN_i(x_i) (the final LayerNorm for the output row), which applies γ_i/σ_i to every component. For rezero and tfixup, x_{k+1} = x_k + b_k (b_k = α_k·F_k for rezero) with no LayerNorm: every component is carried unchanged and sublayer i reads x_i itself. Row i, column j holds V_{i,j} / Σ_j' V_{i,j'}, where V_{i,j} is the variance over channels of component j in the input of sublayer i, averaged over tokens: the share of that input's variance that component j contributes (the β_{i,j} of Liu et al. 2020, §4.1, as a share of variance). Each row sums to 1 by construction.")
	rep.para("What to look for: in Post-LN the newest branches dominate each input and older components fade geometrically, since every LayerNorm divides the whole sum by its standard deviation: each layer depends heavily on its own residual branch, which is what amplifies a small change of the parameters through depth (Liu et al. 2020, §4.1). In Pre-LN every branch keeps its share, so the newest one's share falls roughly like 1/i and the embedding stays visible at the top. Admin's ω (the running output standard deviation found by profiling) makes a Post-LN stack behave like Pre-LN at initialization. Gray cells: components that do not exist yet.")

	header := []string{"norm", "row", "input", "component", "component_name", "share"}
	var rows [][]string
	theader := []string{"input"}
	for _, norm := range norms {
		theader = append(theader, norm+" emb", norm+" newest")
	}
	n := base.Sublayers()
	var trows [][]string
	for i := 1; i <= n; i++ {
		trow := []string{deps[norms[0]].RowLabels[i-1]}
		for _, norm := range norms {
			sh := deps[norm].Share[i-1]
			trow = append(trow, fmt.Sprintf("%.3f", sh[0]), fmt.Sprintf("%.3f", sh[i]))
		}
		trows = append(trows, trow)
	}
	for _, norm := range norms {
		d := deps[norm]
		hasBias := false
		for _, r := range d.Share {
			hasBias = hasBias || r[n+1] > 0
		}
		var z [][]float64
		for i := 1; i <= n; i++ {
			sh := d.Share[i-1]
			zr := make([]float64, n+1)
			for j := range zr {
				zr[j] = math.NaN()
				if j <= i {
					zr[j] = sh[j]
					rows = append(rows, []string{norm, strconv.Itoa(i), d.RowLabels[i-1], strconv.Itoa(j), d.ColLabels[j], num(sh[j])})
				}
			}
			rows = append(rows, []string{norm, strconv.Itoa(i), d.RowLabels[i-1], strconv.Itoa(n + 1), d.ColLabels[n+1], num(sh[n+1])})
			if hasBias {
				zr = append(zr, sh[n+1])
			}
			z = append(z, zr)
		}
		cols := d.ColLabels[:n+1]
		if hasBias {
			cols = d.ColLabels
		}
		hm := &plot.HeatMap{Title: norm + ": share of each component in each sublayer's input", XLabel: "component (embedding, then branch of sublayer j)",
			YLabel: "input of sublayer i", Z: z, RowLabels: d.RowLabels, ColLabels: cols, Min: 0, Max: 1}
		names, err := hm.Save(af.out, "dependency_"+norm)
		if err != nil {
			return err
		}
		rep.figure(names, norm+" residual dependency")
	}
	rep.para("Shares of the embedding (emb) and of the newest branch (the branch of sublayer i−1) in the input of sublayer i:")
	rep.table(theader, trows)
	if err := rep.csv("dependency.csv", header, rows); err != nil {
		return err
	}
	return rep.finish(stdout, theader, trows)
}
