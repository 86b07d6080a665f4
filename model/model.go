package model

import (
	"fmt"
	"math"

	"github.com/clinic-ml/clinic/asm"
	"github.com/clinic-ml/clinic/internal/phase"
)

// Model is a Params plus the buffers one forward and backward pass over
// a batch of at most B sequences of at most SeqLen tokens need. Every
// buffer is allocated in New; Forward and Backward allocate nothing.
// Several Models may share one Params (a training model and a sampler).
type Model struct {
	P   *Params
	Cfg Config
	B   int // batch capacity

	bsz, t, n int // current batch, sequence length, rows = bsz·t
	train     bool
	seed      uint64
	draws     uint64 // training forwards so far: picks the dropout masks
	keyBase   uint64
	haveLoss  bool

	pe      []float32 // [SeqLen, d]
	ones    []float32 // [d], the ω of Post-LN
	tokens  []int32
	targets []int32
	xs      [][]float32 // stream x_0 .. x_{2L}, each [n, d]
	subs    []*sublayer
	finalLN lnSaved   // preln
	xf      []float32 // stream output fed to the logits
	logits  []float32
	dlogits []float32
	rowLoss []float64

	// gradient buffers shared by all sublayers
	dA, dB, dF, dH, dS []float32 // [n, d]
	dQKV, dO           []float32 // attention
	pd, dP             []float32 // [B·H·T·T]
	dHid               []float32 // [n, d_ff]
	fo                 []float32 // branch output scratch [n, d]

	op        *ops
	clock     *phase.Clock
	attnFwd   func(lo, hi int)
	attnBack  func(lo, hi int)
	embFwd    func(lo, hi int)
	embBack   func(lo, hi int)
	xentRows  func(lo, hi int)
	curAttn   *attention
	gradScale float32

	// SublayerHook, when set, sees each residual sublayer k during
	// Forward, after its branch ran and before the shortcut is added: x
	// is the stream input, branch the branch output after dropout, omega
	// the sublayer's ω (Admin; nil otherwise), which the hook may rewrite
	// before it is used. Admin's profiling and the dependency analysis
	// (package admin) are built on it; with no hook set, Forward fuses
	// the dropout into the residual add.
	SublayerHook func(k int, x, branch, omega []float32)
	// SublayerGrad, when set, sees each sublayer's output gradient during
	// Backward (the analysis of gradient norms uses it).
	SublayerGrad func(k int, grad []float32)
}

type lnSaved struct {
	mean, rstd []float32
}

// New plans a model over p for batches of up to batch sequences.
func New(p *Params, batch int, seed uint64) (*Model, error) {
	cfg := p.Cfg
	if batch < 1 {
		return nil, fmt.Errorf("batch size must be at least 1, got %d", batch)
	}
	if int64(batch)*int64(cfg.SeqLen)*int64(cfg.DFF) > 1<<33 {
		return nil, fmt.Errorf("batch %d × seq-len %d is too large to plan", batch, cfg.SeqLen)
	}
	d, T, L := cfg.DModel, cfg.SeqLen, cfg.Layers
	N := batch * T
	m := &Model{P: p, Cfg: cfg, B: batch, seed: seed, op: newOps()}
	f32 := func(n int) []float32 { return make([]float32, n) }
	m.pe = f32(T * d)
	for t := 0; t < T; t++ {
		for i := 0; i < d/2; i++ {
			a := float64(t) * math.Pow(10000, -2*float64(i)/float64(d))
			m.pe[t*d+2*i] = float32(math.Sin(a))
			m.pe[t*d+2*i+1] = float32(math.Cos(a))
		}
	}
	m.ones = f32(d)
	for i := range m.ones {
		m.ones[i] = 1
	}
	m.tokens = make([]int32, N)
	m.targets = make([]int32, N)
	m.xs = make([][]float32, 2*L+1)
	m.xs[0] = f32(N * d)
	HTT := batch * cfg.Heads * T * T
	for i := 0; i < L; i++ {
		lp := &p.Layers[i]
		att := &attention{m: m, lp: lp, qkv: f32(N * 3 * d), P: f32(HTT), o: f32(N * d)}
		ffn := &feedForward{m: m, lp: lp, pre: f32(N * cfg.DFF), hid: f32(N * cfg.DFF)}
		for j, br := range []branch{att, ffn} {
			k := 2*i + j
			s := &sublayer{m: m, k: k, br: br, out: f32(N * d), saved: f32(N * d),
				mean: f32(N), rstd: f32(N)}
			if j == 0 {
				s.g, s.b, s.omega = lp.LN1G, lp.LN1B, lp.Omega1
				att.site = 3*k + 2
			} else {
				s.g, s.b, s.omega = lp.LN2G, lp.LN2B, lp.Omega2
				ffn.site = 3*k + 2
			}
			m.subs = append(m.subs, s)
			m.xs[k+1] = s.out
		}
	}
	if cfg.Norm == PreLN {
		m.xf = f32(N * d)
		m.finalLN = lnSaved{f32(N), f32(N)}
	} else {
		m.xf = m.xs[2*L]
	}
	m.logits = f32(N * cfg.Vocab)
	m.dlogits = f32(N * cfg.Vocab)
	m.rowLoss = make([]float64, N)
	m.dA, m.dB, m.dF, m.dH, m.dS, m.fo = f32(N*d), f32(N*d), f32(N*d), f32(N*d), f32(N*d), f32(N*d)
	m.dQKV, m.dO = f32(N*3*d), f32(N*d)
	m.pd, m.dP = f32(HTT), f32(HTT)
	m.dHid = f32(N * cfg.DFF)
	m.attnFwd = func(lo, hi int) {
		for i := lo; i < hi; i++ {
			m.curAttn.headForward(i)
		}
	}
	m.attnBack = func(lo, hi int) {
		for i := lo; i < hi; i++ {
			m.curAttn.headBackward(i)
		}
	}
	m.embFwd = m.embedRows
	m.embBack = m.embedGradCols
	m.xentRows = m.xent
	return m, nil
}

