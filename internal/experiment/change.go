package experiment

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/clinic-ml/clinic/admin"
	"github.com/clinic-ml/clinic/internal/limits"
	"github.com/clinic-ml/clinic/internal/plot"
	"github.com/clinic-ml/clinic/model"
)

// Change is the output change against depth (Liu et al. 2020, §4): at
// initialization, dropout off, every weight matrix of the layers moves
// by Eps (each mode of Modes: admin.PerturbRandom, admin.PerturbGrad)
// and the same batch runs again; ‖F(x,W) − F(x,W*)‖_F of the stack's
// output, over seeds.
type Change struct {
	Analysis
	Depths    []int
	Modes     []string
	Eps       float64
	Embedding bool // also perturb the embedding matrix

	// vals holds one change per seed of each point; series are the
	// stacks measured (seriesOf), in the order of series.
	vals   map[changeKey][]admin.StackChange
	series []string
}

// changeKey is one point of the report: a mode, a series, a norm and a
// depth.
type changeKey struct {
	mode, series, norm string
	depth              int
}

// seriesOf names a measured change: "" for a language model's one stack;
// for a translator "encoder" and "decoder" (each stack's output with its
// own matrices moved) and "model" (the decoder's output with every
// matrix moved).
func seriesOf(c admin.StackChange, stacks int) string {
	switch {
	case stacks == 1:
		return ""
	case c.Moved == admin.MovedAll:
		return "model"
	}
	return c.Stack
}

// seriesText describes a series for the reports.
var seriesText = map[string]string{
	"":        "",
	"encoder": "encoder output, encoder weights moved",
	"decoder": "decoder output, decoder weights moved",
	"model":   "decoder output, every weight moved",
}

// modeText describes a perturbation mode for reports.
var modeText = map[string]string{
	admin.PerturbRandom: "random sign: w* = w ± ε",
	admin.PerturbGrad:   "gradient sign: w* = w − ε·sign(∂L/∂w)",
}

// Run measures every norm, depth and seed and writes the report.
func (c *Change) Run() (*Summary, error) {
	c.vals = map[changeKey][]admin.StackChange{}
	for _, norm := range c.Norms {
		for _, depth := range c.Depths {
			for i := 0; i < c.Seeds; i++ {
				if err := c.measure(norm, depth, c.Seed+uint64(i)); err != nil {
					return nil, err
				}
			}
			fmt.Fprintf(c.log(), "change: %s, %d layers done\n", norm, depth)
		}
	}
	return c.report()
}

// measure records the change of every mode for one model.
func (c *Change) measure(norm string, depth int, s uint64) error {
	cfg := c.Base
	cfg.Norm = norm
	c.Data.SetDepth(&cfg, depth)
	n, err := c.Data.Fresh(cfg, s, c.Pool)
	if err != nil {
		return err
	}
	for _, mode := range c.Modes {
		vs, err := admin.OutputChange(n, admin.ChangeOptions{Mode: mode, Eps: c.Eps, Seed: s, Embedding: c.Embedding})
		if err != nil {
			return err
		}
		for _, v := range vs {
			se := seriesOf(v, len(n.Stacks))
			if !slices.Contains(c.series, se) {
				c.series = append(c.series, se)
			}
			k := changeKey{mode, se, norm, depth}
			c.vals[k] = append(c.vals[k], v)
		}
	}
	return nil
}

// changeTables are the report's tables as they fill.
type changeTables struct {
	rows, seedRows, trows [][]string
	theader               []string
	maxRMS                float64
}

// translator reports whether the analysis ran on translators (several
// series: stacks and the whole model).
func (c *Change) translator() bool { return len(c.series) > 1 }

