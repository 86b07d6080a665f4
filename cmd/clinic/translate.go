package main

import (
	"fmt"
	"io"

	"github.com/clinic-ml/clinic/internal/atomicfile"
	"github.com/clinic-ml/clinic/internal/fileutil"
	"github.com/clinic-ml/clinic/internal/limits"
	"github.com/clinic-ml/clinic/internal/rundir"
	"github.com/clinic-ml/clinic/internal/translate"
)

func runTranslate(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("translate", "Translate source sentences, one per line, with an encoder–decoder checkpoint\n"+
		"('clinic train --task translate') by beam search as fairseq-generate does. Empty\n"+
		"lines give empty lines; lines longer than the model's seq-len in subword tokens\n"+
		"are truncated with a warning.", stdout)
	ckpt := fs.String("checkpoint", "runs/latest/model.safetensors", "translation checkpoint to load")
	input := fs.String("input", "-", "source sentences, one per line (\"-\": stdin)")
	output := fs.String("output", "-", "where to write the translations, one per line in input order (\"-\": stdout)")
	beam := fs.Int("beam", 5, "beam size (1: greedy)")
	lenpen := fs.Float64("lenpen", 1, "length penalty: hypotheses are scored Σ log p / length^lenpen")
	maxLenA := fs.Float64("max-len-a", 0, "outputs have at most a·srclen + b tokens (srclen with its EOS; capped by seq-len)")
	maxLenB := fs.Int("max-len-b", 200, "see --max-len-a")
	batch := fs.Int("batch-size", 32, "sentences decoded together (a batch; --threads N decodes N batches at once)")
	var sh shared
	sh.take(fs, "threads")
	if err := parse(fs, args); err != nil {
		return err
	}
	// "-" (or nothing) is stdin and stdout, as bleu's --hyp -.
	toStdout := *output == "" || *output == "-"
	if !toStdout {
		if err := fileutil.CheckOutput(*output); err != nil {
			return err
		}
	}
	if err := rundir.OutputNotInput("output", *output, stdout, *input, *ckpt); err != nil {
		return err
	}
	if err := translate.CheckDecode(*beam, *lenpen, *maxLenA, *maxLenB); err != nil {
		return err
	}
	if err := limits.CheckSize("batch-size", *batch, 1, limits.MaxBatch); err != nil {
		return err
	}
	if err := limits.CheckThreads(sh.threads); err != nil {
		return err
	}
	pool, err := sh.pool()
	if err != nil {
		return err
	}
	defer pool.Close()

	name, text := "stdin", []byte(nil)
	if *input != "" && *input != "-" {
		name = *input
		if text, err = fileutil.ReadRegular(*input, fileutil.MaxText); err != nil {
			return err
		}
	} else if text, err = fileutil.ReadAll(stdin, name, fileutil.MaxText); err != nil {
		return err
	}
	out, err := translate.Text(text, name, *ckpt, translate.Request{Beam: *beam, LenPen: *lenpen, MaxLenA: *maxLenA, MaxLenB: *maxLenB, Batch: *batch, Pool: pool}, stderr)
	if err != nil {
		return err
	}
	if toStdout {
		_, err := stdout.Write(out)
		return err
	}
	if err := atomicfile.WriteFile(*output, out); err != nil {
		return fmt.Errorf("writing %s: %v", *output, fileutil.Cause(err))
	}
	return nil
}
