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
	stacks       []gradStack
	top          float64 // the largest mean norm of any stack
}

// gradStack is one stack's norms, [seed][k], their mean and standard
// deviation over seeds, and the names of a layer's sublayers.
type gradStack struct {
	name      string
	kinds     []string
	per       [][]float64
	mean, std []float64
}

// layers is the stack's number of layers.
func (st *gradStack) layers() int { return len(st.mean) / len(st.kinds) }

// Run measures and writes the report.
func (g *Grads) Run() (*Summary, error) {
	var runs []*gradRun
	for _, norm := range g.Norms {
		cfg := g.Base
		cfg.Norm = norm
		r := &gradRun{source: "init", norm: norm, cfg: cfg}
		if err := g.measure(r, func(s uint64) (*admin.Net, error) { return g.Data.Fresh(cfg, s, g.Pool) }); err != nil {
			return nil, err
		}
		runs = append(runs, r)
	}
	if g.Trained != nil {
		r := &gradRun{source: "checkpoint", norm: g.Base.Norm, cfg: g.Base}
		if err := g.measure(r, func(s uint64) (*admin.Net, error) { return g.Data.Trained(g.Trained, s, g.Pool) }); err != nil {
			return nil, err
		}
		runs = append(runs, r)
	}
	return g.report(runs)
}

