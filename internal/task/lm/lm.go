package lm

import (
	"fmt"

	"github.com/clinic-ml/clinic/admin"
	"github.com/clinic-ml/clinic/asm"
	"github.com/clinic-ml/clinic/internal/corpus"
	"github.com/clinic-ml/clinic/internal/data"
	"github.com/clinic-ml/clinic/internal/generate"
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
	j.Model.Generic = !j.Specialized // the layer-code path travels with the config to every model of the run
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
		fmt.Fprintf(j.Out(), "clinic: %s %d layers d%d h%d ff%d, %.2fM parameters, %s/step from %s (%d train, %d validation bytes), %d threads%s, kernels %s, %s\n",
			cfg.Norm, cfg.Layers, cfg.DModel, cfg.Heads, cfg.DFF, float64(cfg.ParamCount())/1e6, j.StepBatches(fmt.Sprintf("%d×%d bytes", j.Batch, cfg.SeqLen)), source,
			len(trainText), len(valText), pool.Threads(), ranks, asm.CPULevel(), train.LayerCode(cfg))
	}
	return j.Run(lm, "byte", nil)
}

// Profile runs Admin's profiling of a model of cfg (seed) on one batch
// of batch sequences from the training part of the text at path (all
// but its last valFrac; "" the built-in corpus), dropout on.
func Profile(cfg model.Config, batch int, seed uint64, path string, valFrac float64, pool *asm.Pool) (*admin.Profile, error) {
	text, source, err := LoadText(path)
	if err != nil {
		return nil, err
	}
	trainText, _ := data.Split(text, valFrac)
	lm, err := train.NewLM(train.LMConfig{Model: cfg, Batch: batch, Seed: seed, Train: trainText, TrainName: source, Pool: pool})
	if err != nil {
		return nil, err
	}
	return lm.ProfileAdmin()
}

// Sample continues prompt by n bytes drawn from the language model at
// path (generate.Sample: temperature temp, among the topK most likely,
// seed), on pool.
func Sample(path string, prompt []byte, n int, temp float64, topK int, seed uint64, pool *asm.Pool) ([]byte, error) {
	p, _, err := model.LoadCheckpoint(path)
	if err != nil {
		return nil, err
	}
	if p.Cfg.EncoderLayers > 0 {
		return nil, fmt.Errorf("%s is an encoder–decoder translator, not a language model: use 'clinic translate'", path)
	}
	// Positions are not parameters: plan for the context this run can
	// reach, not the checkpoint's whole seq-len.
	p.Cfg.SeqLen = min(p.Cfg.SeqLen, len(prompt)+n)
	if err := limits.CheckFits("sampling from "+path, model.ModelBytes(p.Cfg, p.Cfg.SeqLen), "use a shorter --prompt or --length"); err != nil {
		return nil, err
	}
	m, err := model.New(p, 1, seed)
	if err != nil {
		return nil, err
	}
	m.SetPool(pool)
	forward := func(ctx []int32) ([]float32, error) {
		_, err := m.Forward(ctx, nil, 1, len(ctx), false)
		return m.Logits(), err
	}
	return generate.Sample(forward, p.Cfg.Vocab, p.Cfg.SeqLen, prompt, n, temp, topK, seed)
}
