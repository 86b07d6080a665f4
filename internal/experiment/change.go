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

	vals map[string]map[string]map[int][]float64 // [mode][norm][depth]: one value per seed
}

// modeText describes a perturbation mode for reports.
var modeText = map[string]string{
	admin.PerturbRandom: "random sign: w* = w ± ε",
	admin.PerturbGrad:   "gradient sign: w* = w − ε·sign(∂L/∂w)",
}

// Run measures every norm, depth and seed and writes the report.
func (c *Change) Run() (*Summary, error) {
	c.vals = map[string]map[string]map[int][]float64{}
	for _, mode := range c.Modes {
		c.vals[mode] = map[string]map[int][]float64{}
		for _, norm := range c.Norms {
			c.vals[mode][norm] = map[int][]float64{}
		}
	}
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
	cfg.Layers, cfg.Norm = depth, norm
	b, err := c.Batches.Get(cfg.SeqLen, s)
	if err != nil {
		return err
	}
	m, err := c.initModel(cfg, s, b)
	if err != nil {
		return err
	}
	for _, mode := range c.Modes {
		v, err := admin.OutputChange(m, b, admin.ChangeOptions{Mode: mode, Eps: c.Eps, Seed: s, Embedding: c.Embedding})
		if err != nil {
			return err
		}
		c.vals[mode][norm][depth] = append(c.vals[mode][norm][depth], v)
	}
	return nil
}

// changeTables are the report's tables as they fill.
type changeTables struct {
	rows, seedRows, trows [][]string
	theader               []string
	maxRMS, elems         float64
}

func (c *Change) report() (*Summary, error) {
	base := c.Base
	rep, err := NewReport(c.Out, "Output change against depth")
	if err != nil {
		return nil, err
	}
	rep.Para("Command: `%s`", c.Command)
	pert := "every weight matrix of the layers (Wqkv, Wo, W1, W2; not the embedding, biases, LayerNorm parameters or ω)"
	if c.Embedding {
		pert = "every weight matrix (the embedding and the layers' Wqkv, Wo, W1, W2; not biases, LayerNorm parameters or ω)"
	}
	rep.Para("At initialization (%s; Admin's ω profiled on the same batch, as training does), dropout off, on one batch of %d×%d bytes from %s, %s moves by ε = %g, and the same batch runs again. The value is ‖F(x,W) − F(x,W*)‖_F over the whole batch, F the stack's output (the last sublayer's LayerNorm output for postln, admin and deepnorm, the final LayerNorm's output for preln, the stream after the last residual add for rezero and tfixup). Mean ± sample standard deviation over %d seeds (seed %d onwards: weights, batch and signs differ), %d worker thread(s).",
		ShapeText(base), c.Batch, base.SeqLen, c.Batches.Source, pert, c.Eps, c.Seeds, c.Seed, c.Pool.Threads())
	var modes []string
	for _, m := range c.Modes {
		modes = append(modes, "**"+m+"**, "+modeText[m])
	}
	rep.Para("Modes: %s.", strings.Join(modes, "; "))
	header := []string{"mode", "norm", "depth", "seeds", "mean", "std", "min", "max", "ratio_to_depth_" + strconv.Itoa(c.Depths[0]), "rms_per_element"}
	// The per-element RMS of the change: LayerNorm outputs have unit
	// variance per element at initialization, so two unrelated outputs
	// differ by about √2.
	t := &changeTables{theader: []string{"mode", "norm"}, elems: math.Sqrt(float64(c.Batch * base.SeqLen * base.DModel))}
	for _, d := range c.Depths {
		t.theader = append(t.theader, fmt.Sprintf("L%d", d))
	}
	t.theader = append(t.theader, fmt.Sprintf("ratio L%d/L%d", c.Depths[len(c.Depths)-1], c.Depths[0]))
	for _, mode := range c.Modes {
		if err := c.modeReport(rep, t, mode); err != nil {
			return nil, err
		}
	}
	rep.Para("Per element, the largest mean change is %.3g (RMS over the batch: ‖F − F*‖_F / √(%d·%d·%d)). LayerNorm outputs have unit variance per element at initialization, so two unrelated outputs differ by about √2 ≈ 1.41: a value approaching that means the perturbation has scrambled the output and the growth with depth saturates; rerun with a smaller --eps.", t.maxRMS, c.Batch, base.SeqLen, base.DModel)
	if slices.Contains(c.Norms, model.ReZero) && !c.Embedding {
		rep.Para("ReZero starts with every α = 0: each sublayer is the identity, so its output does not depend on the layers' weights at all and the change is exactly 0 (left out of the log-scale figures). With --perturb-embedding it measures the embedding's share alone.")
	}
	rep.Para("The paper's claim (Liu et al. 2020, §4): the squared output change grows O(N) with N layers for Post-LN and O(log N) for Pre-LN; Admin, which scales each shortcut by ω, behaves like Pre-LN at initialization. Read the ratio column: the growth from the shallowest to the deepest model.")
	if err := rep.CSV("change.csv", header, t.rows); err != nil {
		return nil, err
	}
	if err := rep.CSV("change_seeds.csv", []string{"mode", "norm", "depth", "seed", "change"}, t.seedRows); err != nil {
		return nil, err
	}
	return rep.Finish(t.theader, t.trows)
}

// modeReport adds one mode's rows, table and figure.
func (c *Change) modeReport(rep *Report, t *changeTables, mode string) error {
	chart := &plot.LineChart{Title: "Output change at initialization (" + modeText[mode] + ")", XLabel: "layers",
		YLabel: "‖F(x,W) − F(x,W*)‖", LogX: true, LogY: true, XTicks: toFloats(c.Depths), LegendLeft: true}
	var mrows [][]string
	for _, norm := range c.Norms {
		trow := []string{mode, norm}
		s := plot.Series{Label: norm, Color: NormColor(norm), Dash: NormColor(norm), Points: true}
		m0, _ := admin.MeanStd(c.vals[mode][norm][c.Depths[0]])
		var last float64
		for _, d := range c.Depths {
			vs := c.vals[mode][norm][d]
			mean, std := admin.MeanStd(vs)
			lo, hi := math.Inf(1), math.Inf(-1)
			for i, v := range vs {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
				t.seedRows = append(t.seedRows, []string{mode, norm, strconv.Itoa(d), strconv.FormatUint(c.Seed+uint64(i), 10), Num(v)})
			}
			t.rows = append(t.rows, []string{mode, norm, strconv.Itoa(d), strconv.Itoa(len(vs)), Num(mean), Num(std), Num(lo), Num(hi), Num(mean / m0), Num(mean / t.elems)})
			t.maxRMS = math.Max(t.maxRMS, mean/t.elems)
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
		mrows = append(mrows, trow[1:])
		chart.Series = append(chart.Series, s)
	}
	names, err := chart.Save(c.Out, "change_"+mode)
	if err != nil {
		return err
	}
	rep.Heading("Mode " + mode + ": " + modeText[mode])
	rep.Table(t.theader[1:], mrows)
	rep.Figure(names, "output change against depth, "+mode)
	rep.Dropped(chart.Dropped)
	return nil
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
