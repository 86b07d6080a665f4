package experiment

import (
	"fmt"
	"math"
	"path/filepath"
	"strconv"

	"github.com/clinic-ml/clinic/admin"
	"github.com/clinic-ml/clinic/internal/plot"
	"github.com/clinic-ml/clinic/model"
)

// Dependency is the residual dependency (Liu et al. 2020, §4.1;
// Transformer-Clinic's plot_variance): for the input of every sublayer
// i, the share of its variance contributed by the embedding and by each
// earlier residual branch j, at initialization for each norm or for
// Trained (the checkpoint Checkpoint); dropout off; shares averaged over
// seeds.
type Dependency struct {
	Analysis
	Trained    *model.Params
	Checkpoint string
}

// Run measures and writes the report.
func (d *Dependency) Run() (*Summary, error) {
	deps := map[string][]*admin.Dependency{}
	for _, norm := range d.Norms {
		avg, err := d.average(norm)
		if err != nil {
			return nil, err
		}
		deps[norm] = avg
	}
	return d.report(deps)
}

// average is norm's shares of each stack averaged over the seeds.
func (d *Dependency) average(norm string) ([]*admin.Dependency, error) {
	cfg := d.Base
	cfg.Norm = norm
	var avg []*admin.Dependency
	for i := 0; i < d.Seeds; i++ {
		s := d.Seed + uint64(i)
		var n *admin.Net
		var err error
		if d.Trained != nil {
			n, err = d.Data.Trained(d.Trained, s, d.Pool)
		} else {
			n, err = d.Data.Fresh(cfg, s, d.Pool)
		}
		if err != nil {
			return nil, err
		}
		deps, err := admin.ResidualDependency(n)
		if err != nil {
			return nil, err
		}
		if avg == nil {
			avg = deps
			continue
		}
		for si, dep := range deps {
			for r := range dep.Share {
				for c := range dep.Share[r] {
					avg[si].Share[r][c] += dep.Share[r][c]
				}
			}
		}
	}
	for _, a := range avg {
		for r := range a.Share {
			for c := range a.Share[r] {
				a.Share[r][c] /= float64(d.Seeds)
			}
		}
	}
	return avg, nil
}

