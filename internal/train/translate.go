package train

import (
	"encoding/json"
	"fmt"
	"maps"
	"strconv"

	"github.com/clinic-ml/clinic/asm"

	"github.com/clinic-ml/clinic/admin"
	"github.com/clinic-ml/clinic/internal/bleu"
	"github.com/clinic-ml/clinic/internal/bpe"
	"github.com/clinic-ml/clinic/internal/data"
	"github.com/clinic-ml/clinic/internal/dist"
	"github.com/clinic-ml/clinic/internal/generate"
	"github.com/clinic-ml/clinic/internal/translate"
	"github.com/clinic-ml/clinic/model"
)

// TranslateConfig describes a translation task.
type TranslateConfig struct {
	// Model is an encoder–decoder (EncoderLayers > 0) whose Vocab is
	// Codes.Size() and whose SeqLen bounds both sides.
	Model model.Config
	// Codes is the joint subword vocabulary of both languages.
	Codes *bpe.Codes
	// Train and Val are the raw sentence pairs, source then target.
	Train, Val []data.Pair
	// MaxTokens bounds each batch (rows·max(source, target length));
	// MaxSentences, if positive, its rows. Pairs longer than
	// Model.SeqLen on either side are skipped and counted.
	MaxTokens, MaxSentences int
	Seed                    uint64
	// SrcLang and TgtLang are recorded in the checkpoint.
	SrcLang, TgtLang string
	// Comm, when of more than one rank, makes this task one rank's share
	// of a data-parallel job (Trainer with the same Options.Comm): every
	// rank draws the same global batches (MaxTokens and MaxSentences
	// bound the global batch) and runs the model on its fixed, disjoint
	// rows of each, rows [r·N/R, (r+1)·N/R) of a batch of N rows, at the
	// global batch's padded widths and with the model's sequence offset
	// at its first row, so that data and dropout masks are those of one
	// process. A rank can get no rows (a batch of fewer sentences than
	// ranks): it contributes no tokens. Validation is sharded the same
	// way and ValidBLEU translates the rank's slice of the validation
	// sentences and reduces BLEU's statistics over Comm. nil: one
	// process.
	Comm dist.Comm
	// Pool runs the model's kernels, validation translation included
	// (nil: one thread); results are bit-identical for any pool of the
	// same width.
	Pool *asm.Pool
	// BLEULanes bounds the validation batches ValidBLEU decodes at once
	// (generate.Decoder; 0: one), for the memory their translators take
	// beside the training's.
	BLEULanes int
}

// share is this rank's rows of a batch of n rows: first, and how many.
func (c TranslateConfig) share(n int) (first, rows int) {
	if c.Comm == nil || c.Comm.Size() == 1 {
		return 0, n
	}
	r, R := c.Comm.Rank(), c.Comm.Size()
	first = n * r / R
	return first, n*(r+1)/R - first
}

// shareTokens bounds the tokens of this rank's share of any batch: a
// share has at most ⌈n/R⌉ of a batch's n rows of T ≤ SeqLen tokens, and
// n·T ≤ MaxTokens, so at most MaxTokens/R + SeqLen (one process: all of
// MaxTokens). The model's buffers are planned for it.
func (c TranslateConfig) shareTokens() int {
	if c.Comm == nil || c.Comm.Size() == 1 {
		return c.MaxTokens
	}
	R := c.Comm.Size()
	return min(c.MaxTokens, (c.MaxTokens+R-1)/R+c.Model.SeqLen)
}

// Translate is the translation task: an encoder–decoder trained on
// token-count batches of a parallel corpus (length-sorted, shuffled each
// epoch), validated on the validation pairs in fixed batches, with the
// loss in nats per target token.
type Translate struct {
	P     *model.Params
	M     *model.Seq2Seq
	Codes *bpe.Codes

	cfg     TranslateConfig
	batcher *data.PairBatcher
	eval    *data.PairEval
	pair    model.Pair
	lens    [2][]int32
	meta    map[string]string
	// empty: this rank's share of the last training batch had no rows,
	// so Backward has nothing to add.
	empty bool
	// ready and reports: the GradReporter's callback and the ranges a
	// backward pass reports, in its order (an empty share reports them
	// all the same: the ranks' collectives must match).
	ready   func(lo, hi int)
	reports [][2]int
	// the encoded training pairs, for the profiling batcher
	trainSrc, trainTgt [][]int32
	identity           map[string]string // what a resumed run must share (State)

	// validation translation (ValidBLEU), planned on first use
	// validation BLEU's decoder: its translators (BLEULanes at most)
	// live beside the training's buffers for the whole run, planned for
	// the validation sources, trBatch sentences at beam trBeam
	dec             *generate.Decoder
	trBeam, trBatch int
	valSrc          [][]int32
	valRef          []string
}