// siteKey is the dropout key of one dropout site in the current pass.
func (m *Model) siteKey(site int) uint64 {
	return asm.Mix64(m.keyBase ^ asm.Mix64(uint64(site)))
}

// drop returns p when training, else 0.
func (m *Model) drop(p float32) float32 {
	if m.train {
		return p
	}
	return 0
}

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
	V := int32(m.Cfg.Vocab)
	for _, v := range tokens {
		if v < 0 || v >= V {
			return 0, fmt.Errorf("token %d outside the vocabulary [0,%d)", v, V)
		}
	}
	for _, v := range targets {
		if v >= V {
			return 0, fmt.Errorf("target %d outside the vocabulary [0,%d)", v, V)
		}
	}
	m.bsz, m.t, m.n, m.train = bsz, t, n, train
	if train {
		m.keyBase = asm.Mix64(m.seed ^ asm.Mix64(m.draws))
		m.draws++
	}
	copy(m.tokens, tokens)
	d := m.Cfg.DModel

	m.par(phase.Elementwise, n, m.embFwd)
	x0 := m.xs[0][:n*d]
	m.op.Dropout(x0, x0, m.drop(m.Cfg.Dropout), m.siteKey(0))
	for _, s := range m.subs {
		s.forward()
	}
	xf := m.xf[:n*d]
	if m.Cfg.Norm == PreLN {
		fp := m.P.FinalLN
		m.op.LN(xf, m.finalLN.mean[:n], m.finalLN.rstd[:n], m.xs[len(m.xs)-1][:n*d], fp[0].W, fp[1].W, d, m.Cfg.LNEps)
	}
	Vn := m.Cfg.Vocab
	m.sgemm(false, true, n, Vn, d, 1, xf, d, m.P.Embed.W, d, 0, m.logits, Vn)
	m.haveLoss = targets != nil
	if targets == nil {
		return 0, nil
	}
	copy(m.targets, targets)
	count := 0
	for _, v := range targets {
		if v >= 0 {
			count++
		}
	}
	if count == 0 {
		m.gradScale = 0
	} else {
		m.gradScale = 1 / float32(count)
	}
	m.par(phase.Elementwise, n, m.xentRows)
	var loss float64
	for _, l := range m.rowLoss[:n] {
		loss += l
	}
	if count == 0 {
		return 0, nil
	}
	return loss / float64(count), nil
}

func (m *Model) embedRows(lo, hi int) {
	d := m.Cfg.DModel
	sc := float32(math.Sqrt(float64(d)))
	E := m.P.Embed.W
	x := m.xs[0]
	for r := lo; r < hi; r++ {
		tok := int(m.tokens[r])
		pos := r % m.t
		e, pe, xr := E[tok*d:tok*d+d], m.pe[pos*d:pos*d+d], x[r*d:r*d+d]
		for j := range xr {
			xr[j] = sc*e[j] + pe[j]
		}
	}
}

