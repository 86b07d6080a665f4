package model

import (
	"fmt"
	"github.com/clinic-ml/clinic/asm"

	"github.com/clinic-ml/clinic/internal/checked"
	"github.com/clinic-ml/clinic/internal/phase"
)

// Pair is a batch for Seq2Seq: Bsz sentence pairs, sources [Bsz, SrcT]
// and targets [Bsz, TgtT], row-major and right-padded (the padding's
// token ids are any valid ids; attention never reads them).
type Pair struct {
	Bsz, SrcT, TgtT int
	Src             []int32 // source tokens, ending in EOS
	SrcLens         []int32 // valid length of each source, 1..SrcT
	TgtIn           []int32 // decoder input: BOS, target tokens
	// TgtOut are the targets, the target tokens then EOS; < 0 marks
	// padding, which the loss ignores.
	TgtOut []int32
	// TgtLens is the valid length of each target (nil: all TgtT); only
	// analyses that must skip padding read it.
	TgtLens []int32
}

// Rows is the capacity a Seq2Seq needs for the batch (NewSeq2Seq's
// rows): its sentences times the longer side's padded length.
func (b *Pair) Rows() int { return b.Bsz * max(b.SrcT, b.TgtT) }

// Seq2Seq is an encoder–decoder translator (Vaswani et al. 2017, in the
// variants of docs/model.md): a bidirectional encoder over the source
// with key-padding masks, a causal decoder whose layers also attend to
// the encoder's output, and one embedding for source, target and output.
// Like Model, it plans every buffer in NewSeq2Seq and allocates nothing
// in Forward and Backward.
type Seq2Seq struct {
	P   *Params
	Cfg Config
	// Rows is the planned capacity of each side: sentences × padded
	// length, as token-based batching bounds it.
	Rows int

	// Hooks see inside each stack's passes (package admin).
	EncoderHooks, DecoderHooks Hooks

	c        *core
	enc, dec *stack
	head     *head
	seed     uint64
	draws    uint64
}

// decoderSites separates the decoder's dropout sites from the encoder's.
const decoderSites = 1 << 20

// NewSeq2Seq plans an encoder–decoder over p for batches of up to rows
// tokens per side (Bsz·SrcT and Bsz·TgtT), sequences of up to
// p.Cfg.SeqLen tokens.
func NewSeq2Seq(p *Params, rows int, seed uint64) (*Seq2Seq, error) {
	return newSeq2Seq(p, rows, seed, false)
}

// newSeq2Seq is NewSeq2Seq; encoderOnly plans the encoder stack alone
// (a Translator's: its decoder runs step by step on buffers of its own,
// and a decoder stack and output head planned for every source token
// were two thirds of its memory).
func newSeq2Seq(p *Params, rows int, seed uint64, encoderOnly bool) (*Seq2Seq, error) {
	cfg := p.Cfg
	if cfg.EncoderLayers < 1 {
		return nil, fmt.Errorf("an encoder–decoder needs encoder layers, config has %d", cfg.EncoderLayers)
	}
	if rows < 1 {
		return nil, fmt.Errorf("batch capacity must be at least 1 token, got %d", rows)
	}
	T, d, H := cfg.SeqLen, cfg.DModel, cfg.Heads
	if _, ok := checked.MulAtMost(maxPlanned, rows, max(cfg.DFF, H*T, 3*d)); !ok {
		return nil, fmt.Errorf("batch of %d tokens with seq-len %d is too large to plan", rows, T)
	}
	var sz scratch
	sz.grow(rows, rows*3*d)
	m := &Seq2Seq{P: p, Cfg: cfg, Rows: rows, seed: seed, c: newCore(cfg, sz)}
	m.enc = newStack(m.c, &m.EncoderHooks, p.Embed, p.EncFinalLN, rows, T, 0, false)
	for i := range p.Encoder {
		lp := &p.Encoder[i]
		addSelfAttention(m.enc, lp)
		addFFN(m.enc, lp)
	}
	m.enc.done()
	if encoderOnly {
		return m, nil
	}
	m.dec = newStack(m.c, &m.DecoderHooks, p.Embed, p.FinalLN, rows, T, decoderSites, true)
	for i := range p.Layers {
		addDecoderLayer(m.dec, &p.Layers[i], m.enc)
	}
	m.dec.done()
	m.head = newHead(m.c, p.Embed, cfg.Vocab, rows)
	return m, nil
}