func (d *Dependency) report(deps map[string][]*admin.Dependency) (*Summary, error) {
	rep, err := NewReport(d.Out, "Residual dependency")
	if err != nil {
		return nil, err
	}
	rep.Para("Command: `%s`", d.Command)
	what := fmt.Sprintf("%s (%s) at initialization (Admin's ω profiled on the batch)", ModelsText(d.Base), ShapeText(d.Base))
	if d.Trained != nil {
		what = fmt.Sprintf("the %s checkpoint %s (%s, %s)", d.Base.Norm, filepath.Base(d.Checkpoint), LayersText(d.Base), ShapeText(d.Base))
	}
	rep.Para("For %s, on %s, dropout off, averaged over %d seed(s) (seed %d onwards), %d worker thread(s).",
		what, d.Data.Batch(d.Base), d.Seeds, d.Seed, d.Pool.Threads())
	rep.Para("The stream is split exactly into components: x_0 (the embedding) and each branch output b_j, carried through every later sublayer. For postln, admin and deepnorm, x_{k+1} = γ_k ⊙ (ω_k ⊙ x_k + b_k − μ_k)/σ_k + β_k (ω = 1 for postln, DeepNorm's constant α for deepnorm; μ, σ per token), so every component already in x_k is multiplied by γ_k·ω_k/σ_k and centred, and b_k joins it multiplied by γ_k/σ_k; the LayerNorm biases β form one more component (zero at initialization). For preln, x_{k+1} = x_k + b_k, and the input that sublayer i's branch reads is LN_i(x_i) (the final LayerNorm for the output row), which applies γ_i/σ_i to every component. For rezero and tfixup, x_{k+1} = x_k + b_k (b_k = α_k·F_k for rezero) with no LayerNorm: every component is carried unchanged and sublayer i reads x_i itself. Row i, column j holds V_{i,j} / Σ_j' V_{i,j'}, where V_{i,j} is the variance over channels of component j in the input of sublayer i, averaged over tokens: the share of that input's variance that component j contributes (the β_{i,j} of Liu et al. 2020, §4.1, as a share of variance). Each row sums to 1 by construction.")
	if len(deps[d.Norms[0]]) > 1 {
		rep.Para("A translator has two stacks, each split on its own: the encoder's components are its embedding and its branches; the decoder's are its embedding and its self-attention, cross-attention (which brings in the encoder's output) and FFN branches. The variances are taken over the batch's real tokens only.")
	}
	rep.Para("What to look for: in Post-LN the newest branches dominate each input and older components fade geometrically, since every LayerNorm divides the whole sum by its standard deviation: each layer depends heavily on its own residual branch, which is what amplifies a small change of the parameters through depth (Liu et al. 2020, §4.1). In Pre-LN every branch keeps its share, so the newest one's share falls roughly like 1/i and the embedding stays visible at the top. Admin's ω (the running output standard deviation found by profiling) makes a Post-LN stack behave like Pre-LN at initialization. Gray cells: components that do not exist yet.")

	var rows, trows [][]string
	var theader []string
	for si := range deps[d.Norms[0]] {
		name := deps[d.Norms[0]][si].Stack
		multi := len(deps[d.Norms[0]]) > 1
		th := []string{"input"}
		if multi {
			th = []string{"stack", "input"}
		}
		for _, norm := range d.Norms {
			th = append(th, norm+" emb", norm+" newest")
		}
		n := deps[d.Norms[0]][si].Sublayers
		var strows [][]string
		for i := 1; i <= n; i++ {
			trow := []string{deps[d.Norms[0]][si].RowLabels[i-1]}
			for _, norm := range d.Norms {
				sh := deps[norm][si].Share[i-1]
				trow = append(trow, fmt.Sprintf("%.3f", sh[0]), fmt.Sprintf("%.3f", sh[i]))
			}
			strows = append(strows, trow)
			if multi {
				trow = append([]string{name}, trow...)
			}
			trows = append(trows, trow)
		}
		theader = th
		if multi {
			rep.Heading("The " + name)
		}
		for _, norm := range d.Norms {
			r, err := d.Figure(rep, deps[norm][si], norm, multi)
			if err != nil {
				return nil, err
			}
			rows = append(rows, r...)
		}
		rep.Para("Shares of the embedding (emb) and of the newest branch (the branch of sublayer i−1) in the input of sublayer i:")
		rep.Table(th[len(th)-2*len(d.Norms)-1:], strows)
	}
	if err := rep.CSV("dependency.csv", []string{"norm", "row", "input", "component", "component_name", "share", "stack"}, rows); err != nil {
		return nil, err
	}
	return rep.Finish(theader, trows)
}

// Figure draws norm's heat map of one stack (named for it when the
// model has several) and returns its CSV rows.
func (d *Dependency) Figure(rep *Report, dep *admin.Dependency, norm string, named bool) ([][]string, error) {
	n := dep.Sublayers
	var rows [][]string
	hasBias := false
	for _, r := range dep.Share {
		hasBias = hasBias || r[n+1] > 0
	}
	var z [][]float64
	for i := 1; i <= n; i++ {
		sh := dep.Share[i-1]
		zr := make([]float64, n+1)
		for j := range zr {
			zr[j] = math.NaN()
			if j <= i {
				zr[j] = sh[j]
				rows = append(rows, []string{norm, strconv.Itoa(i), dep.RowLabels[i-1], strconv.Itoa(j), dep.ColLabels[j], Num(sh[j]), dep.Stack})
			}
		}
		rows = append(rows, []string{norm, strconv.Itoa(i), dep.RowLabels[i-1], strconv.Itoa(n + 1), dep.ColLabels[n+1], Num(sh[n+1]), dep.Stack})
		if hasBias {
			zr = append(zr, sh[n+1])
		}
		z = append(z, zr)
	}
	cols := dep.ColLabels[:n+1]
	if hasBias {
		cols = dep.ColLabels
	}
	title, file := norm+": share of each component in each sublayer's input", "dependency_"+norm
	if named {
		title, file = norm+" "+dep.Stack+": share of each component in each sublayer's input", file+"_"+dep.Stack
	}
	hm := &plot.HeatMap{Title: title, XLabel: "component (embedding, then branch of sublayer j)",
		YLabel: "input of sublayer i", Z: z, RowLabels: dep.RowLabels, ColLabels: cols, Min: 0, Max: 1}
	names, err := hm.Save(d.Out, file)
	if err != nil {
		return nil, err
	}
	rep.Figure(names, norm+" "+dep.Stack+" residual dependency")
	return rows, nil
}