func (c *Change) report() (*Summary, error) {
	base := c.Base
	rep, err := NewReport(c.Out, "Output change against depth")
	if err != nil {
		return nil, err
	}
	rep.Para("Command: `%s`", c.Command)
	mats, out := "Wqkv, Wo, W1, W2", "the stack's output"
	if c.translator() {
		mats, out = "Wqkv, Wo, W1, W2, and in the decoder the cross-attention's Wq, Wkv, Wo", "a stack's output over the batch's real tokens"
	}
	pert := fmt.Sprintf("every weight matrix of the layers (%s; not the embedding, biases, LayerNorm parameters or ω)", mats)
	if c.Embedding {
		pert = fmt.Sprintf("every weight matrix (the embedding and the layers' %s; not biases, LayerNorm parameters or ω)", mats)
	}
	rep.Para("At initialization (%s; Admin's ω profiled on the same batch, as training does), dropout off, on %s, %s moves by ε = %g, and the same batch runs again. The value is ‖F(x,W) − F(x,W*)‖_F over the whole batch, F %s (the last sublayer's LayerNorm output for postln, admin and deepnorm, the final LayerNorm's output for preln, the stream after the last residual add for rezero and tfixup). Mean ± sample standard deviation over %d seeds (seed %d onwards: weights, batch and signs differ), %d worker thread(s).",
		ShapeText(base), c.Data.Batch(base), pert, c.Eps, out, c.Seeds, c.Seed, c.Pool.Threads())
	if c.translator() {
		rep.Para("A translator is measured three ways: **encoder**, the encoder's output with the encoder's matrices moved; **decoder**, the decoder's output with the decoder's matrices moved (the encoder's output is then unchanged); **model**, the decoder's output with every matrix of both stacks moved, what an update does to the model's output. Depths count layers on each side.")
	}
	var modes []string
	for _, m := range c.Modes {
		modes = append(modes, "**"+m+"**, "+modeText[m])
	}
	rep.Para("Modes: %s.", strings.Join(modes, "; "))
	header := []string{"mode", "norm", "depth", "seeds", "mean", "std", "min", "max", "ratio_to_depth_" + strconv.Itoa(c.Depths[0]), "rms_per_element", "stack", "moved"}
	t := &changeTables{theader: []string{"mode", "norm"}}
	if c.translator() {
		t.theader = []string{"mode", "stack", "norm"}
	}
	for _, d := range c.Depths {
		t.theader = append(t.theader, fmt.Sprintf("L%d", d))
	}
	t.theader = append(t.theader, fmt.Sprintf("ratio L%d/L%d", c.Depths[len(c.Depths)-1], c.Depths[0]))
	for _, mode := range c.Modes {
		for _, se := range c.series {
			if err := c.modeReport(rep, t, mode, se); err != nil {
				return nil, err
			}
		}
	}
	// The per-element RMS of the change: LayerNorm outputs have unit
	// variance per element at initialization, so two unrelated outputs
	// differ by about √2.
	rep.Para("Per element, the largest mean change is %.3g (RMS over the batch: ‖F − F*‖_F / √(real tokens · d)). LayerNorm outputs have unit variance per element at initialization, so two unrelated outputs differ by about √2 ≈ 1.41: a value approaching that means the perturbation has scrambled the output and the growth with depth saturates; rerun with a smaller --eps.", t.maxRMS)
	if slices.Contains(c.Norms, model.ReZero) && !c.Embedding {
		rep.Para("ReZero starts with every α = 0: each sublayer is the identity, so its output does not depend on the layers' weights at all and the change is exactly 0 (left out of the log-scale figures). With --perturb-embedding it measures the embedding's share alone.")
	}
	rep.Para("The paper's claim (Liu et al. 2020, §4): the squared output change grows O(N) with N layers for Post-LN and O(log N) for Pre-LN; Admin, which scales each shortcut by ω, behaves like Pre-LN at initialization. Read the ratio column: the growth from the shallowest to the deepest model.")
	if err := rep.CSV("change.csv", header, t.rows); err != nil {
		return nil, err
	}
	if err := rep.CSV("change_seeds.csv", []string{"mode", "norm", "depth", "seed", "change", "stack", "moved"}, t.seedRows); err != nil {
		return nil, err
	}
	return rep.Finish(t.theader, t.trows)
}

