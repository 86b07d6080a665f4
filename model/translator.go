package model

import (
	"fmt"
	"math"

	"github.com/clinic-ml/clinic/asm"
	"github.com/clinic-ml/clinic/internal/checked"
)

// Translator runs an encoder–decoder for inference: Encode runs the
// encoder once over a batch of sources and computes every decoder
// layer's cross-attention keys and values; Step then decodes one token
// for every hypothesis, attending to the keys and values that earlier
// steps cached. Beam search reorders the hypotheses with Reorder. All
// buffers are planned in NewTranslator; Step and Reorder allocate
// nothing.
//
// The self-attention caches are never moved: the key and value a
// hypothesis computes at position t stay in its slot's row t, and each
// hypothesis keeps its ancestry, the slot holding each of its earlier
// positions. Reorder copies ancestries (one int32 per position) instead
// of keys and values (2·d floats per position and layer), which had been
// a seventh of beam search's time. A row holds every head's key and
// value of one position, so the key–value projection writes its output
// straight into the row (copying each head's 64 floats into a cache
// kept per head had been 7% of beam search's time: 8 scattered writes
// per hypothesis and layer, each a cache and TLB miss).
type Translator struct {
	P               *Params
	Cfg             Config
	MaxSent, MaxHyp int

	enc      *Seq2Seq  // its encoder stack
	shortcut []float32 // the decoder's residual weight (stack.shortcut)
	srcT     int
	nSent    int
	srcLens  []int32
	// MaxSrc is the longest source planned, MaxPos the decoder positions
	// (the longest output, its EOS counted); both at most SeqLen.
	MaxSrc, MaxPos int
	crossKV        [][]float32 // per decoder layer: [MaxSent·MaxSrc, 2d]
	// per decoder layer: [MaxHyp (slot), MaxPos (position), 2d]: the
	// keys of every head, then their values
	selfKV [][]float32
	// anc[i·MaxPos+t] is the slot whose row t holds hypothesis i's key
	// and value at position t; ancNext is Reorder's second buffer.
	anc, ancNext []int32

	// per step, [MaxHyp, ·]
	nh, pos           int
	hypSent           []int32
	x, u, b, att, q   []float32 // [·, d]
	hid               []float32 // [·, d_ff]
	mean, rstd        []float32 // [·]
	scores            []float32 // [·, H, scoreStride]
	out               []float32 // Step's log-probabilities
	runs              []int32   // starts of runs of hypotheses of one sentence, then nh
	attnFn, softmaxFn func(lo, hi int)
	crossFn, rowsFn   func(lo, hi int)
	// the row-wise work rowsFn runs next (LayerNorm, residual,
	// activation): its kind and operands
	op     int
	opW    []float32 // the residual's weight (ones, ω, α)
	opG    []float32 // LayerNorm gain and bias
	opBias []float32
	cur    *LayerParams
	curL   int

	// The decoder's weights packed for the GEMM kernel once, not at
	// every step (packing them was a quarter of decoding time), at the
	// CPU level packedAt.
	packed   []packedLayer
	packedE  *asm.PackedB
	packedAt string
}

// packedLayer holds one decoder layer's packed weights.
type packedLayer struct {
	q, kv, out, crossQ, crossKV, crossOut, fc1, fc2 *asm.PackedB
}