func (m *Model) embedGradCols(lo, hi int) {
	d := m.Cfg.DModel
	sc := float32(math.Sqrt(float64(d)))
	G := m.P.Embed.G
	dx := m.dA
	for r := 0; r < m.n; r++ {
		tok := int(m.tokens[r])
		g, dr := G[tok*d+lo:tok*d+hi], dx[r*d+lo:r*d+hi]
		for j, v := range dr {
			g[j] += sc * v
		}
	}
}

func (m *Model) xent(lo, hi int) {
	V := m.Cfg.Vocab
	for r := lo; r < hi; r++ {
		m.rowLoss[r] = asm.SoftmaxCrossEntropy(m.dlogits[r*V:r*V+V], m.logits[r*V:r*V+V], m.targets[r:r+1], V, m.Cfg.LabelSmoothing, m.gradScale)
	}
}

// Logits returns the logits of the last Forward, [bsz·t, vocab].
func (m *Model) Logits() []float32 { return m.logits[:m.n*m.Cfg.Vocab] }

// Backward accumulates into P's gradients the gradient of the mean loss
// of the last Forward, which must have had targets.
func (m *Model) Backward() error {
	if !m.haveLoss {
		return fmt.Errorf("backward needs a forward pass with targets")
	}
	n, d, V := m.n, m.Cfg.DModel, m.Cfg.Vocab
	E := m.P.Embed
	xf := m.xf[:n*d]
	cur, next := m.dA[:n*d], m.dB[:n*d]
	m.sgemm(true, false, V, d, n, 1, m.dlogits, V, xf, d, 1, E.G, d)
	if m.Cfg.Norm == PreLN {
		m.sgemm(false, false, n, d, V, 1, m.dlogits, V, E.W, d, 0, next, d)
		fp := m.P.FinalLN
		m.op.LNBack(cur, fp[0].G, fp[1].G, next, m.xs[len(m.xs)-1][:n*d], m.finalLN.mean[:n], m.finalLN.rstd[:n], fp[0].W, d)
	} else {
		m.sgemm(false, false, n, d, V, 1, m.dlogits, V, E.W, d, 0, cur, d)
	}
	for k := len(m.subs) - 1; k >= 0; k-- {
		if m.SublayerGrad != nil {
			m.SublayerGrad(k, cur)
		}
		m.subs[k].backward(cur, next)
		cur, next = next, cur
	}
	// cur holds dL/dx0; embGradCols reads m.dA, so make sure it is there.
	if &cur[0] != &m.dA[0] {
		copy(m.dA[:n*d], cur)
	}
	x := m.dA[:n*d]
	m.op.Dropout(x, x, m.drop(m.Cfg.Dropout), m.siteKey(0))
	m.par(phase.Elementwise, d, m.embBack)
	return nil
}

// Stream returns the stream x_k of the last Forward (x_0 the embedding
// output, x_{2L} the last sublayer's output).
func (m *Model) Stream(k int) []float32 { return m.xs[k][:m.n*m.Cfg.DModel] }

// SetClock times the model's kernels by phase on c (nil: untimed).
func (m *Model) SetClock(c *phase.Clock) { m.clock, m.op.clock = c, c }

// sgemm is asm.Sgemm timed as a large GEMM.
func (m *Model) sgemm(transA, transB bool, M, N, K int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	prev := m.clock.Enter(phase.GEMM)
	asm.Sgemm(transA, transB, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc)
	m.clock.Enter(prev)
}

// par is asm.Parallel timed as phase ph.
func (m *Model) par(ph phase.Phase, n int, fn func(lo, hi int)) {
	prev := m.clock.Enter(ph)
	asm.Parallel(n, fn)
	m.clock.Enter(prev)
}

// Draws is the number of training-mode forward passes so far; it picks
// the dropout masks of the next one.
func (m *Model) Draws() uint64 { return m.draws }

// SetDraws moves the dropout stream to position n: the next
// training-mode Forward uses the masks of draw n. Resuming a run sets it
// back to where the run was; Admin's profiling draws from a stream of
// its own and then puts the position back.
func (m *Model) SetDraws(n uint64) { m.draws = n }
