// Package translate is inference with an encoder–decoder checkpoint:
// loading it with its subword codes, encoding sources as the model
// reads them and decoding them by beam search (internal/generate).
// 'clinic translate', validation BLEU and the translation sweep's test
// all translate through it.
package translate

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/clinic-ml/clinic/asm"
	"github.com/clinic-ml/clinic/internal/bpe"
	"github.com/clinic-ml/clinic/internal/generate"
	"github.com/clinic-ml/clinic/internal/limits"
	"github.com/clinic-ml/clinic/model"
)

// Task is the task a translator's checkpoint names in its metadata
// ("task"), and the --task that trains one.
const Task = "translate"

// Options are the beam-search settings for translating with a
// model of config cfg: fairseq's defaults otherwise.
func Options(cfg model.Config, beam int, lenpen float64) generate.Options {
	return generate.Options{Beam: beam, LenPen: lenpen, MaxLenA: 0, MaxLenB: 200, Limit: cfg.SeqLen - 1,
		Vocab: cfg.Vocab, BOS: bpe.BOSID, EOS: bpe.EOSID, Banned: []int32{bpe.PadID, bpe.BOSID}}
}

// SourceIDs encodes a source sentence as the model reads it: its
// subword ids, cut to seqLen−1 if longer, then EOS. n is the number of
// subword ids before any cut.
func SourceIDs(codes *bpe.Codes, text string, seqLen int) (ids []int32, n int) {
	ids = codes.Encode(text)
	n = len(ids)
	if n > seqLen-1 {
		ids = ids[:seqLen-1]
	}
	return append(ids, bpe.EOSID), n
}

// Decode decodes every source (SourceIDs) with tr by beam search
// as opt says, batch sentences at a time, and returns each one's best
// translation as text, in input order.
func Decode(tr generate.Translator, codes *bpe.Codes, srcs [][]int32, batch int, opt generate.Options) ([]string, error) {
	best, err := generate.TranslateAll(tr, srcs, batch, bpe.PadID, opt)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(best))
	for i, h := range best {
		out[i] = codes.DecodeText(h.Tokens)
	}
	return out, nil
}

// Sentences translates srcs (SourceIDs) with p by beam search as opt
// says, batch sentences at a time with at most maxHyp hypotheses, on
// pool.
func Sentences(p *model.Params, codes *bpe.Codes, srcs [][]int32, batch, maxHyp int, opt generate.Options, pool *asm.Pool) ([]string, error) {
	tr, err := model.NewTranslator(p, batch, maxHyp)
	if err != nil {
		return nil, err
	}
	tr.SetPool(pool)
	opt.Pool = pool
	return Decode(tr, codes, srcs, batch, opt)
}

// Load loads an encoder–decoder checkpoint and its subword codes.
func Load(path string) (*model.Params, *bpe.Codes, error) {
	p, meta, err := model.LoadCheckpoint(path)
	if err != nil {
		return nil, nil, err
	}
	codes, err := Codes(path, p, meta)
	if err != nil {
		return nil, nil, err
	}
	return p, codes, nil
}

// Codes checks that a loaded checkpoint is a translator and returns the
// subword codes its metadata carries.
func Codes(path string, p *model.Params, meta map[string]string) (*bpe.Codes, error) {
	if p.Cfg.EncoderLayers < 1 {
		return nil, fmt.Errorf("%s is a language model, not a translator", path)
	}
	if t := meta["task"]; t != Task {
		return nil, fmt.Errorf("%s: task %q, not a translation checkpoint", path, t)
	}
	text, ok := meta["bpe_codes"]
	if !ok {
		return nil, fmt.Errorf("%s: no BPE codes in the checkpoint's metadata", path)
	}
	codes, err := bpe.Parse([]byte(text))
	if err != nil {
		return nil, fmt.Errorf("%s: BPE codes: %v", path, err)
	}
	if codes.Size() != p.Cfg.Vocab {
		return nil, fmt.Errorf("%s: the BPE codes give %d tokens, the model has %d", path, codes.Size(), p.Cfg.Vocab)
	}
	if p.Cfg.SeqLen < 2 {
		return nil, fmt.Errorf("%s: seq-len %d leaves no room to translate", path, p.Cfg.SeqLen)
	}
	return codes, nil
}