// pack packs the decoder's weights as they are now, for the current CPU
// level, into the storage of the previous packing where it fits. Encode
// calls it for every batch: a translator may outlive a change of its
// weights (validation BLEU during training keeps one), and a stale copy
// would translate with old weights. Packing costs about one pass over
// the decoder's weights per batch, against a hundred-odd steps that read
// them.
func (tr *Translator) pack() {
	d, F := tr.Cfg.DModel, tr.Cfg.DFF
	if len(tr.packed) != len(tr.P.Layers) {
		tr.packed = make([]packedLayer, len(tr.P.Layers))
	}
	for l := range tr.P.Layers {
		lp, pk := &tr.P.Layers[l], &tr.packed[l]
		pk.q = tr.pool().RepackB(pk.q, true, d, d, lp.QKVW.W[:d*d], d)
		pk.kv = tr.pool().RepackB(pk.kv, true, d, 2*d, lp.QKVW.W[d*d:], d)
		pk.out = tr.pool().RepackB(pk.out, true, d, d, lp.OutW.W, d)
		pk.crossQ = tr.pool().RepackB(pk.crossQ, true, d, d, lp.CrossQW.W, d)
		pk.crossKV = tr.pool().RepackB(pk.crossKV, true, d, 2*d, lp.CrossKVW.W, d)
		pk.crossOut = tr.pool().RepackB(pk.crossOut, true, d, d, lp.CrossOutW.W, d)
		pk.fc1 = tr.pool().RepackB(pk.fc1, true, d, F, lp.FC1W.W, d)
		pk.fc2 = tr.pool().RepackB(pk.fc2, true, F, d, lp.FC2W.W, F)
	}
	tr.packedE = tr.pool().RepackB(tr.packedE, true, d, tr.Cfg.Vocab, tr.P.Embed.W, d)
	tr.packedAt = asm.CPULevel()
}

// repack packs the weights again if the CPU level changed since they
// were packed (the packed layout is the level's microkernel's).
func (tr *Translator) repack() {
	if tr.packedAt != asm.CPULevel() {
		tr.pack()
	}
}

// SetPool makes the translator run on pool (nil, the default: on the
// calling goroutine). Translations are identical for any pool.
func (tr *Translator) SetPool(pool *asm.Pool) { tr.enc.SetPool(pool) }

func (tr *Translator) pool() *asm.Pool { return tr.enc.c.pool }

// scoreStride is the stride of the rows of Translator.scores, one per
// (hypothesis, head): room for a self-attention row (maxPos keys) or a
// cross-attention one (maxSrc).
func scoreStride(maxSrc, maxPos int) int { return max(maxSrc, maxPos) }

// NewTranslator plans inference for p, an encoder–decoder, over batches
// of up to maxSent sources and maxHyp hypotheses per step (sentences ×
// beam), sources and outputs of up to the model's seq-len.
func NewTranslator(p *Params, maxSent, maxHyp int) (*Translator, error) {
	return NewTranslatorFor(p, maxSent, maxHyp, p.Cfg.SeqLen, p.Cfg.SeqLen)
}

