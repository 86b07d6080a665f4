// Package logits runs a checkpoint on one input, dropout off, and
// returns its logits as a safetensors file: a language model on a text,
// a translator on a source and a target (teacher forcing).
// model/testdata/reference.py compares them with PyTorch's.
package logits

import (
	"github.com/clinic-ml/clinic/asm"
	"github.com/clinic-ml/clinic/internal/bpe"
	"github.com/clinic-ml/clinic/internal/limits"
	"github.com/clinic-ml/clinic/internal/safetensors"
	"github.com/clinic-ml/clinic/internal/translate"
	"github.com/clinic-ml/clinic/model"
)

// File is the logits of the checkpoint at path on text (a language
// model) or on src and tgt (a translator), as tensor "logits" with the
// input in the metadata, its number of rows and the vocabulary.
func File(pool *asm.Pool, path, text, src, tgt string) (*safetensors.File, int, int, error) {
	p, meta, err := model.LoadCheckpoint(path)
	if err != nil {
		return nil, 0, 0, err
	}
	f := &safetensors.File{Metadata: map[string]string{}}
	var rows int
	if p.Cfg.EncoderLayers > 0 {
		if src == "" {
			return nil, 0, 0, limits.Usagef("%s is a translator: give --src and --tgt, not --text", path)
		}
		rows, err = translator(f, pool, path, p, meta, src, tgt)
	} else {
		if text == "" {
			return nil, 0, 0, limits.Usagef("%s is a language model: give --text, not --src/--tgt", path)
		}
		rows, err = lm(f, pool, p, text)
	}
	return f, rows, p.Cfg.Vocab, err
}

func lm(f *safetensors.File, pool *asm.Pool, p *model.Params, text string) (int, error) {
	if len(text) > p.Cfg.SeqLen {
		return 0, limits.Usagef("--text has %d bytes, the model's context is %d", len(text), p.Cfg.SeqLen)
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

// translator runs the source (subwords + EOS) and BOS + target
// through a translator checkpoint.
func translator(f *safetensors.File, pool *asm.Pool, path string, p *model.Params, meta map[string]string, src, tgt string) (int, error) {
	codes, err := translate.Codes(path, p, meta)
	if err != nil {
		return 0, err
	}
	s := append(codes.Encode(src), bpe.EOSID)
	t := append([]int32{bpe.BOSID}, codes.Encode(tgt)...)
	if len(s) > p.Cfg.SeqLen || len(t) > p.Cfg.SeqLen {
		return 0, limits.Usagef("--src has %d and --tgt %d subword tokens (with EOS/BOS), the model's seq-len is %d", len(s), len(t), p.Cfg.SeqLen)
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
	f.Metadata["src_ids"], f.Metadata["tgt_ids"] = bpe.FormatIDs(s), bpe.FormatIDs(t)
	f.Tensors = append(f.Tensors, safetensors.NewF32("logits", []int{len(t), p.Cfg.Vocab}, m.Logits()))
	return len(t), nil
}
