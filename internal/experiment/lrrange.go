package experiment

import (
	"bytes"
	"cmp"
	"encoding/csv"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/clinic-ml/clinic/internal/fileutil"
	"github.com/clinic-ml/clinic/internal/limits"
	"github.com/clinic-ml/clinic/internal/plot"
)

// A learning-rate sweep is one 'analyze sweep' per learning rate;
// lr-range reads their sweep.csv files (nothing is trained) and reports
// each method's stable range: the largest learning rate at which it
// still trains. Keeping the sweeps separate lets each be rerun, or
// continued, on its own.

// LRRange is the stable learning-rate range of the sweeps in Dirs, run
// at the learning rates LRs (nil: each sweep.csv's lr column), written
// to Out; Command is the command line, for the report.
type LRRange struct {
	Dirs    []string
	LRs     []float64
	Out     string
	Command string
}

// lrSweep is one sweep's rows, keyed by depth and norm.
type lrSweep struct {
	dir  string
	lr   float64
	runs map[lrKey]lrRun
	// unigram is the LM sweep's unigram entropy of the training text (the
	// stall line), NaN for a translation sweep.
	unigram float64
}

type lrKey struct {
	depth int
	norm  string
}

type lrRun struct {
	valLoss float64
	status  string
}

// Run reads the sweeps and writes the report.
func (l *LRRange) Run() (*Summary, error) {
	sweeps, keys, err := l.read()
	if err != nil {
		return nil, err
	}
	return l.report(sweeps, keys)
}