// NewTranslatorFor is NewTranslator for sources of up to maxSrc tokens
// (their EOS counted) and up to maxPos decoding positions (the longest
// output, its EOS counted), each at most the model's seq-len: the
// self-attention caches, a translator's largest buffers, grow with
// both, and a batch of verses needs a fraction of a 256-token seq-len.
func NewTranslatorFor(p *Params, maxSent, maxHyp, maxSrc, maxPos int) (*Translator, error) {
	cfg := p.Cfg
	if cfg.EncoderLayers < 1 {
		return nil, fmt.Errorf("translation needs an encoder–decoder model; this one is a decoder-only language model")
	}
	if maxSent < 1 || maxHyp < 1 {
		return nil, fmt.Errorf("translator needs room for at least one sentence and hypothesis")
	}
	if maxSrc < 1 || maxSrc > cfg.SeqLen || maxPos < 1 || maxPos > cfg.SeqLen {
		return nil, fmt.Errorf("translator planned for sources of %d and outputs of %d tokens, want 1..%d (seq-len)", maxSrc, maxPos, cfg.SeqLen)
	}
	T, d, H, L := maxPos, cfg.DModel, cfg.Heads, len(p.Layers)
	sT := scoreStride(maxSrc, maxPos)
	// The largest buffers per sentence (cross-attention keys and values)
	// and per hypothesis, multiplied without wrapping around: a product
	// that wrapped would plan small buffers for a huge beam.
	_, okSent := checked.MulAtMost(maxPlanned, maxSent, cfg.SeqLen, 2*d)
	_, okHyp := checked.MulAtMost(maxPlanned, maxHyp, max(T*2*d, H*sT, cfg.DFF))
	if !okSent || !okHyp {
		return nil, fmt.Errorf("%d sentences with %d hypotheses at seq-len %d are too many to plan", maxSent, maxHyp, cfg.SeqLen)
	}
	enc, err := newSeq2Seq(p, maxSent*maxSrc, 0, true)
	if err != nil {
		return nil, err
	}
	// Inference runs fp32 whatever the training's precision (Config.BF16):
	// the decoder's steps do, and the encoder must match them.
	enc.c.bf16 = false
	f32 := func(n int) []float32 { return make([]float32, n) }
	tr := &Translator{P: p, Cfg: cfg, MaxSent: maxSent, MaxHyp: maxHyp, MaxSrc: maxSrc, MaxPos: maxPos, enc: enc,
		srcLens: make([]int32, maxSent), hypSent: make([]int32, maxHyp),
		x: f32(maxHyp * d), u: f32(maxHyp * d), b: f32(maxHyp * d), att: f32(maxHyp * d), q: f32(maxHyp * d),
		hid: f32(maxHyp * cfg.DFF), mean: f32(maxHyp), rstd: f32(maxHyp),
		scores: f32(maxHyp * H * sT)}
	for l := 0; l < L; l++ {
		tr.crossKV = append(tr.crossKV, f32(maxSent*maxSrc*2*d))
		tr.selfKV = append(tr.selfKV, f32(maxHyp*T*2*d))
	}
	tr.anc, tr.ancNext = make([]int32, maxHyp*T), make([]int32, maxHyp*T)
	tr.shortcut = shortcut(enc.c, true)
	tr.attnFn = tr.attendRows
	tr.crossFn = tr.crossRuns
	tr.runs = make([]int32, 0, maxHyp+1)
	tr.softmaxFn = tr.logSoftmaxRows
	tr.rowsFn = tr.rowsRange
	return tr, nil
}

// Encode runs the encoder over bsz sources [bsz, srcT] (right-padded to
// srcT, valid lengths srcLens) and prepares every layer's
// cross-attention keys and values. It resets the decoding state and
// reads the weights as they are at this call, for the whole batch.
func (tr *Translator) Encode(src, srcLens []int32, bsz, srcT int) error {
	if bsz < 1 || bsz > tr.MaxSent {
		return fmt.Errorf("%d sentences, translator planned for 1..%d", bsz, tr.MaxSent)
	}
	if srcT > tr.MaxSrc {
		return fmt.Errorf("sources of %d tokens, translator planned for up to %d", srcT, tr.MaxSrc)
	}
	tgt := make([]int32, bsz) // one dummy target token per sentence: the decoder does not run
	b := &Pair{Bsz: bsz, SrcT: srcT, TgtT: 1, Src: src, SrcLens: srcLens, TgtIn: tgt}
	if err := tr.enc.check(b); err != nil {
		return err
	}
	tr.pack()
	m := tr.enc
	m.c.startPass(false, 0, 0)
	m.enc.forward(src, bsz, srcT, srcLens)
	out := m.enc.out()
	d := tr.Cfg.DModel
	n := bsz * srcT
	for l := range tr.P.Layers {
		lp := &tr.P.Layers[l]
		tr.pool().SgemmPackedBias(false, n, out, d, tr.packed[l].crossKV, lp.CrossKVB.W, tr.crossKV[l][:n*2*d], 2*d)
	}
	tr.srcT, tr.nSent = srcT, bsz
	copy(tr.srcLens, srcLens)
	tr.nh, tr.pos = 0, 0
	return nil
}

