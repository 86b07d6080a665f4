package experiment

import (
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/clinic-ml/clinic/admin"
	"github.com/clinic-ml/clinic/internal/plot"
	"github.com/clinic-ml/clinic/model"
)

// Grads is the gradient norm at each sublayer's output (Liu et al.
// 2020, §3): ‖∂L/∂x_{k+1}‖_F over one batch, dropout off, for every
// sublayer k, at initialization for each norm, or, with Trained (the
// checkpoint Checkpoint), for a trained model and for a fresh
// initialization of the same model; mean over seeds.
type Grads struct {
	Analysis
	Trained    *model.Params
	Checkpoint string
}

// gradRun is the gradient norms of one model variant, averaged over
// seeds.
type gradRun struct {
	source, norm string
	cfg          model.Config
	per          [][]float64 // [seed][k]
}

// Run measures and writes the report.
func (g *Grads) Run() (*Summary, error) {
	var runs []*gradRun
	for _, norm := range g.Norms {
		cfg := g.Base
		cfg.Norm = norm
		r := &gradRun{source: "init", norm: norm, cfg: cfg}
		if err := g.measure(r, func(s uint64, b admin.Batch) (*model.Model, error) { return g.initModel(cfg, s, b) }); err != nil {
			return nil, err
		}
		runs = append(runs, r)
	}
	if g.Trained != nil {
		r, err := g.trained()
		if err != nil {
			return nil, err
		}
		runs = append(runs, r)
	}
	return g.report(runs)
}

// trained measures the checkpoint.
func (g *Grads) trained() (*gradRun, error) {
	base := g.Base
	r := &gradRun{source: "checkpoint", norm: base.Norm, cfg: base}
	m, err := model.New(g.Trained, g.Batch, g.Seed)
	if err != nil {
		return nil, err
	}
	m.SetPool(g.Pool)
	err = g.measure(r, func(uint64, admin.Batch) (*model.Model, error) { return m, nil })
	return r, err
}

// measure appends to r the sublayers' gradient norms on the batches of
// g.Seeds seeds, each on the model at(seed, batch) gives.
func (g *Grads) measure(r *gradRun, at func(uint64, admin.Batch) (*model.Model, error)) error {
	for i := 0; i < g.Seeds; i++ {
		s := g.Seed + uint64(i)
		b, err := g.Batches.Get(r.cfg.SeqLen, s)
		if err != nil {
			return err
		}
		m, err := at(s, b)
		if err != nil {
			return err
		}
		gn, err := admin.SublayerGradNorms(m, b)
		if err != nil {
			return err
		}
		r.per = append(r.per, gn.Norm)
	}
	return nil
}

func (g *Grads) report(runs []*gradRun) (*Summary, error) {
	base := g.Base
	rep, err := NewReport(g.Out, "Gradient norm at each sublayer's output")
	if err != nil {
		return nil, err
	}
	rep.Para("Command: `%s`", g.Command)
	what := fmt.Sprintf("%d-layer models (%s) at initialization (Admin's ω profiled on the batch)", base.Layers, ShapeText(base))
	if g.Trained != nil {
		what = fmt.Sprintf("the %s checkpoint %s (%d layers, %s) and a fresh initialization of the same model", base.Norm, filepath.Base(g.Checkpoint), base.Layers, ShapeText(base))
	}
	rep.Para("For %s: the gradient of the mean loss (nats per byte, label smoothing %g) with respect to the output of every sublayer k, ‖∂L/∂x_{k+1}‖_F over a batch of %d×%d bytes from %s, dropout off. x_{k+1} is the sublayer's LayerNorm output for postln, admin and deepnorm and the stream after the residual add for preln, rezero and tfixup. Mean over %d seeds (seed %d onwards), %d worker thread(s).",
		what, base.LabelSmoothing, g.Batch, base.SeqLen, g.Batches.Source, g.Seeds, g.Seed, g.Pool.Threads())
	rep.Para("Liu et al. (2020, §3) find that Post-LN's decoder suffers gradient vanishing towards its input, but argue that this is not what makes deep Post-LN fail: Adam's update hardly depends on the scale of the gradient (§3.3), and the amplification effect (analysis change) is the cause (§4).")
	header, rows, theader, trows := g.tables(runs)
	if err := rep.CSV("grads.csv", header, rows); err != nil {
		return nil, err
	}
	rep.Table(theader, trows)
	for _, norm := range g.Norms {
		if err := g.Figure(rep, runs, norm); err != nil {
			return nil, err
		}
	}
	return rep.Finish(theader, trows)
}

// tables are the CSV's rows and the printed table's.
func (g *Grads) tables(runs []*gradRun) (header []string, rows [][]string, theader []string, trows [][]string) {
	header = []string{"source", "norm", "layers", "k", "layer", "sublayer", "seeds", "mean", "std"}
	theader = []string{"layer"}
	var tcols [][]float64
	for _, r := range runs {
		n := r.cfg.Sublayers()
		means := make([]float64, n)
		for k := 0; k < n; k++ {
			vs := column(r.per, k)
			mean, std := admin.MeanStd(vs)
			means[k] = mean
			kind := "attn"
			if k%2 == 1 {
				kind = "ffn"
			}
			rows = append(rows, []string{r.source, r.norm, strconv.Itoa(r.cfg.Layers), strconv.Itoa(k), strconv.Itoa(k / 2), kind, strconv.Itoa(len(vs)), Num(mean), Num(std)})
		}
		name := r.norm
		if g.Trained != nil {
			name = r.source
		}
		theader = append(theader, name+" attn", name+" ffn")
		tcols = append(tcols, means)
	}
	for l := 0; l < g.Base.Layers; l++ {
		row := []string{strconv.Itoa(l)}
		for _, c := range tcols {
			row = append(row, short(c[2*l]), short(c[2*l+1]))
		}
		trows = append(trows, row)
	}
	return header, rows, theader, trows
}

// figure draws norm's gradient norms by layer.
func (g *Grads) Figure(rep *Report, runs []*gradRun, norm string) error {
	chart := &plot.LineChart{Title: fmt.Sprintf("%s: gradient norm at each sublayer's output", norm), XLabel: "layer",
		YLabel: "‖∂L/∂(sublayer output)‖", LogY: true, XTicks: layerTicks(g.Base.Layers)}
	for ri, r := range runs {
		if r.norm != norm {
			continue
		}
		color := NormColor(norm)
		if g.Trained != nil {
			color = ri
		}
		for kind, kname := range []string{"attention", "FFN"} {
			s := plot.Series{Label: kname, Color: color, Dash: kind, Points: true}
			if g.Trained != nil {
				s.Label = r.source + " " + kname
			}
			for k := kind; k < r.cfg.Sublayers(); k += 2 {
				mean, _ := admin.MeanStd(column(r.per, k))
				s.X, s.Y = append(s.X, float64(k/2)), append(s.Y, mean)
			}
			chart.Series = append(chart.Series, s)
		}
	}
	names, err := chart.Save(g.Out, "grads_"+norm)
	if err != nil {
		return err
	}
	rep.Figure(names, norm+" gradient norms")
	rep.Dropped(chart.Dropped)
	return nil
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
