package lm

import (
	"fmt"

	"github.com/clinic-ml/clinic/asm"
	"github.com/clinic-ml/clinic/internal/corpus"
	"github.com/clinic-ml/clinic/internal/data"
	"github.com/clinic-ml/clinic/internal/limits"
	"github.com/clinic-ml/clinic/internal/train"
	"github.com/clinic-ml/clinic/model"
)

// LoadText returns a language model's training text: the file or folder
// at path, or the built-in corpus when path is empty, and where it came
// from.
func LoadText(path string) ([]byte, string, error) {
	if path == "" {
		return corpus.SOTU(), "built-in State of the Union corpus", nil
	}
	b, err := data.Load(path)
	if err != nil {
		return nil, "", err
	}
	return b, path, nil
}

// Run runs j as a byte-level language model's training: the text of
// j.Data split by j.ValFrac, batches of j.Batch sequences. Progress goes
// to j.Stderr, the summary to j.Stdout; with j.Quiet, nothing is printed.
func Run(j train.Job) (*train.Result, error) {
	pool, done, err := j.Workers()
	if err != nil {
		return nil, err
	}
	defer done()
	model.SetSpecialized(j.Specialized)
	defer model.SetSpecialized(true)
	text, source, err := LoadText(j.Data)
	if err != nil {
		return nil, err
	}
	trainText, valText := data.Split(text, j.ValFrac)
	cfg := j.Model
	rows, err := limits.SizeProduct("--batch-size × --seq-len", j.Batch, cfg.SeqLen)
	if err != nil {
		return nil, err
	}
	if err := limits.CheckFits("training this model", model.TrainingBytes(cfg, rows), "make the model, --batch-size or --seq-len smaller"); err != nil {
		return nil, err
	}
	lm, err := train.NewLM(train.LMConfig{Model: cfg, Batch: j.Batch, EvalBatches: j.EvalBatches, Seed: j.Seed,
		Train: trainText, Val: valText, TrainName: source, Ranks: j.Ranks(), Rank: j.Rank(), Pool: pool,
		ValName: fmt.Sprintf("last %g of %s, %d bytes", j.ValFrac, source, len(valText))})
	if err != nil {
		return nil, err
	}
	if err := j.MkDir(); err != nil {
		return nil, err
	}
	if cfg.Norm == model.Admin {
		if err := j.SetAdmin(lm); err != nil {
			return nil, err
		}
	}
	if err := j.Begin(); err != nil {
		return nil, err
	}
	if !j.Quiet {
		ranks := ""
		if j.Ranks() > 1 {
			ranks = fmt.Sprintf(" per rank, %d MPI ranks (%s)", j.Ranks(), j.Comm.Name())
		}
		fmt.Fprintf(j.Out(), "clinic: %s %d layers d%d h%d ff%d, %.2fM parameters, %d×%d bytes/step from %s (%d train, %d validation bytes), %d threads%s, kernels %s, %s\n",
			cfg.Norm, cfg.Layers, cfg.DModel, cfg.Heads, cfg.DFF, float64(cfg.ParamCount())/1e6, j.Batch, cfg.SeqLen, source,
			len(trainText), len(valText), pool.Threads(), ranks, asm.CPULevel(), train.LayerCode(cfg))
	}
	return j.Run(lm, "byte", nil)
}
