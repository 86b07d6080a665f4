package main

import (
	"fmt"
	"io"

	"github.com/clinic-ml/clinic/internal/fileutil"
	"github.com/clinic-ml/clinic/internal/limits"
	"github.com/clinic-ml/clinic/internal/logits"
	"github.com/clinic-ml/clinic/internal/rundir"
	"github.com/clinic-ml/clinic/internal/safetensors"
)

func runLogits(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("logits", "Run a checkpoint (dropout off) and write its logits as tensor \"logits\" of a\nsafetensors file: a language model on the bytes of --text ([T, vocab]), a\ntranslator on --src and --tgt (teacher forcing, [target tokens + 1, vocab]; the\nsubword ids are in the file's metadata). model/testdata/reference.py check\n--expect-logits compares them with PyTorch's.", stdout)
	ckpt := fs.String("checkpoint", "runs/latest/model.safetensors", "checkpoint to load")
	text := fs.String("text", "", "language model: input text (at most seq-len bytes)")
	src := fs.String("src", "", "translator: source sentence")
	tgt := fs.String("tgt", "", "translator: target sentence the decoder reads (after BOS)")
	out := fs.String("out", "logits.safetensors", "where to write the logits")
	var sh shared
	sh.take(fs, "threads")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := limits.CheckThreads(sh.threads); err != nil {
		return err
	}
	if err := fileutil.CheckOutput(*out); err != nil {
		return err
	}
	if err := rundir.NotInput("out", *out, *ckpt); err != nil {
		return err
	}
	if *text != "" && (*src != "" || *tgt != "") {
		return usagef("--text is for a language model, --src and --tgt for a translator: not both")
	}
	if *text == "" && *src == "" {
		return usagef("give --text (language model) or --src and --tgt (translator)")
	}
	pool, err := sh.pool()
	if err != nil {
		return err
	}
	defer pool.Close()
	f, rows, vocab, err := logits.File(pool, *ckpt, *text, *src, *tgt)
	if err != nil {
		return err
	}
	if err := safetensors.WriteFile(*out, f); err != nil {
		return fmt.Errorf("writing %s: %v", *out, err)
	}
	fmt.Fprintf(stdout, "wrote %s: logits [%d, %d]\n", *out, rows, vocab)
	return nil
}