// EncodePairs turns text pairs into subword ids (without BOS or EOS).
func EncodePairs(codes *bpe.Codes, pairs []data.Pair) (src, tgt [][]int32) {
	src, tgt = make([][]int32, len(pairs)), make([][]int32, len(pairs))
	for i, p := range pairs {
		src[i], tgt[i] = codes.Encode(p.Src), codes.Encode(p.Tgt)
	}
	return src, tgt
}

// Batching is how the run cuts its pairs into batches (MaxTokens,
// MaxSentences, Model.SeqLen), the batcher seeded by seed.
func (c TranslateConfig) Batching(seed uint64) data.PairConfig {
	return data.PairConfig{MaxTokens: c.MaxTokens, MaxSentences: c.MaxSentences, MaxLen: c.Model.SeqLen,
		Pad: bpe.PadID, BOS: bpe.BOSID, EOS: bpe.EOSID, Seed: seed}
}

// NewTranslate encodes the corpus, plans its batches, draws the model's
// initial weights from c.Seed and plans its buffers.
func NewTranslate(c TranslateConfig) (*Translate, error) {
	if c.Model.EncoderLayers < 1 {
		return nil, fmt.Errorf("translation needs encoder layers")
	}
	if c.Model.Vocab != c.Codes.Size() {
		return nil, fmt.Errorf("model vocabulary %d does not match the subword vocabulary's %d", c.Model.Vocab, c.Codes.Size())
	}
	src, tgt := EncodePairs(c.Codes, c.Train)
	batcher, err := data.NewPairBatcher(src, tgt, c.Batching(c.Seed))
	if err != nil {
		return nil, fmt.Errorf("training pairs: %v", err)
	}
	vs, vt := EncodePairs(c.Codes, c.Val)
	eval, err := data.NewPairEval(vs, vt, c.Batching(0))
	if err != nil {
		return nil, fmt.Errorf("validation pairs: %v", err)
	}
	p, err := model.NewParams(c.Model)
	if err != nil {
		return nil, err
	}
	p.Init(c.Seed)
	m, err := model.NewSeq2Seq(p, c.shareTokens(), c.Seed)
	if err != nil {
		return nil, err
	}
	m.SetPool(c.Pool)
	codes, err := c.Codes.MarshalText()
	if err != nil {
		return nil, err
	}
	t := &Translate{P: p, M: m, Codes: c.Codes, cfg: c, batcher: batcher, eval: eval, trainSrc: src, trainTgt: tgt,
		lens: [2][]int32{make([]int32, c.MaxTokens), make([]int32, c.MaxTokens)},
		meta: map[string]string{"task": translate.Task, "bpe_codes": string(codes), "src_lang": c.SrcLang, "tgt_lang": c.TgtLang}}
	return t, nil
}

// TrainStats describes how the training pairs were batched (skipped
// pairs, batches per epoch).
func (t *Translate) TrainStats() data.PairStats { return t.batcher.Stats() }

// ValStats describes the validation batches.
func (t *Translate) ValStats() data.PairStats { return t.eval.Stats() }

// load points the model's batch at rows [first, first+n) of b, n ≥ 1,
// at b's padded widths, and tells the model where they start (dropout).
func (t *Translate) load(b *data.PairBatch, first, n int) *model.Pair {
	p := &t.pair
	S, T := b.S, b.T
	*p = model.Pair{Bsz: n, SrcT: S, TgtT: T, Src: b.Src[first*S : (first+n)*S],
		TgtIn: b.TgtIn[first*T : (first+n)*T], TgtOut: b.TgtOut[first*T : (first+n)*T],
		SrcLens: t.lens[0][:n], TgtLens: t.lens[1][:n]}
	for i := 0; i < n; i++ {
		p.SrcLens[i], p.TgtLens[i] = int32(b.SrcLens[first+i]), int32(b.TgtLens[first+i])
	}
	t.M.SetSeqOffset(first)
	return p
}

// ProfileAdmin runs Admin's profiling on one batch of training pairs,
// drawn from a batcher of its own so the training batches are the same
// whichever way ω was set. A rank's share of a job profiles the whole
// global batch, on a model planned for it, so the profile is the one a
// single process computes (the CLI profiles on rank 0 and broadcasts
// it).
func (t *Translate) ProfileAdmin() (*admin.Profile, error) {
	pb, err := data.NewPairBatcher(t.trainSrc, t.trainTgt, t.cfg.Batching(t.cfg.Seed^profileSeed))
	if err != nil {
		return nil, err
	}
	b := pb.Next()
	m := t.M
	if t.cfg.shareTokens() < t.cfg.MaxTokens {
		// A share's model is planned for its rows only: profile on one
		// planned for the whole batch, as a single process does.
		if m, err = model.NewSeq2Seq(t.P, t.cfg.MaxTokens, t.cfg.Seed); err != nil {
			return nil, err
		}
		m.SetPool(t.cfg.Pool)
	}
	return admin.RunSeq2Seq(m, t.load(b, 0, b.N), t.cfg.Seed)
}

