package experiment

import (
	"fmt"
	"io"
	"os"

	"github.com/clinic-ml/clinic/admin"
	"github.com/clinic-ml/clinic/asm"
	"github.com/clinic-ml/clinic/internal/data"
	"github.com/clinic-ml/clinic/internal/fileutil"
	"github.com/clinic-ml/clinic/internal/limits"
	"github.com/clinic-ml/clinic/model"
)

// Analysis is what the analyses of the amplification effect (Change,
// Grads, Dependency) share: models of Base's shape, run on Pool with
// dropout off on Data's batches, seeds Seed, Seed+1, … (Seeds of
// them); the report goes to Out.
type Analysis struct {
	Base  model.Config
	Norms []string
	Seed  uint64
	Seeds int
	Data  Data
	Pool  *asm.Pool
	// Out is the report's folder; Command the command line, for the
	// report; Log gets progress lines (nil: none).
	Out     string
	Command string
	Log     io.Writer
}

func (a *Analysis) log() io.Writer { return orDiscard(a.Log) }

// Data is a task's side of the analyses: its models, bound to its
// batches (a language model's text in LMData; translation's sentence
// pairs in task/translation). Tasks import this package, not the other
// way round.
type Data interface {
	// Fresh is a model of cfg initialized from seed on the batch of
	// seed, Admin's ω profiled on that batch as training does.
	Fresh(cfg model.Config, seed uint64, pool *asm.Pool) (*admin.Net, error)
	// Trained is the trained model p on the batch of seed.
	Trained(p *model.Params, seed uint64, pool *asm.Pool) (*admin.Net, error)
	// SetDepth gives cfg n layers (a translator: on each side).
	SetDepth(cfg *model.Config, n int)
	// Batch says what one batch of cfg is and where it comes from, for
	// the reports ("one batch of 8×64 bytes from X"), and Loss what the
	// loss is ("nats per byte").
	Batch(cfg model.Config) string
	Loss() string
	// Fits refuses a model of cfg whose analysis would not fit in
	// memory.
	Fits(cfg model.Config) error
}

// LMData draws a language model's analysis batches from the training
// part of a text.
type LMData struct {
	text   []byte
	Source string // where the text came from
	bsz    int
}

// NewLMData draws batches of bsz sequences from all but the last
// valFrac of text (source: where it came from; lm.LoadText reads a
// language model's text).
func NewLMData(text []byte, source string, valFrac float64, bsz int) *LMData {
	tr, _ := data.Split(text, valFrac)
	return &LMData{tr, source, bsz}
}

// Get returns the batch of seed for sequences of t tokens.
func (b *LMData) Get(t int, seed uint64) (admin.Batch, error) {
	s, err := data.NewSampler(b.text, b.bsz, t, seed^0xa7a1)
	if err != nil {
		return admin.Batch{}, fmt.Errorf("text (%s): %v", b.Source, err)
	}
	n := b.bsz * t
	ab := admin.Batch{Tokens: make([]int32, n), Targets: make([]int32, n), B: b.bsz, T: t}
	s.Next(ab.Tokens, ab.Targets)
	return ab, nil
}

// Fresh is a language model of cfg initialized from seed.
func (b *LMData) Fresh(cfg model.Config, seed uint64, pool *asm.Pool) (*admin.Net, error) {
	batch, err := b.Get(cfg.SeqLen, seed)
	if err != nil {
		return nil, err
	}
	m, err := admin.NewModel(cfg, seed, batch)
	if err != nil {
		return nil, err
	}
	m.SetPool(pool)
	return admin.LMNet(m, batch), nil
}

// Trained is the trained language model p on the batch of seed.
func (b *LMData) Trained(p *model.Params, seed uint64, pool *asm.Pool) (*admin.Net, error) {
	batch, err := b.Get(p.Cfg.SeqLen, seed)
	if err != nil {
		return nil, err
	}
	m, err := model.New(p, b.bsz, seed)
	if err != nil {
		return nil, err
	}
	m.SetPool(pool)
	return admin.LMNet(m, batch), nil
}

// SetDepth gives cfg n layers.
func (b *LMData) SetDepth(cfg *model.Config, n int) { cfg.Layers = n }

// Batch says what a batch is.
func (b *LMData) Batch(cfg model.Config) string {
	return fmt.Sprintf("one batch of %d×%d bytes from %s", b.bsz, cfg.SeqLen, b.Source)
}

// Loss is the loss's unit.
func (b *LMData) Loss() string { return "nats per byte" }

// Fits refuses a model whose batch would not fit in memory.
func (b *LMData) Fits(cfg model.Config) error {
	return limits.CheckModelFits("this analysis", cfg, nil, b.bsz)
}

// LoadForAnalysis reads a checkpoint for an analysis; the task's
// AnalysisData refuses one of another task.
func LoadForAnalysis(path string) (*model.Params, map[string]string, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, nil, fileutil.PathError(path, err)
	}
	p, meta, err := model.LoadCheckpoint(path)
	if err != nil {
		return nil, nil, err
	}
	if meta == nil {
		meta = map[string]string{}
	}
	return p, meta, nil
}
