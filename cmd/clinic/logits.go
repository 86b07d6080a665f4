package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/clinic-ml/clinic/asm"
	"github.com/clinic-ml/clinic/internal/bpe"
	"github.com/clinic-ml/clinic/internal/fileutil"
	"github.com/clinic-ml/clinic/internal/limits"
	"github.com/clinic-ml/clinic/internal/safetensors"
	"github.com/clinic-ml/clinic/internal/translate"
	"github.com/clinic-ml/clinic/model"
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
	if err := notInput("out", *out, *ckpt); err != nil {
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
	p, meta, err := model.LoadCheckpoint(*ckpt)
	if err != nil {
		return err
	}
	f := &safetensors.File{Metadata: map[string]string{}}
	var rows int
	if p.Cfg.EncoderLayers > 0 {
		if *src == "" {
			return usagef("%s is a translator: give --src and --tgt, not --text", *ckpt)
		}
		rows, err = translatorLogits(f, pool, *ckpt, p, meta, *src, *tgt)
	} else {
		if *text == "" {
			return usagef("%s is a language model: give --text, not --src/--tgt", *ckpt)
		}
		rows, err = lmLogits(f, pool, p, *text)
	}
	if err != nil {
		return err
	}
	if err := safetensors.WriteFile(*out, f); err != nil {
		return fmt.Errorf("writing %s: %v", *out, err)
	}
	fmt.Fprintf(stdout, "wrote %s: logits [%d, %d]\n", *out, rows, p.Cfg.Vocab)
	return nil
}

func lmLogits(f *safetensors.File, pool *asm.Pool, p *model.Params, text string) (int, error) {
	if len(text) > p.Cfg.SeqLen {
		return 0, usagef("--text has %d bytes, the model's context is %d", len(text), p.Cfg.SeqLen)
	}
	p.Cfg.SeqLen = len(text) // plan for the text given, not the whole context
	m, err := model.New(p, 1, 1)
	if err != nil {
		return 0, err
	}
	m.SetPool(pool)
	toks := make([]int32, len(text))
	for i := 0; i < len(text); i++ {
		toks[i] = int32(text[i])
	}
	if _, err := m.Forward(toks, nil, 1, len(toks), false); err != nil {
		return 0, err
	}
	f.Metadata["text"] = text
	f.Tensors = append(f.Tensors, safetensors.NewF32("logits", []int{len(toks), p.Cfg.Vocab}, m.Logits()))
	return len(toks), nil
}

// translatorLogits runs the source (subwords + EOS) and BOS + target
// through a translator checkpoint.
func translatorLogits(f *safetensors.File, pool *asm.Pool, path string, p *model.Params, meta map[string]string, src, tgt string) (int, error) {
	codes, err := translate.Codes(path, p, meta)
	if err != nil {
		return 0, err
	}
	s := append(codes.Encode(src), bpe.EOSID)
	t := append([]int32{bpe.BOSID}, codes.Encode(tgt)...)
	if len(s) > p.Cfg.SeqLen || len(t) > p.Cfg.SeqLen {
		return 0, usagef("--src has %d and --tgt %d subword tokens (with EOS/BOS), the model's seq-len is %d", len(s), len(t), p.Cfg.SeqLen)
	}
	p.Cfg.SeqLen = max(len(s), len(t)) // plan for the pair given
	m, err := model.NewSeq2Seq(p, max(len(s), len(t)), 1)
	if err != nil {
		return 0, err
	}
	m.SetPool(pool)
	b := &model.Pair{Bsz: 1, SrcT: len(s), TgtT: len(t), Src: s, SrcLens: []int32{int32(len(s))}, TgtIn: t}
	if _, _, err := m.Forward(b, false); err != nil {
		return 0, err
	}
	f.Metadata["src_ids"], f.Metadata["tgt_ids"] = ids(s), ids(t)
	f.Tensors = append(f.Tensors, safetensors.NewF32("logits", []int{len(t), p.Cfg.Vocab}, m.Logits()))
	return len(t), nil
}

func ids(xs []int32) string {
	var b strings.Builder
	for i, x := range xs {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.Itoa(int(x)))
	}
	return b.String()
}
