package translation

import (
	"fmt"

	"github.com/clinic-ml/clinic/admin"
	"github.com/clinic-ml/clinic/asm"
	"github.com/clinic-ml/clinic/internal/bpe"
	"github.com/clinic-ml/clinic/internal/data"
	"github.com/clinic-ml/clinic/internal/experiment"
	"github.com/clinic-ml/clinic/internal/limits"
	"github.com/clinic-ml/clinic/internal/task"
	"github.com/clinic-ml/clinic/internal/train"
	"github.com/clinic-ml/clinic/model"
)

// Translation's side of the amplification analyses (task.Analyzer):
// 'clinic analyze change|grads|dependency --task translate' run on
// encoder–decoders, over training batches of sentence pairs.

// trainingOnly are translation's flags that mean nothing to an analysis.
var trainingOnly = []string{"bleu-every", "bleu-beam"}

// AnalysisData reads the training pairs and their subword vocabulary (a
// trained checkpoint's own, --bpe-codes, or learned now) and gives the
// analyses one training batch per seed, cut by --max-tokens and
// --max-sentences as training cuts them. The encoder has as many layers
// as the decoder unless --encoder-layers says otherwise.
func (t *Flags) AnalysisData(in task.AnalysisInput) (experiment.Data, error) {
	for _, n := range trainingOnly {
		if in.Flags.Changed(n) {
			return nil, limits.Usagef("--%s does not apply to the analyses", n)
		}
	}
	if in.Meta != nil && in.Model.EncoderLayers == 0 {
		return nil, fmt.Errorf("%s is a language model: analyze it with --task lm", in.Checkpoint)
	}
	j := train.Job{Data: in.Data, ValFrac: in.ValFrac, Stdout: in.Log}
	pairs, _, source, err := LoadPairs(j, t.Options)
	if err != nil {
		return nil, err
	}
	var codes *bpe.Codes
	switch {
	case in.Meta != nil:
		if codes, err = bpe.Parse([]byte(in.Meta["bpe_codes"])); err != nil {
			return nil, fmt.Errorf("the checkpoint's BPE codes: %v", err)
		}
	case t.BPECodes != "":
		codes, err = bpe.ReadFile(t.BPECodes)
	default:
		codes, err = LearnCodes(j, t.BPEMerges, pairs)
	}
	if err != nil {
		return nil, err
	}
	if in.Meta == nil {
		in.Model.Vocab = codes.Size()
		if !in.Flags.Changed("encoder-layers") {
			in.Model.EncoderLayers = in.Model.Layers
		}
	} else if in.Model.Vocab != codes.Size() {
		return nil, fmt.Errorf("the checkpoint's vocabulary has %d tokens, its BPE codes %d", in.Model.Vocab, codes.Size())
	}
	src, tgt := train.EncodePairs(codes, pairs)
	return &analysisData{src: src, tgt: tgt, source: source, t: t.Options, batches: map[batchKey]*model.Pair{}}, nil
}

// analysisData is the encoded training pairs, batched per seed.
type analysisData struct {
	src, tgt [][]int32
	source   string
	t        Options
	// batches are the batches made so far: every norm and depth of an
	// analysis reads the same one per seed (models read a batch, never
	// write it).
	batches map[batchKey]*model.Pair
}

type batchKey struct {
	seqLen int
	seed   uint64
}

// batch is the first training batch of a batcher seeded by seed, cut as
// training cuts them, as the model sees it.
func (a *analysisData) batch(seqLen int, seed uint64) (*model.Pair, error) {
	k := batchKey{seqLen, seed}
	if p := a.batches[k]; p != nil {
		return p, nil
	}
	tc := train.TranslateConfig{Model: model.Config{SeqLen: seqLen}, MaxTokens: a.t.MaxTokens, MaxSentences: a.t.MaxSentences}
	pb, err := data.NewPairBatcher(a.src, a.tgt, tc.Batching(seed^0xa7a1))
	if err != nil {
		return nil, fmt.Errorf("training pairs (%s): %v", a.source, err)
	}
	b := pb.Next()
	p := &model.Pair{Bsz: b.N, SrcT: b.S, TgtT: b.T, Src: b.Src, TgtIn: b.TgtIn, TgtOut: b.TgtOut}
	for i := 0; i < b.N; i++ {
		p.SrcLens = append(p.SrcLens, int32(b.SrcLens[i]))
		p.TgtLens = append(p.TgtLens, int32(b.TgtLens[i]))
	}
	a.batches[k] = p
	return p, nil
}

// Fresh is a translator of cfg initialized from seed.
func (a *analysisData) Fresh(cfg model.Config, seed uint64, pool *asm.Pool) (*admin.Net, error) {
	b, err := a.batch(cfg.SeqLen, seed)
	if err != nil {
		return nil, err
	}
	m, err := admin.NewTranslator(cfg, seed, b)
	if err != nil {
		return nil, err
	}
	m.SetPool(pool)
	return admin.TranslatorNet(m, b), nil
}

// Trained is the trained translator p on the batch of seed.
func (a *analysisData) Trained(p *model.Params, seed uint64, pool *asm.Pool) (*admin.Net, error) {
	b, err := a.batch(p.Cfg.SeqLen, seed)
	if err != nil {
		return nil, err
	}
	m, err := model.NewSeq2Seq(p, b.Rows(), seed)
	if err != nil {
		return nil, err
	}
	m.SetPool(pool)
	return admin.TranslatorNet(m, b), nil
}

// SetDepth gives cfg n layers on each side.
func (a *analysisData) SetDepth(cfg *model.Config, n int) { cfg.Layers, cfg.EncoderLayers = n, n }

// Batch says what a batch is.
func (a *analysisData) Batch(cfg model.Config) string {
	s := fmt.Sprintf("one training batch of sentence pairs per seed (at most %d subword tokens a side", a.t.MaxTokens)
	if a.t.MaxSentences > 0 {
		s += fmt.Sprintf(" and %d pairs", a.t.MaxSentences)
	}
	return s + fmt.Sprintf(", as --max-tokens batches training; pairs longer than %d tokens skipped) from %s", cfg.SeqLen, a.source)
}

// Fits refuses a translator whose training batch would not fit in
// memory.
func (a *analysisData) Fits(cfg model.Config) error {
	return limits.CheckFits("this analysis", model.TrainingBytes(cfg, a.t.MaxTokens), "make the model or --max-tokens smaller")
}

// Loss is the loss's unit.
func (a *analysisData) Loss() string { return "nats per target token" }