// Step decodes position pos for nh hypotheses: tokens[i] is hypothesis
// i's input token at pos (BOS at position 0) and sents[i] the sentence
// (index into the encoded batch) it translates. Hypotheses keep their
// index from step to step unless Reorder moves them. It writes the
// log-probabilities of the next token, [nh, vocab], into logp.
func (tr *Translator) Step(tokens, sents []int32, pos int, logp []float32) error {
	cfg := tr.Cfg
	nh, d, V := len(tokens), cfg.DModel, cfg.Vocab
	switch {
	case nh < 1 || nh > tr.MaxHyp || len(sents) != nh:
		return fmt.Errorf("step over %d hypotheses (%d sentence indices), planned 1..%d", nh, len(sents), tr.MaxHyp)
	case pos < 0 || pos >= tr.MaxPos:
		return fmt.Errorf("position %d outside the planned 0..%d", pos, tr.MaxPos-1)
	case pos != tr.pos && pos != 0:
		return fmt.Errorf("step at position %d, the caches hold %d", pos, tr.pos)
	case len(logp) < nh*V:
		return fmt.Errorf("log-probability buffer holds %d values, need %d", len(logp), nh*V)
	}
	for i, s := range sents {
		if s < 0 || int(s) >= tr.nSent {
			return fmt.Errorf("hypothesis %d translates sentence %d of %d", i, s, tr.nSent)
		}
	}
	if err := checkTokens(tokens, nil, V); err != nil {
		return err
	}
	tr.repack()
	tr.nh, tr.pos = nh, pos
	copy(tr.hypSent, sents)
	for i := 0; i < nh; i++ {
		tr.anc[i*tr.MaxPos+pos] = int32(i)
	}
	tr.runs = tr.runs[:0]
	for i, s := range sents {
		if i == 0 || s != sents[i-1] {
			tr.runs = append(tr.runs, int32(i))
		}
	}
	tr.runs = append(tr.runs, int32(nh))
	E := tr.P.Embed.W
	sc := float32(math.Sqrt(float64(d)))
	pe := tr.enc.c.pe[pos*d : pos*d+d]
	x := tr.x[:nh*d]
	for i, tok := range tokens {
		e, xr := E[int(tok)*d:int(tok)*d+d], x[i*d:i*d+d]
		for j := range xr {
			xr[j] = sc*e[j] + pe[j]
		}
	}
	for l := range tr.P.Layers {
		lp := &tr.P.Layers[l]
		tr.curL, tr.cur = l, lp
		// each sublayer in the variant's form (variant.go; the training
		// pass is sublayer.forward)
		step := tr.enc.c.form.step
		step(tr, branchSelf, lp.selfOwn())
		step(tr, branchCross, lp.crossOwn())
		step(tr, branchFFN, lp.ffnOwn())
	}
	if tr.enc.c.form.finalLN {
		f := tr.P.FinalLN
		tr.rows(rowFinalLN, nil, f[0].W, f[1].W)
	}
	tr.pool().SgemmPacked(false, nh, 1, x, d, tr.packedE, 0, logp, V)
	tr.out = logp
	tr.pool().Parallel(nh, tr.softmaxFn)
	tr.pos = pos + 1
	return nil
}

// The branches of a decoder layer.
const (
	branchSelf = iota
	branchCross
	branchFFN
)

// The row-wise operations of a decoder step. A sublayer's update (its
// form's step) runs them on the pool: serial, they had left the second
// thread idle for 4% of a decoding step.
const (
	rowLNIn    = iota // u = LN(x) (Pre-LN, before the branch)
	rowResid          // x = w⊙x + out
	rowReZero         // x = w⊙out + x
	rowPostLN         // u = w⊙x + out, x = LN(u) (Post-LN, Admin, DeepNorm)
	rowAct            // the feed-forward activation on hid
	rowFinalLN        // x = LN(x) with the final LayerNorm (Pre-LN)
)

// rows runs one row-wise operation over the step's hypotheses in
// parallel: w is the residual's weight, g and b a LayerNorm's.
func (tr *Translator) rows(op int, w, g, b []float32) {
	tr.op, tr.opW, tr.opG, tr.opBias = op, w, g, b
	tr.pool().Parallel(tr.nh, tr.rowsFn)
}