// Request is how to translate: beam search with Beam and LenPen, outputs
// of at most MaxLenA·srclen + MaxLenB tokens, Batch sentences at once,
// on Pool.
type Request struct {
	Beam            int
	LenPen, MaxLenA float64
	MaxLenB, Batch  int
	Pool            *asm.Pool
}

// Text translates text (named name in messages), one sentence per line,
// with the checkpoint at ckpt: one output line per input line, in
// order; a blank line gives a blank line, and a line longer than the
// model's seq-len is truncated with a warning on warn.
func Text(text []byte, name, ckpt string, r Request, warn io.Writer) ([]byte, error) {
	lines := splitLines(text)
	for i, l := range lines {
		if !utf8.ValidString(l) {
			return nil, fmt.Errorf("%s:%d: not valid UTF-8", name, i+1)
		}
	}

	p, codes, err := Load(ckpt)
	if err != nil {
		return nil, err
	}
	cfg := p.Cfg
	var srcs [][]int32
	var which []int // srcs[k] translates lines[which[k]]
	for i, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		ids, n := SourceIDs(codes, l, cfg.SeqLen)
		if n > cfg.SeqLen-1 {
			fmt.Fprintf(warn, "clinic translate: warning: %s:%d has %d subword tokens, truncated to the model's %d\n",
				name, i+1, n, cfg.SeqLen-1)
		}
		srcs = append(srcs, ids)
		which = append(which, i)
	}
	out := make([]string, len(lines))
	if len(srcs) > 0 {
		nb := min(r.Batch, len(srcs))
		maxHyp, err := limits.SizeProduct("--batch-size × --beam", nb, r.Beam)
		if err != nil {
			return nil, err
		}
		if err := limits.CheckFits("translating with "+ckpt, model.TranslatorBytes(cfg, nb, maxHyp), "use a smaller --batch-size or --beam"); err != nil {
			return nil, err
		}
		opt := Options(cfg, r.Beam, r.LenPen)
		opt.MaxLenA, opt.MaxLenB = r.MaxLenA, r.MaxLenB
		hyps, err := Sentences(p, codes, srcs, nb, maxHyp, opt, r.Pool)
		if err != nil {
			return nil, err
		}
		for k, h := range hyps {
			out[which[k]] = h
		}
	}
	var buf bytes.Buffer
	for _, s := range out {
		// A translation is one line: a model could emit a newline token.
		buf.WriteString(strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s))
		buf.WriteByte('\n')
	}
	return buf.Bytes(), nil
}

// splitLines splits text into lines without their "\n" or "\r\n"; a
// final newline does not start another line.
func splitLines(text []byte) []string {
	if len(text) == 0 {
		return nil
	}
	s := strings.TrimSuffix(string(text), "\n")
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "\r")
	}
	return lines
}

// CheckDecode checks the beam-search flags of 'clinic translate' and
// the translation sweep.
func CheckDecode(beam int, lenpen, maxLenA float64, maxLenB int) error {
	if err := limits.CheckSize("beam", beam, 1, limits.MaxBeam); err != nil {
		return err
	}
	switch {
	case math.IsNaN(lenpen) || math.IsInf(lenpen, 0):
		return limits.Usagef("--lenpen must be finite, got %g", lenpen)
	case !(maxLenA >= 0 && maxLenA <= limits.MaxOutLen):
		return limits.Usagef("--max-len-a must be in [0, %d], got %g", limits.MaxOutLen, maxLenA)
	}
	return limits.CheckSize("max-len-b", maxLenB, 0, limits.MaxOutLen)
}
