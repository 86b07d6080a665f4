package model

import (
	"fmt"
	"github.com/clinic-ml/clinic/asm"

	"github.com/clinic-ml/clinic/internal/checked"
	"github.com/clinic-ml/clinic/internal/phase"
)

// Model is a decoder-only language model: a Params plus the buffers one
// forward and backward pass over a batch of at most B sequences of at
// most SeqLen tokens need. Every buffer is allocated in New; Forward and
// Backward allocate nothing. Several Models may share one Params (a
// training model and a sampler).
type Model struct {
	P   *Params
	Cfg Config
	B   int // batch capacity

	// Hooks see inside the decoder stack's passes (package admin).
	Hooks

	c     *core
	dec   *stack
	head  *head
	seed  uint64
	draws uint64 // training forwards so far: picks the dropout masks
}

// New plans a model over p for batches of up to batch sequences.
func New(p *Params, batch int, seed uint64) (*Model, error) {
	cfg := p.Cfg
	if cfg.EncoderLayers > 0 {
		return nil, fmt.Errorf("an encoder–decoder config needs NewSeq2Seq")
	}
	if batch < 1 {
		return nil, fmt.Errorf("batch size must be at least 1, got %d", batch)
	}
	if _, ok := checked.MulAtMost(maxPlanned, batch, cfg.SeqLen, cfg.DFF); !ok {
		return nil, fmt.Errorf("batch %d × seq-len %d is too large to plan", batch, cfg.SeqLen)
	}
	T := cfg.SeqLen
	N := batch * T
	var sz scratch
	sz.grow(N, N*3*cfg.DModel)
	m := &Model{P: p, Cfg: cfg, B: batch, seed: seed, c: newCore(cfg, sz)}
	m.dec = newStack(m.c, &m.Hooks, p.Embed, p.FinalLN, N, T, 0, true)
	for i := range p.Layers {
		addDecoderLayer(m.dec, &p.Layers[i], nil)
	}
	m.dec.done()
	m.head = newHead(m.c, p.Embed, cfg.Vocab, N)
	return m, nil
}

// SetSeqOffset makes the model's batches sequences [first, first+bsz)
// of a larger batch as far as dropout goes: sequence j draws the masks
// that sequence first+j draws in a pass over the larger batch (same
// seed and draw, same t). Data-parallel ranks use it to train on shares
// of a global batch with the masks of one process. The default, 0, is a
// batch of its own.
func (m *Model) SetSeqOffset(first int) { m.c.seqOff = first }

// Forward runs the model on bsz sequences of t tokens (tokens row-major
// [bsz, t]). With targets it also computes the loss and its gradient
// with respect to the logits and returns the mean loss (nats per
// token); a target < 0 is ignored. train switches dropout on, each
// training call drawing fresh masks.
func (m *Model) Forward(tokens, targets []int32, bsz, t int, train bool) (float64, error) {
	if bsz < 1 || bsz > m.B || t < 1 || t > m.Cfg.SeqLen {
		return 0, fmt.Errorf("batch %d×%d exceeds the planned %d×%d", bsz, t, m.B, m.Cfg.SeqLen)
	}
	n := bsz * t
	if len(tokens) != n || (targets != nil && len(targets) != n) {
		return 0, fmt.Errorf("need %d tokens and targets, got %d and %d", n, len(tokens), len(targets))
	}
	if err := checkTokens(tokens, targets, m.Cfg.Vocab); err != nil {
		return 0, err
	}
	m.c.startPass(train, m.seed, m.draws)
	if train {
		m.draws++
	}
	m.dec.forward(tokens, bsz, t, nil)
	loss, _ := m.head.forward(m.dec.out(), n, targets)
	return loss, nil
}