// modeReport adds one mode's rows, table and figure for one series.
func (c *Change) modeReport(rep *Report, t *changeTables, mode, se string) error {
	title, name, heading := "Output change at initialization ("+modeText[mode]+")", "change_"+mode, "Mode "+mode+": "+modeText[mode]
	if se != "" {
		title, name, heading = se+": "+title, name+"_"+se, heading+"; "+seriesText[se]
	}
	chart := &plot.LineChart{Title: title, XLabel: "layers", YLabel: "‖F(x,W) − F(x,W*)‖", LogX: true, LogY: true, XTicks: toFloats(c.Depths), LegendLeft: true}
	var mrows [][]string
	for _, norm := range c.Norms {
		trow := []string{mode, norm}
		if c.translator() {
			trow = []string{mode, se, norm}
		}
		s := plot.Series{Label: norm, Color: NormColor(norm), Dash: NormColor(norm), Points: true}
		m0, _ := admin.MeanStd(values(c.vals[changeKey{mode, se, norm, c.Depths[0]}]))
		var last float64
		for _, d := range c.Depths {
			cs := c.vals[changeKey{mode, se, norm, d}]
			vs := values(cs)
			mean, std := admin.MeanStd(vs)
			lo, hi := math.Inf(1), math.Inf(-1)
			var rms float64
			for i, v := range cs {
				lo, hi = math.Min(lo, v.Value), math.Max(hi, v.Value)
				rms += v.Value / math.Sqrt(float64(v.Elements)) / float64(len(cs))
				t.seedRows = append(t.seedRows, []string{mode, norm, strconv.Itoa(d), strconv.FormatUint(c.Seed+uint64(i), 10), Num(v.Value), v.Stack, v.Moved})
			}
			t.rows = append(t.rows, []string{mode, norm, strconv.Itoa(d), strconv.Itoa(len(vs)), Num(mean), Num(std), Num(lo), Num(hi), Num(mean / m0), Num(rms), cs[0].Stack, cs[0].Moved})
			t.maxRMS = math.Max(t.maxRMS, rms)
			trow = append(trow, fmt.Sprintf("%s ± %s", short(mean), short(std)))
			s.X, s.Y, s.YErr = append(s.X, float64(d)), append(s.Y, mean), append(s.YErr, std)
			last = mean
		}
		if m0 > 0 {
			trow = append(trow, fmt.Sprintf("%.2f", last/m0))
		} else {
			trow = append(trow, "–")
		}
		t.trows = append(t.trows, trow)
		mrows = append(mrows, trow[len(trow)-len(c.Depths)-2:])
		chart.Series = append(chart.Series, s)
	}
	names, err := chart.Save(c.Out, name)
	if err != nil {
		return err
	}
	rep.Heading(heading)
	rep.Table(append([]string{"norm"}, t.theader[len(t.theader)-len(c.Depths)-1:]...), mrows)
	rep.Figure(names, "output change against depth, "+mode+" "+se)
	rep.Dropped(chart.Dropped)
	return nil
}

// values are the changes' values.
func values(cs []admin.StackChange) []float64 {
	var vs []float64
	for _, c := range cs {
		vs = append(vs, c.Value)
	}
	return vs
}

// ParseModes reads --modes: random, grad or both.
func ParseModes(s string) ([]string, error) {
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f != admin.PerturbRandom && f != admin.PerturbGrad {
			return nil, limits.Usagef("--modes: unknown mode %q (want random, grad or random,grad)", f)
		}
		if slices.Contains(out, f) {
			return nil, limits.Usagef("--modes lists %s twice", f)
		}
		out = append(out, f)
	}
	return out, nil
}
