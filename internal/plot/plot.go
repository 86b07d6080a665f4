// Package plot draws the figures of clinic's analyses (line charts and
// heat maps) with gonum.org/v1/plot and writes each one as PNG and SVG.
package plot

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"path/filepath"
	"strconv"

	"github.com/clinic-ml/clinic/internal/atomicfile"
	"github.com/clinic-ml/clinic/internal/fileutil"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/palette/moreland"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// DPI of the PNG files.
const DPI = 96

// Series is one line of a LineChart.
type Series struct {
	Label string
	X, Y  []float64
	// YErr, when set, draws ±YErr[i] error bars at each point.
	YErr []float64
	// Color and Dash index plotutil's default colors and dash patterns.
	Color, Dash int
	// Points marks each data point with a glyph.
	Points bool
}

// HLine is a horizontal reference line.
type HLine struct {
	Y     float64
	Label string
}

// LineChart is a set of lines on shared axes.
type LineChart struct {
	Title, XLabel, YLabel string
	LogX, LogY            bool
	// XTicks, when set, places the x tick marks at exactly these values.
	XTicks []float64
	Series []Series
	HLines []HLine
	// LegendLeft puts the legend in the top left corner (else top right).
	LegendLeft bool
	// Width and Height default to 6×4 inches.
	Width, Height vg.Length
	// Dropped is set by Save to the number of points it left out: NaN
	// or infinite coordinates (a diverged run's loss), and zero or
	// negative ones on a log axis. Callers say so under the figure.
	Dropped int
}

// Files returns the names Save writes for base.
func Files(base string) []string { return []string{base + ".png", base + ".svg"} }

// Save writes dir/base.png and dir/base.svg and returns their names
// (relative to dir).
func (c *LineChart) Save(dir, base string) ([]string, error) {
	p := plot.New()
	p.Title.Text = c.Title
	p.X.Label.Text = c.XLabel
	p.Y.Label.Text = c.YLabel
	p.Legend.Top = true
	p.Legend.Left = c.LegendLeft
	p.Legend.Padding = vg.Points(4)
	p.Add(plotter.NewGrid())
	finite := func(v float64, logScale bool) bool {
		return !math.IsNaN(v) && !math.IsInf(v, 0) && (!logScale || v > 0)
	}
	xmin, xmax := math.Inf(1), math.Inf(-1)
	entries := 0
	c.Dropped = 0
	for _, s := range c.Series {
		var xy plotter.XYs
		var errs plotter.YErrors
		for i := range s.X {
			if i >= len(s.Y) || !finite(s.X[i], c.LogX) || !finite(s.Y[i], c.LogY) {
				c.Dropped++
				continue
			}
			xy = append(xy, plotter.XY{X: s.X[i], Y: s.Y[i]})
			xmin, xmax = math.Min(xmin, s.X[i]), math.Max(xmax, s.X[i])
			if s.YErr != nil {
				var e float64
				if i < len(s.YErr) && finite(s.YErr[i], false) {
					e = math.Abs(s.YErr[i])
				}
				if c.LogY && s.Y[i]-e <= 0 {
					e = s.Y[i] * 0.999
				}
				errs = append(errs, struct{ Low, High float64 }{e, e})
			}
		}
		if len(xy) == 0 {
			continue
		}
		l, err := plotter.NewLine(xy)
		if err != nil {
			return nil, fmt.Errorf("plot %s: %v", base, err)
		}
		l.Color = plotutil.Color(s.Color)
		l.Dashes = plotutil.Dashes(s.Dash)
		l.Width = vg.Points(1.5)
		p.Add(l)
		p.Legend.Add(s.Label, l)
		entries++
		if s.Points {
			sc, err := plotter.NewScatter(xy)
			if err != nil {
				return nil, fmt.Errorf("plot %s: %v", base, err)
			}
			sc.Color = l.Color
			sc.Shape = draw.CircleGlyph{}
			sc.Radius = vg.Points(2.5)
			p.Add(sc)
		}
		if s.YErr != nil {
			eb := &plotter.YErrorBars{XYs: xy, YErrors: errs,
				LineStyle: draw.LineStyle{Color: l.Color, Width: vg.Points(1)}, CapWidth: vg.Points(5)}
			p.Add(eb)
		}
	}
	for i, h := range c.HLines {
		if !finite(h.Y, c.LogY) || math.IsInf(xmin, 0) {
			continue
		}
		l, err := plotter.NewLine(plotter.XYs{{X: xmin, Y: h.Y}, {X: xmax, Y: h.Y}})
		if err != nil {
			return nil, err
		}
		l.Color = color.Gray{Y: 90}
		l.Dashes = []vg.Length{vg.Points(2), vg.Points(2)}
		l.Width = vg.Points(1)
		p.Add(l)
		if h.Label != "" {
			p.Legend.Add(h.Label, l)
			entries++
		}
		_ = i
	}
	if c.LogX {
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = logTicks{}
	}
	if c.LogY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = logTicks{}
	}
	var xticks fixedTicks
	for _, v := range c.XTicks {
		if finite(v, c.LogX) {
			xticks = append(xticks, v)
		}
	}
	if len(xticks) > 0 {
		p.X.Tick.Marker = xticks
	}
	// With no finite data the axes' range is ±Inf or NaN, on which the
	// tick and headroom arithmetic below would loop or go NaN.
	saneRange(&p.X, c.LogX)
	saneRange(&p.Y, c.LogY)
	// Headroom above the data for the legend.
	if c.HLines != nil || len(c.Series) > 0 {
		frac := 0.11 * float64(entries)
		if c.LogY && p.Y.Min > 0 {
			lo, hi := math.Log(p.Y.Min), math.Log(p.Y.Max)
			if hi == lo {
				hi = lo + 0.1
			}
			p.Y.Max = math.Exp(hi + frac*(hi-lo))
		} else if !c.LogY {
			span := p.Y.Max - p.Y.Min
			if span == 0 {
				span = math.Abs(p.Y.Max) + 1
			}
			p.Y.Max += frac * span
		}
	}
	w, h := c.Width, c.Height
	if w == 0 {
		w = 6 * vg.Inch
	}
	if h == 0 {
		h = 4 * vg.Inch
	}
	return save(dir, base, w, h, func(dc draw.Canvas) { p.Draw(dc) })
}