// read reads the sweeps, sorted by learning rate, and their runs'
// depths and norms, which every sweep must have.
func (l *LRRange) read() ([]lrSweep, []lrKey, error) {
	dirs, given := l.Dirs, l.LRs
	var sweeps []lrSweep
	for i, d := range dirs {
		s, err := readLRSweep(d)
		if err != nil {
			return nil, nil, err
		}
		switch {
		case given != nil && !math.IsNaN(s.lr) && !closeRel(s.lr, given[i]):
			return nil, nil, limits.Usagef("%s: its sweep.csv says learning rate %g, --lrs says %g", d, s.lr, given[i])
		case given != nil:
			s.lr = given[i]
		case math.IsNaN(s.lr):
			return nil, nil, limits.Usagef("%s: its sweep.csv has no lr column (an older clinic wrote it): give the learning rates with --lrs", d)
		}
		for _, o := range sweeps {
			if closeRel(o.lr, s.lr) {
				return nil, nil, limits.Usagef("%s and %s were both run at learning rate %g", o.dir, d, s.lr)
			}
		}
		sweeps = append(sweeps, s)
	}
	slices.SortStableFunc(sweeps, func(a, b lrSweep) int { return cmp.Compare(a.lr, b.lr) })
	var keys []lrKey
	for _, s := range sweeps {
		for k := range s.runs {
			if !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
	}
	slices.SortFunc(keys, func(a, b lrKey) int {
		if a.depth != b.depth {
			return a.depth - b.depth
		}
		return NormColor(a.norm) - NormColor(b.norm)
	})
	for _, s := range sweeps {
		for _, k := range keys {
			if _, ok := s.runs[k]; !ok {
				return nil, nil, limits.Usagef("%s has no run of %s at %d layers, which another sweep has: the sweeps must cover the same depths and norms", s.dir, k.norm, k.depth)
			}
		}
	}
	return sweeps, keys, nil
}

// report writes the table, figure and report.md.
func (l *LRRange) report(sweeps []lrSweep, keys []lrKey) (*Summary, error) {
	rep, err := NewReport(l.Out, "Stable learning-rate range")
	if err != nil {
		return nil, err
	}
	var rows, trows [][]string
	var depths []int
	chart := &plot.LineChart{Title: "Final validation loss against the peak learning rate", XLabel: "peak learning rate",
		YLabel: "final validation loss", LogX: true}
	theader := []string{"depth", "norm"}
	for _, s := range sweeps {
		theader = append(theader, "lr "+Num(s.lr))
		chart.XTicks = append(chart.XTicks, s.lr)
	}
	theader = append(theader, "largest lr that trains")
	// The stall line, when every sweep trained on the same text.
	if h := sweeps[0].unigram; !math.IsNaN(h) && !slices.ContainsFunc(sweeps, func(s lrSweep) bool { return !closeRel(s.unigram, h) }) {
		chart.HLines = []plot.HLine{{Y: h, Label: fmt.Sprintf("unigram entropy %.3f", h)}}
	}
	for _, k := range keys {
		if !slices.Contains(depths, k.depth) {
			depths = append(depths, k.depth)
		}
	}
	for _, k := range keys {
		best := "none"
		trow := []string{strconv.Itoa(k.depth), k.norm}
		ser := plot.Series{Label: fmt.Sprintf("%s L%d", k.norm, k.depth), Color: NormColor(k.norm), Dash: slices.Index(depths, k.depth), Points: true}
		for _, s := range sweeps {
			r := s.runs[k]
			rows = append(rows, []string{strconv.Itoa(k.depth), k.norm, Num(s.lr), Num(r.valLoss), r.status})
			trow = append(trow, fmt.Sprintf("%.4f %s", r.valLoss, r.status))
			if r.status == StatusTrained {
				best = Num(s.lr)
			}
			y := r.valLoss
			if r.status == StatusDiverged {
				y = math.NaN() // off the chart: a blow-up would flatten the rest
			}
			ser.X, ser.Y = append(ser.X, s.lr), append(ser.Y, y)
		}
		chart.Series = append(chart.Series, ser)
		trows = append(trows, append(trow, best))
	}
	if err := rep.CSV("lr_range.csv", []string{"depth", "norm", "lr", "final_val_loss", "status"}, rows); err != nil {
		return nil, err
	}
	names, err := chart.Save(l.Out, "lr_range")
	if err != nil {
		return nil, err
	}
	rep.Para("Command: `%s`", l.Command)
	var from []string
	for _, s := range sweeps {
		from = append(from, fmt.Sprintf("[%s](%s) (lr %s)", s.dir, filepath.ToSlash(relTo(l.Out, filepath.Join(s.dir, "report.md"))), Num(s.lr)))
	}
	rep.Para("From the sweeps %s. Each cell is the final validation loss and the run's status (trained, stalled or diverged, as the sweep defines them); the last column is the largest learning rate at which the run trained.", strings.Join(from, ", "))
	rep.Table(theader, trows)
	rep.Figure(names, "final validation loss against the learning rate")
	rep.Dropped(chart.Dropped)
	return rep.Finish(theader, trows)
}

// readLRSweep reads dir/sweep.csv: its depth, norm, final_val_loss and
// status columns, and lr when the sweep recorded it (NaN if not).
func readLRSweep(dir string) (lrSweep, error) {
	s := lrSweep{dir: dir, lr: math.NaN(), runs: map[lrKey]lrRun{}, unigram: math.NaN()}
	path := filepath.Join(dir, "sweep.csv")
	b, err := fileutil.ReadRegular(path, MaxSmallFile)
	if errors.Is(err, fs.ErrNotExist) {
		return s, limits.Usagef("%s: no finished sweep (%v)", dir, errors.Unwrap(err))
	}
	if err != nil {
		return s, err
	}
	recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		return s, fmt.Errorf("%s: %v", path, err)
	}
	if len(recs) < 2 {
		return s, fmt.Errorf("%s: no runs", path)
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	for _, h := range []string{"depth", "norm", "final_val_loss", "status"} {
		if _, ok := col[h]; !ok {
			return s, fmt.Errorf("%s: no %s column (not a sweep.csv of 'clinic analyze sweep')", path, h)
		}
	}
	lrCol, hasLR := col["lr"]
	hCol, hasH := col["unigram_entropy"]
	for n, r := range recs[1:] {
		bad := func(what string) error { return fmt.Errorf("%s:%d: %s", path, n+2, what) }
		d, err := strconv.Atoi(r[col["depth"]])
		if err != nil || d < 1 {
			return s, bad("bad depth " + strconv.Quote(r[col["depth"]]))
		}
		v, err := strconv.ParseFloat(r[col["final_val_loss"]], 64)
		if err != nil {
			return s, bad("bad final_val_loss " + strconv.Quote(r[col["final_val_loss"]]))
		}
		st := r[col["status"]]
		if st != StatusTrained && st != StatusStalled && st != StatusDiverged {
			return s, bad("bad status " + strconv.Quote(st))
		}
		norm := r[col["norm"]]
		if NormColor(norm) < 0 {
			return s, bad("unknown norm " + strconv.Quote(norm))
		}
		k := lrKey{d, norm}
		if _, dup := s.runs[k]; dup {
			return s, bad(fmt.Sprintf("a second run of %s at %d layers", norm, d))
		}
		if hasH {
			if h, err := strconv.ParseFloat(r[hCol], 64); err == nil {
				s.unigram = h
			}
			// An LM sweep written before a finite blow-up counted as
			// diverged: apply today's rule (sweepStatus).
			if st == StatusStalled && v > math.Log(256) {
				st = StatusDiverged
			}
		}
		s.runs[k] = lrRun{v, st}
		if hasLR {
			lr, err := strconv.ParseFloat(r[lrCol], 64)
			switch {
			case err != nil || !(lr > 0):
				return s, bad("bad lr " + strconv.Quote(r[lrCol]))
			case !math.IsNaN(s.lr) && !closeRel(lr, s.lr):
				return s, bad(fmt.Sprintf("learning rate %g, other rows %g: one sweep per learning rate", lr, s.lr))
			}
			s.lr = lr
		}
	}
	return s, nil
}

func closeRel(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(math.Abs(a), math.Abs(b)) }

// relTo is target relative to base when it can be, else target.
func relTo(base, target string) string {
	if r, err := filepath.Rel(base, target); err == nil {
		return r
	}
	return target
}
