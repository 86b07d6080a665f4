package experiment

import (
	"fmt"
	"io"
	"os"

	"github.com/clinic-ml/clinic/internal/fileutil"

	"github.com/clinic-ml/clinic/admin"
	"github.com/clinic-ml/clinic/asm"
	"github.com/clinic-ml/clinic/internal/data"
	"github.com/clinic-ml/clinic/model"
)

// Analysis is what the analyses of the amplification effect (Change,
// Grads, Dependency) share: models of Base's shape, run on Pool with
// dropout off on batches of Batch sequences from Batches, seeds Seed,
// Seed+1, … (Seeds of them); the report goes to Out.
type Analysis struct {
	Base    model.Config
	Norms   []string
	Seed    uint64
	Seeds   int
	Batch   int
	Batches *Batches
	Pool    *asm.Pool
	// Out is the report's folder; Command the command line, for the
	// report; Log gets progress lines (nil: none).
	Out     string
	Command string
	Log     io.Writer
}

func (a *Analysis) log() io.Writer { return orDiscard(a.Log) }

// Batches draws analysis batches from the training part of a text.
type Batches struct {
	text   []byte
	Source string // where the text came from
	bsz    int
}

// NewBatches draws batches of bsz sequences from all but the last
// valFrac of text (source: where it came from; lm.LoadText reads a
// language model's text: the tasks import experiment, not the other
// way round).
func NewBatches(text []byte, source string, valFrac float64, bsz int) *Batches {
	tr, _ := data.Split(text, valFrac)
	return &Batches{tr, source, bsz}
}

// Get returns the batch of seed for sequences of t tokens.
func (b *Batches) Get(t int, seed uint64) (admin.Batch, error) {
	s, err := data.NewSampler(b.text, b.bsz, t, seed^0xa7a1)
	if err != nil {
		return admin.Batch{}, fmt.Errorf("text (%s): %v", b.Source, err)
	}
	n := b.bsz * t
	ab := admin.Batch{Tokens: make([]int32, n), Targets: make([]int32, n), B: b.bsz, T: t}
	s.Next(ab.Tokens, ab.Targets)
	return ab, nil
}

// LoadForAnalysis reads a language model's checkpoint for an analysis.
func LoadForAnalysis(path string) (*model.Params, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fileutil.PathError(path, err)
	}
	p, _, err := model.LoadCheckpoint(path)
	if err == nil && p.Cfg.EncoderLayers > 0 {
		return nil, fmt.Errorf("%s is an encoder–decoder translator; the analyses run on language models", path)
	}
	return p, err
}

// initModel is a fresh model of cfg for seed s, Admin's ω profiled on
// b, on the analysis's pool.
func (a *Analysis) initModel(cfg model.Config, s uint64, b admin.Batch) (*model.Model, error) {
	m, err := admin.NewModel(cfg, s, b)
	if err != nil {
		return nil, err
	}
	m.SetPool(a.Pool)
	return m, nil
}