// saneRange gives an axis with no finite range (nothing was drawn on
// it) a default one: [0, 1], or [1, 10] on a log axis; and a log axis
// holding one value a range around it.
func saneRange(a *plot.Axis, logScale bool) {
	ok := !math.IsNaN(a.Min) && !math.IsNaN(a.Max) && !math.IsInf(a.Min, 0) && !math.IsInf(a.Max, 0) && a.Min <= a.Max
	if ok && logScale && a.Min > 0 && a.Min == a.Max {
		// One value: plot widens an empty range by ±1, which leaves a
		// log axis (one value below 1) at a negative minimum.
		a.Min, a.Max = a.Min/2, a.Max*2
		return
	}
	if ok && (!logScale || a.Min > 0) {
		return
	}
	if logScale {
		a.Min, a.Max = 1, 10
	} else {
		a.Min, a.Max = 0, 1
	}
}

// logTicks marks 1, 2 and 5 times each power of ten, labelling them all
// when the range spans little more than a decade and only the powers of
// ten otherwise.
type logTicks struct{}

func (logTicks) Ticks(min, max float64) []plot.Tick {
	if !(min > 0) || !(max >= min) {
		return nil
	}
	lo, hi := int(math.Floor(math.Log10(min))), int(math.Ceil(math.Log10(max)))
	labelAll := hi-lo <= 2
	var ts []plot.Tick
	for e := lo; e <= hi; e++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, float64(e))
			if v < min*(1-1e-9) || v > max*(1+1e-9) {
				continue
			}
			t := plot.Tick{Value: v}
			if labelAll || m == 1 {
				t.Label = strconv.FormatFloat(v, 'g', -1, 64)
			}
			ts = append(ts, t)
		}
	}
	if len(ts) < 3 {
		// A narrow range: linear ticks read better.
		return plot.DefaultTicks{}.Ticks(min, max)
	}
	return ts
}

type fixedTicks []float64

func (t fixedTicks) Ticks(min, max float64) []plot.Tick {
	var ts []plot.Tick
	for _, v := range t {
		ts = append(ts, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'g', -1, 64)})
	}
	return ts
}

// HeatMap is a matrix of values drawn as colored cells, row 0 at the top.
type HeatMap struct {
	Title, XLabel, YLabel string
	// Z[r][c]; NaN cells (absent values) are drawn light gray.
	Z                    [][]float64
	RowLabels, ColLabels []string
	// Min and Max bound the color scale.
	Min, Max float64
	// Width and Height default to 6.5×5.5 inches.
	Width, Height vg.Length
}

type grid struct {
	z    [][]float64
	rows int
}

func (g grid) Dims() (c, r int) {
	if g.rows == 0 {
		return 0, 0
	}
	return len(g.z[0]), g.rows
}

// Z flips rows so that row 0 of the matrix is drawn at the top.
func (g grid) Z(c, r int) float64 { return g.z[g.rows-1-r][c] }
func (g grid) X(c int) float64    { return float64(c) }
func (g grid) Y(r int) float64    { return float64(r) }

// labelTicks labels integer positions, thinning them to at most max.
type labelTicks struct {
	labels []string
	flip   bool // y axis: position r shows labels[len-1-r]
	max    int
}

