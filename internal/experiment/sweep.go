package experiment

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/clinic-ml/clinic/asm"
	"github.com/clinic-ml/clinic/internal/atomicfile"
	"github.com/clinic-ml/clinic/internal/fileutil"
	"github.com/clinic-ml/clinic/internal/metrics"
	"github.com/clinic-ml/clinic/internal/plot"
	"github.com/clinic-ml/clinic/internal/train"
)

// Run statuses of the sweeps.
const (
	StatusTrained  = "trained"
	StatusStalled  = "stalled"
	StatusDiverged = "diverged"
)

// LossDiverged is both sweeps' rule for a run that blew up: its final
// validation loss is not finite, or is above ln V, the loss of guessing
// each of the V tokens of the vocabulary equally likely (label
// smoothing or not). A run can blow up to a loss of thousands and stay
// finite.
func LossDiverged(valLoss float64, vocab int) bool {
	return math.IsInf(valLoss, 0) || !(valLoss <= math.Log(float64(vocab)))
}

// Sweep is what both sweeps share: the runs of each depth in Depths and
// each norm in Norms, trained from Job (its Dir is the sweep's folder,
// each run's is runs/<norm>-L<depth> in it).
type Sweep struct {
	Job    train.Job
	Depths []int
	Norms  []string
	// Continue keeps the finished runs in Dir and resumes the others
	// from their last checkpoint.
	Continue bool
	// Command is the command line, for the report; Log gets a line as
	// each run starts and ends.
	Command string
	Log     io.Writer
}

// SweepResult is one finished run of a sweep (the LM's or the
// translation's), saved as runs/<norm>-L<depth>/result.json so that
// --continue keeps it.
type SweepResult struct {
	Depth        int           `json:"depth"`
	Norm         string        `json:"norm"`
	Status       string        `json:"status"`
	FinalStep    int           `json:"final_step"`
	FinalLoss    string        `json:"final_loss,omitempty"` // the LM sweep's last training loss
	FinalValLoss string        `json:"final_val_loss"`       // a string: it may be NaN
	DivergedAt   int           `json:"diverged_at,omitempty"`
	BLEU         float64       `json:"test_bleu,omitempty"`
	BLEULine     string        `json:"test_bleu_line,omitempty"`
	Averaged     int           `json:"averaged"`
	Seconds      float64       `json:"seconds"`
	Curve        []train.Point `json:"curve"`
}

// SweepRun is a task's own part of each run of its sweep: its label in
// the log, its job, training and testing it, and its line in the log
// once done.
type SweepRun struct {
	Label func(d int, norm string) string
	Job   func(j *train.Job, d int)
	Run   func(j train.Job, d int, norm string) (SweepResult, error)
	Done  func(label string, r SweepResult, start time.Time) string
}

func (s *Sweep) log() io.Writer { return orDiscard(s.Log) }

// Progress is where the sweep's progress lines go (Log, or nowhere).
func (s *Sweep) Progress() io.Writer { return s.log() }

// Start begins the sweep's report (title) and starts the pool every run
// of the sweep shares (done stops it).
func (s *Sweep) Start(title string) (rep *Report, pool *asm.Pool, done func(), err error) {
	if rep, err = NewReport(s.Job.Dir, title); err != nil {
		return nil, nil, nil, err
	}
	if pool, done, err = s.Job.Workers(); err != nil {
		return nil, nil, nil, err
	}
	s.Job.Pool = pool
	return rep, pool, done, nil
}

// runDir is the folder of the run of norm at depth d.
func runDir(dir string, d int, norm string) string {
	return filepath.Join(dir, "runs", fmt.Sprintf("%s-L%d", norm, d))
}