// check validates a batch against the plan and the vocabulary.
func (m *Seq2Seq) check(b *Pair) error {
	switch {
	case b.Bsz < 1 || b.SrcT < 1 || b.TgtT < 1:
		return fmt.Errorf("empty batch %d×(%d, %d)", b.Bsz, b.SrcT, b.TgtT)
	case b.SrcT > m.Cfg.SeqLen || b.TgtT > m.Cfg.SeqLen:
		return fmt.Errorf("sequences of %d and %d tokens exceed seq-len %d", b.SrcT, b.TgtT, m.Cfg.SeqLen)
	case b.Bsz*b.SrcT > m.Rows || b.Bsz*b.TgtT > m.Rows:
		return fmt.Errorf("batch %d×(%d, %d) exceeds the planned %d tokens per side", b.Bsz, b.SrcT, b.TgtT, m.Rows)
	case len(b.Src) != b.Bsz*b.SrcT || len(b.TgtIn) != b.Bsz*b.TgtT || len(b.SrcLens) != b.Bsz:
		return fmt.Errorf("batch arrays do not match its shape %d×(%d, %d)", b.Bsz, b.SrcT, b.TgtT)
	case b.TgtOut != nil && len(b.TgtOut) != b.Bsz*b.TgtT:
		return fmt.Errorf("batch has %d targets for %d×%d positions", len(b.TgtOut), b.Bsz, b.TgtT)
	case b.TgtLens != nil && len(b.TgtLens) != b.Bsz:
		return fmt.Errorf("batch has %d target lengths for %d pairs", len(b.TgtLens), b.Bsz)
	}
	for i, l := range b.SrcLens {
		if l < 1 || int(l) > b.SrcT {
			return fmt.Errorf("source %d has length %d, outside 1..%d", i, l, b.SrcT)
		}
	}
	for i, l := range b.TgtLens {
		if l < 1 || int(l) > b.TgtT {
			return fmt.Errorf("target %d has length %d, outside 1..%d", i, l, b.TgtT)
		}
	}
	if err := checkTokens(b.Src, nil, m.Cfg.Vocab); err != nil {
		return err
	}
	return checkTokens(b.TgtIn, b.TgtOut, m.Cfg.Vocab)
}

// Forward runs the encoder on the sources and the decoder on the target
// inputs (teacher forcing). With targets it computes the label-smoothed
// cross-entropy and its gradient with respect to the logits and returns
// the mean loss per target token and the number of target tokens. train
// switches dropout on, each training call drawing fresh masks.
func (m *Seq2Seq) Forward(b *Pair, train bool) (float64, int, error) {
	if err := m.check(b); err != nil {
		return 0, 0, err
	}
	m.c.startPass(train, m.seed, m.draws)
	if train {
		m.draws++
	}
	m.enc.forward(b.Src, b.Bsz, b.SrcT, b.SrcLens)
	m.dec.forward(b.TgtIn, b.Bsz, b.TgtT, b.TgtLens)
	loss, count := m.head.forward(m.dec.out(), b.Bsz*b.TgtT, b.TgtOut)
	return loss, count, nil
}

// Backward accumulates into P's gradients the gradient of the mean loss
// of the last Forward, which must have had targets.
func (m *Seq2Seq) Backward() error {
	if !m.head.haveLoss {
		return fmt.Errorf("backward needs a forward pass with targets")
	}
	m.head.backward(m.dec.out(), m.dec.outGrad())
	// The decoder's cross-attention layers add up the gradient of the
	// encoder's output.
	clear(m.enc.outGrad())
	m.dec.backward()
	m.enc.backward()
	return nil
}

// Logits returns the logits of the last Forward, [Bsz·TgtT, vocab].
func (m *Seq2Seq) Logits() []float32 { return m.head.logits[:m.head.n*m.Cfg.Vocab] }

// EncoderOutput returns the encoder's output of the last Forward,
// [Bsz·SrcT, d].
func (m *Seq2Seq) EncoderOutput() []float32 { return m.enc.out() }

// SetClock times the model's kernels by phase on c (nil: untimed).
func (m *Seq2Seq) SetClock(c *phase.Clock) { m.c.setClock(c) }

// SetPool makes the model run its kernels on pool (nil, the default:
// on the calling goroutine). Results are bit-identical for any pool.
func (m *Seq2Seq) SetPool(pool *asm.Pool) { m.c.setPool(pool) }

// Pool is the pool the model runs on.
func (m *Seq2Seq) Pool() *asm.Pool { return m.c.pool }

// Draws is the number of training-mode forward passes so far.
func (m *Seq2Seq) Draws() uint64 { return m.draws }

// SetDraws moves the dropout stream to position n (see Model.SetDraws).
func (m *Seq2Seq) SetDraws(n uint64) { m.draws = n }

// SetSeqOffset makes the model's batches rows [first, first+Bsz) of a
// larger batch of the same padded lengths (SrcT, TgtT) as far as
// dropout goes, as Model.SetSeqOffset does: row j draws the masks row
// first+j draws in a pass over the larger batch. A share padded to its
// own longest sentence would draw other masks, so a data-parallel rank
// keeps the global batch's widths.
func (m *Seq2Seq) SetSeqOffset(first int) { m.c.seqOff = first }

// RowsOf reports the shape of the encoder's (or the decoder's) last pass:
// sequences, padded length and the valid length of each (nil: all
// full). Analyses that skip padding read it.
func (m *Seq2Seq) RowsOf(encoder bool) (bsz, t int, lens []int32) {
	s := m.dec
	if encoder {
		s = m.enc
	}
	return s.bsz, s.t, s.lens
}
