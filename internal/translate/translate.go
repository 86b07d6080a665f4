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

// Decode decodes every source (SourceIDs) with d by beam search as opt
// says, batch sentences at a time, and returns each one's best
// translation as text, in input order.
func Decode(d *generate.Decoder, codes *bpe.Codes, srcs [][]int32, batch int, opt generate.Options) ([]string, error) {
	best, err := d.TranslateAll(srcs, batch, bpe.PadID, opt)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(best))
	for i, h := range best {
		out[i] = codes.DecodeText(h.Tokens)
	}
	return out, nil
}

// Plan is what a translator is planned for: batches of up to Batch
// sentences of up to Src tokens, and up to Hyps hypotheses of up to Pos
// decoding positions (model.NewTranslatorFor).
type Plan struct{ Batch, Hyps, Src, Pos int }

// PlanFor plans translating srcs (SourceIDs) with a model of config cfg,
// batch sentences at a time, as opt says: for the longest source and
// the longest output opt allows any of them.
func PlanFor(cfg model.Config, srcs [][]int32, batch int, opt generate.Options) (Plan, error) {
	pl := Plan{Batch: min(batch, max(len(srcs), 1)), Src: 1, Pos: 1}
	var err error
	if pl.Hyps, err = limits.SizeProduct("--batch-size × --beam", pl.Batch, opt.Beam); err != nil {
		return Plan{}, err
	}
	for _, s := range srcs {
		pl.Src = max(pl.Src, len(s))
		// positions 0..MaxLen: the last one may only end the output
		pl.Pos = max(pl.Pos, opt.MaxLen(len(s))+1)
	}
	pl.Src, pl.Pos = min(pl.Src, cfg.SeqLen), min(pl.Pos, cfg.SeqLen)
	return pl, nil
}

// Bytes is the memory a translator of config cfg planned as pl takes.
func (pl Plan) Bytes(cfg model.Config) float64 {
	return model.TranslatorBytes(cfg, pl.Batch, pl.Hyps, pl.Src, pl.Pos)
}

// Decoder decodes with p as pl plans, on pool, with up to lanes batches
// at once (generate.Decoder).
func Decoder(p *model.Params, pl Plan, lanes int, pool *asm.Pool) *generate.Decoder {
	return &generate.Decoder{Lanes: lanes, New: func() (generate.Translator, error) {
		tr, err := model.NewTranslatorFor(p, pl.Batch, pl.Hyps, pl.Src, pl.Pos)
		if err != nil {
			return nil, err
		}
		tr.SetPool(pool)
		return tr, nil
	}}
}

// Lanes is how many batches to decode at once when translating n
// sentences with a model of config cfg as pl plans, on pool: one per
// thread and per batch, as many translators as fit in memory beside one
// another and used bytes.
func Lanes(cfg model.Config, n int, pl Plan, used float64, pool *asm.Pool) int {
	return min(pool.Threads(), (n+pl.Batch-1)/pl.Batch, limits.Fitting(used, pl.Bytes(cfg)))
}

// Sentences translates srcs (SourceIDs) with p by beam search as opt
// says, batch sentences at a time, on pool, decoding as many batches at
// once as Lanes allows. what names the work in a refusal for memory.
func Sentences(p *model.Params, codes *bpe.Codes, srcs [][]int32, batch int, opt generate.Options, pool *asm.Pool, what string) ([]string, error) {
	pl, err := PlanFor(p.Cfg, srcs, batch, opt)
	if err != nil {
		return nil, err
	}
	if err := limits.CheckFits(what, pl.Bytes(p.Cfg), "use a smaller --batch-size or --beam"); err != nil {
		return nil, err
	}
	opt.Pool = pool
	return Decode(Decoder(p, pl, Lanes(p.Cfg, len(srcs), pl, 0, pool), pool), codes, srcs, pl.Batch, opt)
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
		opt := Options(cfg, r.Beam, r.LenPen)
		opt.MaxLenA, opt.MaxLenB = r.MaxLenA, r.MaxLenB
		hyps, err := Sentences(p, codes, srcs, r.Batch, opt, r.Pool, "translating with "+ckpt)
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
