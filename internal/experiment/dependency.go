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
	deps := map[string]*admin.Dependency{}
	for _, norm := range d.Norms {
		avg, err := d.average(norm)
		if err != nil {
			return nil, err
		}
		deps[norm] = avg
	}
	return d.report(deps)
}

// average is norm's shares averaged over the seeds.
func (d *Dependency) average(norm string) (*admin.Dependency, error) {
	cfg := d.Base
	cfg.Norm = norm
	var avg *admin.Dependency
	var m *model.Model
	for i := 0; i < d.Seeds; i++ {
		s := d.Seed + uint64(i)
		b, err := d.Batches.Get(cfg.SeqLen, s)
		if err != nil {
			return nil, err
		}
		if d.Trained != nil {
			if m == nil {
				if m, err = model.New(d.Trained, d.Batch, d.Seed); err != nil {
					return nil, err
				}
			}
		} else if m, err = admin.NewModel(cfg, s, b); err != nil {
			return nil, err
		}
		m.SetPool(d.Pool)
		dep, err := admin.ResidualDependency(m, b)
		if err != nil {
			return nil, err
		}
		if avg == nil {
			avg = dep
			continue
		}
		for r := range dep.Share {
			for c := range dep.Share[r] {
				avg.Share[r][c] += dep.Share[r][c]
			}
		}
	}
	for r := range avg.Share {
		for c := range avg.Share[r] {
			avg.Share[r][c] /= float64(d.Seeds)
		}
	}
	return avg, nil
}

func (d *Dependency) report(deps map[string]*admin.Dependency) (*Summary, error) {
	rep, err := NewReport(d.Out, "Residual dependency")
	if err != nil {
		return nil, err
	}
	rep.Para("Command: `%s`", d.Command)
	what := fmt.Sprintf("%d-layer models (%s) at initialization (Admin's ω profiled on the batch)", d.Base.Layers, ShapeText(d.Base))
	if d.Trained != nil {
		what = fmt.Sprintf("the %s checkpoint %s (%d layers, %s)", d.Base.Norm, filepath.Base(d.Checkpoint), d.Base.Layers, ShapeText(d.Base))
	}
	rep.Para("For %s, on a batch of %d×%d bytes from %s, dropout off, averaged over %d seed(s) (seed %d onwards), %d worker thread(s).",
		what, d.Batch, d.Base.SeqLen, d.Batches.Source, d.Seeds, d.Seed, d.Pool.Threads())
	rep.Para("The stream is split exactly into components: x_0 (the embedding) and each branch output b_j, carried through every later sublayer. For postln, admin and deepnorm, x_{k+1} = γ_k ⊙ (ω_k ⊙ x_k + b_k − μ_k)/σ_k + β_k (ω = 1 for postln, DeepNorm's constant α for deepnorm; μ, σ per token), so every component already in x_k is multiplied by γ_k·ω_k/σ_k and centred, and b_k joins it multiplied by γ_k/σ_k; the LayerNorm biases β form one more component (zero at initialization). For preln, x_{k+1} = x_k + b_k, and the input that sublayer i's branch reads is LN_i(x_i) (the final LayerNorm for the output row), which applies γ_i/σ_i to every component. For rezero and tfixup, x_{k+1} = x_k + b_k (b_k = α_k·F_k for rezero) with no LayerNorm: every component is carried unchanged and sublayer i reads x_i itself. Row i, column j holds V_{i,j} / Σ_j' V_{i,j'}, where V_{i,j} is the variance over channels of component j in the input of sublayer i, averaged over tokens: the share of that input's variance that component j contributes (the β_{i,j} of Liu et al. 2020, §4.1, as a share of variance). Each row sums to 1 by construction.")
	rep.Para("What to look for: in Post-LN the newest branches dominate each input and older components fade geometrically, since every LayerNorm divides the whole sum by its standard deviation: each layer depends heavily on its own residual branch, which is what amplifies a small change of the parameters through depth (Liu et al. 2020, §4.1). In Pre-LN every branch keeps its share, so the newest one's share falls roughly like 1/i and the embedding stays visible at the top. Admin's ω (the running output standard deviation found by profiling) makes a Post-LN stack behave like Pre-LN at initialization. Gray cells: components that do not exist yet.")

	var rows [][]string
	theader := []string{"input"}
	for _, norm := range d.Norms {
		theader = append(theader, norm+" emb", norm+" newest")
	}
	n := d.Base.Sublayers()
	var trows [][]string
	for i := 1; i <= n; i++ {
		trow := []string{deps[d.Norms[0]].RowLabels[i-1]}
		for _, norm := range d.Norms {
			sh := deps[norm].Share[i-1]
			trow = append(trow, fmt.Sprintf("%.3f", sh[0]), fmt.Sprintf("%.3f", sh[i]))
		}
		trows = append(trows, trow)
	}
	for _, norm := range d.Norms {
		r, err := d.Figure(rep, deps[norm], norm)
		if err != nil {
			return nil, err
		}
		rows = append(rows, r...)
	}
	rep.Para("Shares of the embedding (emb) and of the newest branch (the branch of sublayer i−1) in the input of sublayer i:")
	rep.Table(theader, trows)
	if err := rep.CSV("dependency.csv", []string{"norm", "row", "input", "component", "component_name", "share"}, rows); err != nil {
		return nil, err
	}
	return rep.Finish(theader, trows)
}

// figure draws norm's heat map and returns its CSV rows.
func (d *Dependency) Figure(rep *Report, dep *admin.Dependency, norm string) ([][]string, error) {
	n := d.Base.Sublayers()
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
				rows = append(rows, []string{norm, strconv.Itoa(i), dep.RowLabels[i-1], strconv.Itoa(j), dep.ColLabels[j], Num(sh[j])})
			}
		}
		rows = append(rows, []string{norm, strconv.Itoa(i), dep.RowLabels[i-1], strconv.Itoa(n + 1), dep.ColLabels[n+1], Num(sh[n+1])})
		if hasBias {
			zr = append(zr, sh[n+1])
		}
		z = append(z, zr)
	}
	cols := dep.ColLabels[:n+1]
	if hasBias {
		cols = dep.ColLabels
	}
	hm := &plot.HeatMap{Title: norm + ": share of each component in each sublayer's input", XLabel: "component (embedding, then branch of sublayer j)",
		YLabel: "input of sublayer i", Z: z, RowLabels: dep.RowLabels, ColLabels: cols, Min: 0, Max: 1}
	names, err := hm.Save(d.Out, "dependency_"+norm)
	if err != nil {
		return nil, err
	}
	rep.Figure(names, norm+" residual dependency")
	return rows, nil
}