// SetAdminProfile sets ω from pr and records pr in the checkpoints.
func (t *Translate) SetAdminProfile(pr *admin.Profile) error {
	if err := pr.Apply(t.P); err != nil {
		return fmt.Errorf("admin profile: %v", err)
	}
	b, err := json.Marshal(pr)
	if err != nil {
		return err
	}
	t.meta["admin_profile"] = string(b)
	return nil
}

// Params implements Task.
func (t *Translate) Params() *model.Params { return t.P }

// Pool is the pool the task's model runs on.
func (t *Translate) Pool() *asm.Pool { return t.cfg.Pool }

// TrainForward implements Task: the loss is per target token (of this
// rank's share, for a share of a job; the Trainer weights the ranks by
// their tokens). A share without rows reports 0 tokens.
func (t *Translate) TrainForward() (float64, int, error) {
	b := t.batcher.Next()
	first, n := t.cfg.share(b.N)
	t.empty = n == 0
	if t.empty {
		// The other ranks' passes drew this draw's masks; the next pass
		// here must draw the next draw's, as theirs do.
		t.M.SetDraws(t.M.Draws() + 1)
		return 0, 0, nil
	}
	return t.M.Forward(t.load(b, first, n), true)
}

// Backward implements Task.
func (t *Translate) Backward() error {
	if t.empty {
		// No rows, no gradient: the zeroed arena is this rank's part of
		// the sum, reported as a pass would report it.
		if t.ready != nil {
			for _, r := range t.reports {
				t.ready(r[0], r[1])
			}
		}
		return nil
	}
	return t.M.Backward()
}

// ReportGrads implements GradReporter. The decoder runs backward first:
// its layer j's gradients are final once the pass reaches layer j−1's
// FFN sublayer (three sublayers a layer: self-attention, attention to
// the encoder, FFN), layer 0's once the decoder is done, when the
// encoder's top sublayer starts; then the encoder's layers as the LM's.
// The embedding (shared by both stacks and the output) and the final
// LayerNorms only when Backward returns.
func (t *Translate) ReportGrads(ready func(lo, hi int)) bool {
	m := t.M
	if ready == nil {
		m.DecoderHooks.SublayerGrad, m.EncoderHooks.SublayerGrad, t.ready, t.reports = nil, nil, nil, nil
		return true
	}
	dec := layerRanges(t.P, "decoder.layers.%d.", t.cfg.Model.Layers)
	enc := layerRanges(t.P, "encoder.layers.%d.", t.cfg.Model.EncoderLayers)
	if dec == nil || enc == nil {
		return false
	}
	t.reports = nil
	for j := len(dec) - 1; j >= 0; j-- {
		t.reports = append(t.reports, dec[j])
	}
	for j := len(enc) - 1; j >= 1; j-- {
		t.reports = append(t.reports, enc[j])
	}
	t.ready = ready
	m.DecoderHooks.SublayerGrad = func(k int, _ []float32) {
		if j := (k + 1) / 3; k%3 == 2 && j < len(dec) {
			ready(dec[j][0], dec[j][1])
		}
	}
	top := 2*len(enc) - 1
	m.EncoderHooks.SublayerGrad = func(k int, _ []float32) {
		if k == top {
			ready(dec[0][0], dec[0][1])
		}
		if j := (k + 1) / 2; k%2 == 1 && j < len(enc) {
			ready(enc[j][0], enc[j][1])
		}
	}
	return true
}

// evalShare is the validation loss summed over the target tokens of
// this rank's share of every validation batch, and their number.
func (t *Translate) evalShare() (sum float64, count int, err error) {
	for i := 0; i < t.eval.Batches(); i++ {
		b := t.eval.Batch(i)
		first, n := t.cfg.share(b.N)
		if n == 0 {
			continue
		}
		loss, c, err := t.M.Forward(t.load(b, first, n), false)
		if err != nil {
			return 0, 0, err
		}
		sum += loss * float64(c)
		count += c
	}
	return sum, count, nil
}