// checkTokens rejects token ids outside [0, V) and targets ≥ V.
func checkTokens(tokens, targets []int32, V int) error {
	for _, v := range tokens {
		if v < 0 || int(v) >= V {
			return fmt.Errorf("token %d outside the vocabulary [0,%d)", v, V)
		}
	}
	for _, v := range targets {
		if int(v) >= V {
			return fmt.Errorf("target %d outside the vocabulary [0,%d)", v, V)
		}
	}
	return nil
}

// Logits returns the logits of the last Forward, [bsz·t, vocab].
func (m *Model) Logits() []float32 { return m.head.logits[:m.head.n*m.Cfg.Vocab] }

// Backward accumulates into P's gradients the gradient of the mean loss
// of the last Forward, which must have had targets.
func (m *Model) Backward() error {
	if !m.head.haveLoss {
		return fmt.Errorf("backward needs a forward pass with targets")
	}
	m.head.backward(m.dec.out(), m.dec.outGrad())
	m.dec.backward()
	return nil
}

// SetClock times the model's kernels by phase on c (nil: untimed).
func (m *Model) SetClock(c *phase.Clock) { m.c.setClock(c) }

// SetPool makes the model run its kernels on pool (nil, the default:
// on the calling goroutine). Results are bit-identical for any pool.
func (m *Model) SetPool(pool *asm.Pool) { m.c.setPool(pool) }

// Pool is the pool the model runs on.
func (m *Model) Pool() *asm.Pool { return m.c.pool }

// Stream returns the stream x_k of the last Forward (x_0 the embedding
// output, x_{2L} the last sublayer's output).
func (m *Model) Stream(k int) []float32 { return m.dec.xs[k][:m.dec.n*m.Cfg.DModel] }

// addDecoderLayer appends a decoder layer's sublayers to st:
// self-attention, cross-attention over mem (when mem is not nil) and the
// FFN.
func addDecoderLayer(st *stack, lp *LayerParams, mem *stack) {
	addSelfAttention(st, lp)
	if mem != nil {
		c := st.c
		N, d := st.rows, c.d
		a := &attention{st: st, mem: mem, qW: lp.CrossQW, qB: lp.CrossQB, kvW: lp.CrossKVW, kvB: lp.CrossKVB,
			outW: lp.CrossOutW, outB: lp.CrossOutB,
			qkv: make([]float32, N*d), kv: make([]float32, mem.rows*2*d),
			P: make([]float32, N*c.cfg.Heads*mem.maxLen), o: make([]float32, N*d)}
		st.add(newSublayer(a, lp.crossOwn(), N, d))
		a.site = st.subs[len(st.subs)-1].site() + 1
	}
	addFFN(st, lp)
}

func addSelfAttention(st *stack, lp *LayerParams) {
	c := st.c
	N, d := st.rows, c.d
	a := &attention{st: st, mem: st, causal: st.causal, qkvW: lp.QKVW, qkvB: lp.QKVB, outW: lp.OutW, outB: lp.OutB,
		qkv: make([]float32, N*3*d), P: make([]float32, N*c.cfg.Heads*st.maxLen), o: make([]float32, N*d)}
	st.add(newSublayer(a, lp.selfOwn(), N, d))
	a.site = st.subs[len(st.subs)-1].site() + 1
}

func addFFN(st *stack, lp *LayerParams) {
	c := st.c
	N := st.rows
	f := &feedForward{st: st, lp: lp, pre: make([]float32, N*c.cfg.DFF), hid: make([]float32, N*c.cfg.DFF)}
	st.add(newSublayer(f, lp.ffnOwn(), N, c.d))
	f.site = st.subs[len(st.subs)-1].site() + 1
}

// Draws is the number of training-mode forward passes so far; it picks
// the dropout masks of the next one.
func (m *Model) Draws() uint64 { return m.draws }

// SetDraws moves the dropout stream to position n: the next
// training-mode Forward uses the masks of draw n. Resuming a run sets it
// back to where the run was; Admin's profiling draws from a stream of
// its own and then puts the position back.
func (m *Model) SetDraws(n uint64) { m.draws = n }