func (tr *Translator) rowsRange(lo, hi int) {
	cfg := tr.Cfg
	d := cfg.DModel
	x, u, out := tr.x[lo*d:hi*d], tr.u[lo*d:hi*d], tr.b[lo*d:hi*d]
	mean, rstd := tr.mean[lo:hi], tr.rstd[lo:hi]
	switch tr.op {
	case rowLNIn:
		asm.LayerNorm(u, mean, rstd, x, tr.opG, tr.opBias, d, cfg.LNEps)
	case rowResid:
		asm.ScaleAddRows(x, tr.opW, x, out, d)
	case rowReZero:
		asm.ScaleAddRows(x, tr.opW, out, x, d)
	case rowPostLN:
		asm.ScaleAddRows(u, tr.opW, x, out, d)
		asm.LayerNorm(x, mean, rstd, u, tr.opG, tr.opBias, d, cfg.LNEps)
	case rowAct:
		F := cfg.DFF
		hid := tr.hid[lo*F : hi*F]
		if cfg.Activation == "gelu" {
			asm.GELU(hid, hid)
		} else {
			asm.ReLU(hid, hid)
		}
	case rowFinalLN:
		asm.LayerNorm(x, mean, rstd, x, tr.opG, tr.opBias, d, cfg.LNEps)
	}
}

func (tr *Translator) branch(kind int, in, out []float32) {
	cfg := tr.Cfg
	nh, d, F := tr.nh, cfg.DModel, cfg.DFF
	lp, pk := tr.cur, &tr.packed[tr.curL]
	switch kind {
	case branchSelf:
		// the queries, then each hypothesis's key and value at pos
		// straight into its slot's row pos
		T := tr.MaxPos
		tr.pool().SgemmPackedBias(false, nh, in, d, pk.q, lp.QKVB.W[:d], tr.q, d)
		kv := tr.selfKV[tr.curL][tr.pos*2*d : ((nh-1)*T+tr.pos+1)*2*d]
		tr.pool().SgemmPackedBias(false, nh, in, d, pk.kv, lp.QKVB.W[d:], kv, T*2*d)
		tr.pool().Parallel(nh*cfg.Heads, tr.attnFn)
		tr.pool().SgemmPackedBias(false, nh, tr.att, d, pk.out, lp.OutB.W, out, d)
	case branchCross:
		tr.pool().SgemmPackedBias(false, nh, in, d, pk.crossQ, lp.CrossQB.W, tr.q, d)
		tr.pool().Parallel((len(tr.runs)-1)*cfg.Heads, tr.crossFn)
		tr.pool().SgemmPackedBias(false, nh, tr.att, d, pk.crossOut, lp.CrossOutB.W, out, d)
	case branchFFN:
		hid := tr.hid[:nh*F]
		tr.pool().SgemmPackedBias(false, nh, in, d, pk.fc1, lp.FC1B.W, hid, F)
		tr.rows(rowAct, nil, nil, nil)
		tr.pool().SgemmPackedBias(false, nh, hid, F, pk.fc2, lp.FC2B.W, out, d)
	}
}

// crossRuns runs the cross-attention of each (run of consecutive
// hypotheses of one sentence, head): each hypothesis's query against the
// sentence's valid source positions. The hypotheses of a beam read the
// same keys and values one after another, from cache. (Two GEMM calls
// per run, which packed both operands of a 5-row product each time,
// were 6% of beam search.)
func (tr *Translator) crossRuns(lo, hi int) {
	cfg := tr.Cfg
	H, d, T := cfg.Heads, cfg.DModel, scoreStride(tr.MaxSrc, tr.MaxPos)
	dh := d / H
	scale := float32(1 / math.Sqrt(float64(dh)))
	for j := lo; j < hi; j++ {
		r, h := j/H, j%H
		i0, i1 := int(tr.runs[r]), int(tr.runs[r+1])
		s := int(tr.hypSent[i0])
		L := int(tr.srcLens[s])
		kv := tr.crossKV[tr.curL][s*tr.srcT*2*d:]
		for i := i0; i < i1; i++ {
			sc := tr.scores[(i*H+h)*T : (i*H+h)*T+L]
			asm.DotRows(sc, tr.q[i*d+h*dh:i*d+h*dh+dh], kv[h*dh:], L, 2*d)
			asm.SoftmaxCausal(sc, sc, L, scale, L-1)
			o := tr.att[i*d+h*dh : i*d+h*dh+dh]
			clear(o)
			asm.AxpyRows(o, sc, kv[d+h*dh:], 2*d)
		}
	}
}