// measure appends to r the sublayers' gradient norms on the batches of
// g.Seeds seeds, each on the net at(seed) gives.
func (g *Grads) measure(r *gradRun, at func(uint64) (*admin.Net, error)) error {
	for i := 0; i < g.Seeds; i++ {
		n, err := at(g.Seed + uint64(i))
		if err != nil {
			return err
		}
		gn, err := admin.SublayerGradNorms(n)
		if err != nil {
			return err
		}
		if r.stacks == nil {
			for _, v := range n.Stacks {
				r.stacks = append(r.stacks, gradStack{name: v.Name, kinds: v.SublayerKinds()})
			}
		}
		for si, sg := range gn.Stacks {
			r.stacks[si].per = append(r.stacks[si].per, sg.Norm)
		}
	}
	for si := range r.stacks {
		st := &r.stacks[si]
		st.mean, st.std = make([]float64, len(st.per[0])), make([]float64, len(st.per[0]))
		for k := range st.mean {
			st.mean[k], st.std[k] = admin.MeanStd(column(st.per, k))
			r.top = math.Max(r.top, st.mean[k])
		}
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
	what := fmt.Sprintf("%s (%s) at initialization (Admin's ω profiled on the batch)", ModelsText(base), ShapeText(base))
	if g.Trained != nil {
		what = fmt.Sprintf("the %s checkpoint %s (%s, %s) and a fresh initialization of the same model", base.Norm, filepath.Base(g.Checkpoint), LayersText(base), ShapeText(base))
	}
	rep.Para("For %s: the gradient of the mean loss (%s, label smoothing %g) with respect to the output of every sublayer k, ‖∂L/∂x_{k+1}‖_F over %s, dropout off. x_{k+1} is the sublayer's LayerNorm output for postln, admin and deepnorm and the stream after the residual add for preln, rezero and tfixup. Mean over %d seeds (seed %d onwards), %d worker thread(s). The relative norm (grads.csv) divides each by the largest of its model, encoder and decoder together, as the paper's gradient figure (§3) does.",
		what, g.Data.Loss(), base.LabelSmoothing, g.Data.Batch(base), g.Seeds, g.Seed, g.Pool.Threads())
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
	if err := g.relativeFigure(rep, runs); err != nil {
		return nil, err
	}
	return rep.Finish(theader, trows)
}

// relativeFigure draws, for each stack, every run's gradient norms
// relative to the largest of its model, sublayer by sublayer (x: the
// layer, its sublayers spread over it), as the paper's gradient figure (§3) does.
func (g *Grads) relativeFigure(rep *Report, runs []*gradRun) error {
	for si, st0 := range runs[0].stacks {
		title, file := "Gradient norms relative to the largest of each model", "grads_relative"
		if len(runs[0].stacks) > 1 {
			title, file = st0.name+": "+title, file+"_"+st0.name
		}
		per := len(st0.kinds)
		chart := &plot.LineChart{Title: title, XLabel: "layer", YLabel: "‖∂L/∂(sublayer output)‖ / largest", LogY: true,
			XTicks: layerTicks(st0.layers()), LegendLeft: true}
		for ri, r := range runs {
			st := r.stacks[si]
			label, color := r.norm, NormColor(r.norm)
			if g.Trained != nil {
				label, color = r.source, ri
			}
			s := plot.Series{Label: label, Color: color, Dash: ri, Points: true}
			for k, m := range st.mean {
				s.X, s.Y = append(s.X, float64(k/per)+float64(k%per)/float64(per)), append(s.Y, m/r.top)
			}
			chart.Series = append(chart.Series, s)
		}
		names, err := chart.Save(g.Out, file)
		if err != nil {
			return err
		}
		rep.Figure(names, "relative gradient norms "+st0.name)
		rep.Dropped(chart.Dropped)
	}
	return nil
}

// tables are the CSV's rows and the printed table's.
func (g *Grads) tables(runs []*gradRun) (header []string, rows [][]string, theader []string, trows [][]string) {
	header = []string{"source", "norm", "layers", "k", "layer", "sublayer", "seeds", "mean", "std", "stack", "relative"}
	theader = []string{"layer"}
	type col struct {
		means []float64
		kind  int // which sublayer of a layer
		per   int // sublayers per layer
	}
	var cols []col
	layers := 0
	for _, r := range runs {
		for _, st := range r.stacks {
			per := len(st.kinds)
			layers = max(layers, st.layers())
			for k, mean := range st.mean {
				rows = append(rows, []string{r.source, r.norm, strconv.Itoa(st.layers()), strconv.Itoa(k), strconv.Itoa(k / per), st.kinds[k%per],
					strconv.Itoa(len(st.per)), Num(mean), Num(st.std[k]), st.name, Num(mean / r.top)})
			}
			name := r.norm
			if g.Trained != nil {
				name = r.source
			}
			if len(r.stacks) > 1 {
				name += " " + st.name[:3]
			}
			for kind, kn := range st.kinds {
				theader = append(theader, name+" "+kn)
				cols = append(cols, col{st.mean, kind, per})
			}
		}
	}
	for l := 0; l < layers; l++ {
		row := []string{strconv.Itoa(l)}
		for _, c := range cols {
			v := "–"
			if k := l*c.per + c.kind; k < len(c.means) {
				v = short(c.means[k])
			}
			row = append(row, v)
		}
		trows = append(trows, row)
	}
	return header, rows, theader, trows
}

// Figure draws norm's gradient norms by layer, one figure per stack.
func (g *Grads) Figure(rep *Report, runs []*gradRun, norm string) error {
	for si := range runs[0].stacks {
		name := runs[0].stacks[si].name
		multi := len(runs[0].stacks) > 1
		title, file := fmt.Sprintf("%s: gradient norm at each sublayer's output", norm), "grads_"+norm
		if multi {
			title, file = fmt.Sprintf("%s %s: gradient norm at each sublayer's output", norm, name), file+"_"+name
		}
		st0 := runs[0].stacks[si]
		chart := &plot.LineChart{Title: title, XLabel: "layer", YLabel: "‖∂L/∂(sublayer output)‖", LogY: true, XTicks: layerTicks(st0.layers())}
		for ri, r := range runs {
			if r.norm != norm {
				continue
			}
			color := NormColor(norm)
			if g.Trained != nil {
				color = ri
			}
			st := r.stacks[si]
			for kind, kname := range st.kinds {
				label := map[string]string{"attn": "attention", "ffn": "FFN", "self": "self-attention", "cross": "cross-attention"}[kname]
				s := plot.Series{Label: label, Color: color, Dash: kind, Points: true}
				if g.Trained != nil {
					s.Label = r.source + " " + label
				}
				for k := kind; k < len(st.mean); k += len(st.kinds) {
					s.X, s.Y = append(s.X, float64(k/len(st.kinds))), append(s.Y, st.mean[k])
				}
				chart.Series = append(chart.Series, s)
			}
		}
		names, err := chart.Save(g.Out, file)
		if err != nil {
			return err
		}
		rep.Figure(names, norm+" "+name+" gradient norms")
		rep.Dropped(chart.Dropped)
	}
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