// Evaluate implements Task: the mean loss in nats per target token over
// every validation pair (over the rank's share of each batch, for a
// share of a job: see EvaluateShare), dropout off.
func (t *Translate) Evaluate() (float64, error) {
	sum, count, err := t.evalShare()
	if err != nil {
		return 0, err
	}
	if count == 0 {
		return 0, fmt.Errorf("no validation pairs")
	}
	return sum / float64(count), nil
}

// EvaluateShare implements WeightedEvaluator: the validation loss of
// this rank's share and its target tokens (0 and 0 for a share without
// rows), which the Trainer reduces into the loss of every pair.
func (t *Translate) EvaluateShare() (float64, float64, error) {
	sum, count, err := t.evalShare()
	if err != nil || count == 0 {
		return 0, 0, err
	}
	return sum / float64(count), float64(count), nil
}

// SaveCheckpoint implements Task. The metadata holds the task, the
// subword codes, the languages, the step, the seed and, for Admin, the
// profile, so the checkpoint alone is enough to translate with.
func (t *Translate) SaveCheckpoint(path string, step int) error {
	return model.SaveCheckpoint(path, t.P, t.CheckpointMeta(step))
}

// CheckpointMeta implements Resumable.
func (t *Translate) CheckpointMeta(step int) map[string]string {
	meta := maps.Clone(t.meta)
	meta["step"] = strconv.Itoa(step)
	meta["seed"] = strconv.FormatUint(t.cfg.Seed, 10)
	return model.CheckpointMeta(t.P, meta)
}

// ValidBLEU translates every validation source with the current weights
// (beam search with beam, in batches of up to batch sentences) and
// returns the corpus BLEU of the detokenized output against the
// references, as sacreBLEU computes it (13a, exp smoothing). A share of
// a job translates its slice of the sources and sums BLEU's statistics
// over the ranks (a collective: every rank calls it at the same step),
// so every rank returns the same score, that of the whole corpus.
func (t *Translate) ValidBLEU(beam, batch int) (float64, error) {
	if t.valSrc == nil {
		for _, p := range t.cfg.Val {
			ids, _ := translate.SourceIDs(t.Codes, p.Src, t.cfg.Model.SeqLen)
			t.valSrc = append(t.valSrc, ids)
			t.valRef = append(t.valRef, p.Tgt)
		}
	}
	// fairseq's example validation-BLEU settings: outputs at most
	// 1.2·source + 10 tokens, so an untrained model does not decode to
	// the 200-token limit.
	opt := translate.Options(t.cfg.Model, beam, 1)
	opt.MaxLenA, opt.MaxLenB = 1.2, 10
	opt.Pool = t.cfg.Pool
	if t.dec == nil || t.trBeam != beam || t.trBatch != batch {
		pl, err := translate.PlanFor(t.cfg.Model, t.valSrc, batch, opt)
		if err != nil {
			return 0, err
		}
		t.dec, t.trBeam, t.trBatch = translate.Decoder(t.P, pl, t.cfg.BLEULanes, t.cfg.Pool), beam, batch
	}
	first, n := t.cfg.share(len(t.valSrc))
	var bo bleu.Options
	st := bleu.Stats{Counts: make([]int, bleu.MaxOrder), Totals: make([]int, bleu.MaxOrder)}
	var err error
	if n > 0 {
		var hyps []string
		if hyps, err = translate.Decode(t.dec, t.Codes, t.valSrc[first:first+n], batch, opt); err == nil {
			var part bleu.Stats
			if part, err = bleu.CorpusStats(hyps, [][]string{t.valRef[first : first+n]}, bo); err == nil {
				st.Add(part)
			}
		}
	}
	if t.cfg.Comm != nil && t.cfg.Comm.Size() > 1 {
		// A rank that failed still joins the reduction, so that none
		// waits; the failure is its error. The sums of counts are exact
		// in float64.
		v := make([]float64, 2+2*bleu.MaxOrder)
		v[0], v[1] = float64(st.SysLen), float64(st.RefLen)
		for i := range bleu.MaxOrder {
			v[2+i], v[2+bleu.MaxOrder+i] = float64(st.Counts[i]), float64(st.Totals[i])
		}
		if rerr := t.cfg.Comm.AllreduceSum64(v); rerr != nil && err == nil {
			err = rerr
		}
		st.SysLen, st.RefLen = int(v[0]), int(v[1])
		for i := range bleu.MaxOrder {
			st.Counts[i], st.Totals[i] = int(v[2+i]), int(v[2+bleu.MaxOrder+i])
		}
	}
	if err != nil {
		return 0, err
	}
	if len(t.valSrc) == 0 {
		return 0, fmt.Errorf("bleu: no hypotheses")
	}
	return bleu.Compute(st, bo).Score, nil
}