// Each runs (or, continued, keeps) every run of the sweep in order, h
// doing each run's own part; a run's result is saved as its folder's
// result.json.
func (s *Sweep) Each(h SweepRun) ([]SweepResult, error) {
	var runs []SweepResult
	total := len(s.Depths) * len(s.Norms)
	for _, d := range s.Depths {
		for _, norm := range s.Norms {
			ro := s.Job
			ro.Model.Layers, ro.Model.Norm = d, norm
			ro.Dir, ro.Quiet = runDir(s.Job.Dir, d, norm), true
			h.Job(&ro, d)
			label := fmt.Sprintf("sweep: [%d/%d] %s", len(runs)+1, total, h.Label(d, norm))
			if s.Continue {
				r, st, err := continuedRun(ro.Dir, s.log(), label)
				if err != nil {
					return nil, fmt.Errorf("%s with %d layers: %v", norm, d, err)
				}
				if r != nil {
					runs = append(runs, *r)
					continue
				}
				ro.Resume = st
			}
			start := time.Now()
			fmt.Fprintf(s.log(), "%s, %d steps ...\n", label, s.Job.Steps)
			r, err := h.Run(ro, d, norm)
			if err != nil {
				return nil, err
			}
			r.Seconds = time.Since(start).Seconds()
			if err := writeSweepResult(filepath.Join(ro.Dir, "result.json"), &r); err != nil {
				return nil, err
			}
			fmt.Fprint(s.log(), h.Done(label, r, start))
			runs = append(runs, r)
		}
	}
	return runs, nil
}

func writeSweepResult(path string, r *SweepResult) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, append(b, '\n'))
}

func readSweepResult(path string) (*SweepResult, error) {
	b, err := fileutil.ReadRegular(path, MaxSmallFile)
	if err != nil {
		return nil, err
	}
	var r SweepResult
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return &r, nil
}

// ValCurve reads a run's validation points from its metrics (the whole
// run, also when it was resumed).
func ValCurve(path string) ([]train.Point, error) {
	recs, err := metrics.ReadAll(path)
	if err != nil {
		return nil, err
	}
	var pts []train.Point
	for _, r := range recs {
		v, ok := r["val_loss"].(float64)
		if !ok {
			continue
		}
		step, _ := r["step"].(float64)
		loss, _ := r["loss"].(float64)
		pts = append(pts, train.Point{Step: int(step), Loss: loss, ValLoss: v})
	}
	return pts, nil
}

// continuedRun is what a continued sweep does with the run in dir
// (label names it in the log): its result if it finished (the run is
// kept), else its trainer state if it has one (the run resumes from
// it), else neither (it starts).
func continuedRun(dir string, log io.Writer, label string) (*SweepResult, *train.State, error) {
	if r, err := readSweepResult(filepath.Join(dir, "result.json")); err == nil {
		fmt.Fprintf(log, "%s: finished earlier, kept\n", label)
		return r, nil, nil
	}
	st, err := train.ReadState(filepath.Join(dir, train.StateFile))
	switch {
	case err == nil:
		fmt.Fprintf(log, "%s: resuming at step %d\n", label, st.Step)
		return nil, st, nil
	case errors.Is(err, train.ErrNoState):
		return nil, nil, nil
	}
	return nil, nil, err
}

// SaveSweep writes what every sweep's report holds: sweep.csv (header,
// rows), sweep_curves.csv and chart (one series per run, coloured by
// norm, dashed by depth) in the report's folder, and the command line
// as the report's first paragraph. It returns the figure's file names.
func SaveSweep(rep *Report, command string, header []string, table [][]string, chart *plot.LineChart, depths []int, runs []SweepResult) ([]string, error) {
	if err := rep.CSV("sweep.csv", header, table); err != nil {
		return nil, err
	}
	names, err := saveCurves(rep, chart, depths, runs)
	if err != nil {
		return nil, err
	}
	rep.Para("Command: `%s`", command)
	return names, nil
}

// saveCurves writes sweep_curves.csv and chart, and returns the figure's
// file names.
func saveCurves(rep *Report, chart *plot.LineChart, depths []int, runs []SweepResult) ([]string, error) {
	var rows [][]string
	for _, r := range runs {
		s := plot.Series{Label: fmt.Sprintf("%s L%d", r.Norm, r.Depth), Color: NormColor(r.Norm), Dash: slices.Index(depths, r.Depth)}
		for _, p := range r.Curve {
			rows = append(rows, []string{strconv.Itoa(r.Depth), r.Norm, strconv.Itoa(p.Step), Num(p.Loss), Num(p.ValLoss)})
			s.X, s.Y = append(s.X, float64(p.Step)), append(s.Y, p.ValLoss)
		}
		chart.Series = append(chart.Series, s)
	}
	if err := rep.CSV("sweep_curves.csv", []string{"depth", "norm", "step", "loss", "val_loss"}, rows); err != nil {
		return nil, err
	}
	return chart.Save(rep.dir, "sweep_curves")
}