func (t labelTicks) Ticks(min, max float64) []plot.Tick {
	n := len(t.labels)
	if n == 0 {
		return nil
	}
	step := 1
	for n/step > t.max {
		step++
	}
	var idx []int
	for i := 0; i < n; i += step {
		idx = append(idx, i)
	}
	// Always label the last row or column, in place of its neighbour.
	if last := idx[len(idx)-1]; last != n-1 {
		if n-1-last < step && len(idx) > 1 {
			idx = idx[:len(idx)-1]
		}
		idx = append(idx, n-1)
	}
	var ts []plot.Tick
	for _, i := range idx {
		pos := i
		if t.flip {
			pos = n - 1 - i
		}
		ts = append(ts, plot.Tick{Value: float64(pos), Label: t.labels[i]})
	}
	return ts
}

// Save writes dir/base.png and dir/base.svg with a color bar on the
// right and returns their names.
func (hm *HeatMap) Save(dir, base string) ([]string, error) {
	if len(hm.Z) == 0 || len(hm.Z[0]) == 0 {
		return nil, fmt.Errorf("plot %s: empty heat map", base)
	}
	cols := len(hm.Z[0])
	for _, r := range hm.Z {
		if len(r) != cols {
			return nil, fmt.Errorf("plot %s: ragged heat map", base)
		}
	}
	lo, hi := hm.Min, hm.Max
	if !(hi > lo) {
		lo, hi = 0, 1
	}
	cm := moreland.ExtendedBlackBody()
	cm.SetMin(lo)
	cm.SetMax(hi)
	rev := palette.Reverse(cm) // 0 white, 1 black
	pal := rev.Palette(255)
	h := plotter.NewHeatMap(grid{hm.Z, len(hm.Z)}, pal)
	h.Min, h.Max = lo, hi
	h.NaN = color.Gray{Y: 225}
	h.Underflow, h.Overflow = pal.Colors()[0], pal.Colors()[len(pal.Colors())-1]
	p := plot.New()
	p.Title.Text = hm.Title
	p.X.Label.Text = hm.XLabel
	p.Y.Label.Text = hm.YLabel
	p.Add(h)
	if hm.ColLabels != nil {
		p.X.Tick.Marker = labelTicks{labels: hm.ColLabels, max: 16}
	}
	if hm.RowLabels != nil {
		p.Y.Tick.Marker = labelTicks{labels: hm.RowLabels, flip: true, max: 24}
	}
	p.X.Tick.Label.Font.Size = vg.Points(8)
	p.Y.Tick.Label.Font.Size = vg.Points(8)
	p.X.Tick.Label.Rotation = math.Pi / 4
	p.X.Tick.Label.XAlign = draw.XRight
	p.X.Tick.Label.YAlign = draw.YCenter

	bar := plot.New()
	cb := palette.Reverse(moreland.ExtendedBlackBody())
	cb.SetMin(lo)
	cb.SetMax(hi)
	bar.Add(&plotter.ColorBar{ColorMap: cb, Vertical: true})
	bar.HideX()
	bar.Y.Padding = 0
	bar.Title.Text = " "

	w, ht := hm.Width, hm.Height
	if w == 0 {
		w = 6.5 * vg.Inch
	}
	if ht == 0 {
		ht = 5.5 * vg.Inch
	}
	barW := 0.9 * vg.Inch
	return save(dir, base, w, ht, func(dc draw.Canvas) {
		p.Draw(draw.Crop(dc, 0, -barW, 0, 0))
		bar.Draw(draw.Crop(dc, w-barW+0.15*vg.Inch, 0, 0.9*vg.Inch, -0.1*vg.Inch))
	})
}

// save renders draw onto a w×h canvas as PNG and as SVG.
func save(dir, base string, w, h vg.Length, render func(draw.Canvas)) ([]string, error) {
	png := vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(DPI), vgimg.UseBackgroundColor(color.White))}
	svg := vgsvg.New(w, h)
	for _, c := range []interface {
		vg.CanvasSizer
		io.WriterTo
	}{png, svg} {
		render(draw.New(c))
	}
	names := Files(base)
	// Both outputs are checked before either is written, so a refused
	// SVG does not leave a new PNG beside an old SVG.
	for _, n := range names {
		if err := fileutil.CheckOutput(filepath.Join(dir, n)); err != nil {
			return nil, err
		}
	}
	for i, wt := range []io.WriterTo{png, svg} {
		// Atomically: a full disk or a kill leaves the old figure, not a
		// torn one, and a FIFO or device is refused, not written to.
		path := filepath.Join(dir, names[i])
		err := atomicfile.Write(path, func(w io.Writer) error {
			_, err := wt.WriteTo(w)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("writing %s: %v", path, fileutil.Cause(err))
		}
	}
	return names, nil
}
