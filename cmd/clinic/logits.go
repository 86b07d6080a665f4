package main

import (
	"fmt"
	"io"

	"github.com/clinic-ml/clinic/asm"
	"github.com/clinic-ml/clinic/internal/safetensors"
	"github.com/clinic-ml/clinic/model"
)

func runLogits(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("logits", "Run a checkpoint on the bytes of --text (dropout off) and write the logits,\n[T, vocab], as tensor \"logits\" of a safetensors file. model/testdata/reference.py\ncheck --expect-logits compares them with PyTorch's.", stdout)
	ckpt := fs.String("checkpoint", "runs/latest/model.safetensors", "checkpoint to load")
	text := fs.String("text", "", "input text (at most seq-len bytes)")
	out := fs.String("out", "logits.safetensors", "where to write the logits")
	threads := fs.Int("threads", 0, "worker threads (0: one per CPU)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *text == "" {
		return usagef("--text must not be empty")
	}
	if *threads < 0 {
		return usagef("--threads must be ≥ 0, got %d", *threads)
	}
	asm.SetThreads(*threads)
	p, _, err := model.LoadCheckpoint(*ckpt)
	if err != nil {
		return err
	}
	if len(*text) > p.Cfg.SeqLen {
		return usagef("--text has %d bytes, the model's context is %d", len(*text), p.Cfg.SeqLen)
	}
	m, err := model.New(p, 1, 1)
	if err != nil {
		return err
	}
	toks := make([]int32, len(*text))
	for i := 0; i < len(*text); i++ {
		toks[i] = int32((*text)[i])
	}
	if _, err := m.Forward(toks, nil, 1, len(toks), false); err != nil {
		return err
	}
	f := &safetensors.File{Metadata: map[string]string{"text": *text}}
	f.Tensors = append(f.Tensors, safetensors.NewF32("logits", []int{len(toks), p.Cfg.Vocab}, m.Logits()))
	if err := safetensors.WriteFile(*out, f); err != nil {
		return fmt.Errorf("writing %s: %v", *out, err)
	}
	fmt.Fprintf(stdout, "wrote %s: logits [%d, %d]\n", *out, len(toks), p.Cfg.Vocab)
	return nil
}
