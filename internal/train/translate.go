package train

import (
	"encoding/json"
	"fmt"
	"maps"
	"strconv"

	"github.com/clinic-ml/clinic/admin"
	"github.com/clinic-ml/clinic/internal/bleu"
	"github.com/clinic-ml/clinic/internal/bpe"
	"github.com/clinic-ml/clinic/internal/data"
	"github.com/clinic-ml/clinic/internal/generate"
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
	// the encoded training pairs, for the profiling batcher
	trainSrc, trainTgt [][]int32
	identity           map[string]string // what a resumed run must share (State)

	// validation translation (ValidBLEU), planned on first use
	tr              *model.Translator
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

func (c TranslateConfig) batching(seed uint64) data.PairConfig {
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
	batcher, err := data.NewPairBatcher(src, tgt, c.batching(c.Seed))
	if err != nil {
		return nil, fmt.Errorf("training pairs: %v", err)
	}
	vs, vt := EncodePairs(c.Codes, c.Val)
	eval, err := data.NewPairEval(vs, vt, c.batching(0))
	if err != nil {
		return nil, fmt.Errorf("validation pairs: %v", err)
	}
	p, err := model.NewParams(c.Model)
	if err != nil {
		return nil, err
	}
	p.Init(c.Seed)
	m, err := model.NewSeq2Seq(p, c.MaxTokens, c.Seed)
	if err != nil {
		return nil, err
	}
	codes, err := c.Codes.MarshalText()
	if err != nil {
		return nil, err
	}
	t := &Translate{P: p, M: m, Codes: c.Codes, cfg: c, batcher: batcher, eval: eval, trainSrc: src, trainTgt: tgt,
		lens: [2][]int32{make([]int32, c.MaxTokens), make([]int32, c.MaxTokens)},
		meta: map[string]string{"task": "translate", "bpe_codes": string(codes), "src_lang": c.SrcLang, "tgt_lang": c.TgtLang}}
	return t, nil
}

// TrainStats describes how the training pairs were batched (skipped
// pairs, batches per epoch).
func (t *Translate) TrainStats() data.PairStats { return t.batcher.Stats() }

// ValStats describes the validation batches.
func (t *Translate) ValStats() data.PairStats { return t.eval.Stats() }

// load points the model's batch at b.
func (t *Translate) load(b *data.PairBatch) *model.Pair {
	p := &t.pair
	*p = model.Pair{Bsz: b.N, SrcT: b.S, TgtT: b.T, Src: b.Src, TgtIn: b.TgtIn, TgtOut: b.TgtOut,
		SrcLens: t.lens[0][:b.N], TgtLens: t.lens[1][:b.N]}
	for i := 0; i < b.N; i++ {
		p.SrcLens[i], p.TgtLens[i] = int32(b.SrcLens[i]), int32(b.TgtLens[i])
	}
	return p
}

// ProfileAdmin runs Admin's profiling on one batch of training pairs,
// drawn from a batcher of its own so the training batches are the same
// whichever way ω was set.
func (t *Translate) ProfileAdmin() (*admin.Profile, error) {
	pb, err := data.NewPairBatcher(t.trainSrc, t.trainTgt, t.cfg.batching(t.cfg.Seed^profileSeed))
	if err != nil {
		return nil, err
	}
	return admin.RunSeq2Seq(t.M, t.load(pb.Next()), t.cfg.Seed)
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

// TrainForward implements Task: the loss is per target token.
func (t *Translate) TrainForward() (float64, int, error) {
	loss, n, err := t.M.Forward(t.load(t.batcher.Next()), true)
	return loss, n, err
}

// Backward implements Task.
func (t *Translate) Backward() error { return t.M.Backward() }

// Evaluate implements Task: the mean loss in nats per target token over
// every validation pair, dropout off.
func (t *Translate) Evaluate() (float64, error) {
	var sum float64
	var count int
	for i := 0; i < t.eval.Batches(); i++ {
		loss, n, err := t.M.Forward(t.load(t.eval.Batch(i)), false)
		if err != nil {
			return 0, err
		}
		sum += loss * float64(n)
		count += n
	}
	if count == 0 {
		return 0, fmt.Errorf("no validation pairs")
	}
	return sum / float64(count), nil
}

// SaveCheckpoint implements Task. The metadata holds the task, the
// subword codes, the languages, the step, the seed and, for Admin, the
// profile, so the checkpoint alone is enough to translate with.
func (t *Translate) SaveCheckpoint(path string, step int) error {
	meta := maps.Clone(t.meta)
	meta["step"] = strconv.Itoa(step)
	meta["seed"] = strconv.FormatUint(t.cfg.Seed, 10)
	return model.SaveCheckpoint(path, t.P, meta)
}

// DecodeOptions are the beam-search settings for translating with a
// model of config cfg: fairseq's defaults otherwise.
func DecodeOptions(cfg model.Config, beam int, lenpen float64) generate.Options {
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

// TranslateIDs decodes every source (SourceIDs) with tr by beam search
// as opt says, batch sentences at a time, and returns each one's best
// translation as text, in input order.
func TranslateIDs(tr generate.Translator, codes *bpe.Codes, srcs [][]int32, batch int, opt generate.Options) ([]string, error) {
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

// ValidBLEU translates every validation source with the current weights
// (beam search with beam, in batches of up to batch sentences) and
// returns the corpus BLEU of the detokenized output against the
// references, as sacreBLEU computes it (13a, exp smoothing).
func (t *Translate) ValidBLEU(beam, batch int) (float64, error) {
	if t.tr == nil || t.trBeam != beam || t.trBatch != batch {
		tr, err := model.NewTranslator(t.P, batch, batch*beam)
		if err != nil {
			return 0, err
		}
		t.tr, t.trBeam, t.trBatch = tr, beam, batch
	}
	if t.valSrc == nil {
		for _, p := range t.cfg.Val {
			ids, _ := SourceIDs(t.Codes, p.Src, t.cfg.Model.SeqLen)
			t.valSrc = append(t.valSrc, ids)
			t.valRef = append(t.valRef, p.Tgt)
		}
	}
	// fairseq's example validation-BLEU settings: outputs at most
	// 1.2·source + 10 tokens, so an untrained model does not decode to
	// the 200-token limit.
	opt := DecodeOptions(t.cfg.Model, beam, 1)
	opt.MaxLenA, opt.MaxLenB = 1.2, 10
	hyps, err := TranslateIDs(t.tr, t.Codes, t.valSrc, batch, opt)
	if err != nil {
		return 0, err
	}
	sc, err := bleu.Corpus(hyps, [][]string{t.valRef}, bleu.Options{})
	if err != nil {
		return 0, err
	}
	return sc.Score, nil
}
