package task

import (
	"io"

	"github.com/clinic-ml/clinic/internal/experiment"
	"github.com/clinic-ml/clinic/internal/limits"
	"github.com/clinic-ml/clinic/model"
	"github.com/spf13/pflag"
)

// An Analyzer is a task's Setup that the amplification analyses
// ('clinic analyze change|grads|dependency --task NAME') run on: it
// reads the task's data into the analyses' batches and binds the
// task's models to them (experiment.Data). The CLI registers every
// task's flags on the analysis (AddFlags), as on 'clinic train', so one
// given for another task is refused by name.
type Analyzer interface {
	AnalysisData(in AnalysisInput) (experiment.Data, error)
}

// AnalysisInput is what an analysis gives the task.
type AnalysisInput struct {
	Flags *pflag.FlagSet // the analysis's flags, parsed
	// Model is the analysis's config, which the task completes (a
	// translator's vocabulary and encoder). Meta is a trained
	// checkpoint's metadata (nil for fresh models): its vocabulary is
	// the one to use.
	Model *model.Config
	Meta  map[string]string
	// Checkpoint is the trained checkpoint's path (with Meta), for
	// messages.
	Checkpoint string
	// Data is --data (empty: the task's built-in corpus); batches come
	// from all but its held-out ValFrac. Batch is --batch-size, for a
	// task whose batches count sequences.
	Data    string
	ValFrac float64
	Batch   int
	Log     io.Writer // progress lines
}

// AnalyzerOf is the analyses' side of the task named name, whose flags
// s holds: a task without analyses is a usage error.
func AnalyzerOf(s Setup, name string) (Analyzer, error) {
	a, ok := s.(Analyzer)
	if !ok {
		return nil, limits.Usagef("--task %s has no amplification analyses", name)
	}
	return a, nil
}