// attendRows runs one query row per (hypothesis, head) against the
// hypothesis's own cached keys and values at positions 0..pos.
func (tr *Translator) attendRows(lo, hi int) {
	cfg := tr.Cfg
	H, d, T := cfg.Heads, cfg.DModel, tr.MaxPos
	sT := scoreStride(tr.MaxSrc, tr.MaxPos)
	dh := d / H
	scale := float32(1 / math.Sqrt(float64(dh)))
	KV, L := tr.selfKV[tr.curL], tr.pos+1
	for j := lo; j < hi; j++ {
		i, h := j/H, j%H
		q := tr.q[i*d+h*dh : i*d+h*dh+dh]
		anc := tr.anc[i*T : i*T+L]
		// at(t) is where this head's key at position t starts (its value
		// d further): [slot, position, K|V, head, dh]
		at := func(t int) int { return (int(anc[t])*T+t)*2*d + h*dh }
		sc := tr.scores[j*sT : j*sT+L]
		// One query row against runs of positions that lie in one slot
		// (consecutive rows of the cache): a GEMM call would
		// transpose-pack the keys each time.
		for t0, t1 := 0, 0; t0 < L; t0 = t1 {
			t1 = slotRun(anc, t0)
			asm.DotRows(sc[t0:t1], q, KV[at(t0):], t1-t0, 2*d)
		}
		asm.SoftmaxCausal(sc, sc, L, scale, L-1)
		o := tr.att[i*d+h*dh : i*d+h*dh+dh]
		clear(o)
		for t0, t1 := 0, 0; t0 < L; t0 = t1 {
			t1 = slotRun(anc, t0)
			asm.AxpyRows(o, sc[t0:t1], KV[at(t0)+d:], 2*d)
		}
	}
}

// slotRun is the end of the run of positions from t0 on that one slot
// holds (the same ancestor): consecutive rows of the caches.
func slotRun(anc []int32, t0 int) int {
	t1 := t0 + 1
	for t1 < len(anc) && anc[t1] == anc[t0] {
		t1++
	}
	return t1
}

// logSoftmaxRows turns rows of Step's output from logits into
// log-probabilities in place.
func (tr *Translator) logSoftmaxRows(lo, hi int) {
	V := tr.Cfg.Vocab
	for r := lo; r < hi; r++ {
		row := tr.out[r*V : r*V+V]
		asm.LogSoftmax(row, row)
	}
}

// Reorder makes hypothesis i continue from hypothesis parents[i]'s
// caches (beam search keeps the best continuations, which may share a
// parent): hypothesis i takes its parent's ancestry.
func (tr *Translator) Reorder(parents []int32) error {
	if len(parents) > tr.MaxHyp {
		return fmt.Errorf("reorder: %d hypotheses, planned %d", len(parents), tr.MaxHyp)
	}
	for i, p := range parents {
		if p < 0 || int(p) >= tr.MaxHyp {
			return fmt.Errorf("reorder: hypothesis %d from %d, planned %d", i, p, tr.MaxHyp)
		}
	}
	T, n := tr.MaxPos, tr.pos
	for i, p := range parents {
		copy(tr.ancNext[i*T:i*T+n], tr.anc[int(p)*T:int(p)*T+n])
	}
	tr.anc, tr.ancNext = tr.ancNext, tr.anc
	return nil
}
