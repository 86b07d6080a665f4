// Package workload builds the training steps that the step benchmarks
// and the scaling profile measure, so both measure the same thing, and
// it the same train.Trainer.Step that 'clinic train' runs: the language
// models of the generated layer code's benchmark configs on the built-in
// corpus, and a 6+6-layer encoder–decoder on one fixed batch of the
// shape of bench/torch_seq2seq.py's.
package workload

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/clinic-ml/clinic/admin"
	"github.com/clinic-ml/clinic/asm"
	"github.com/clinic-ml/clinic/internal/bpe"
	"github.com/clinic-ml/clinic/internal/corpus"
	"github.com/clinic-ml/clinic/internal/optim"
	"github.com/clinic-ml/clinic/internal/phase"
	"github.com/clinic-ml/clinic/internal/train"
	"github.com/clinic-ml/clinic/internal/translate"
	"github.com/clinic-ml/clinic/model"
)

// Seq2SeqName is the encoder–decoder workload's name, and Beam5Name
// that of decoding with it: beam search (beam 5) of the 1,003 Acts
// verses in batches of 32, as 'clinic translate' runs it, on random
// weights.
const (
	Seq2SeqName = "T6_d256"
	Beam5Name   = "beam5_T6_d256"
)

// LMConfigs are the language-model workloads: the entries of the
// generated layer code's list (gen/layergen/configs.go) marked Bench, so
// the benchmarks guard exactly the code that is specialized.
func LMConfigs() []model.SpecializedConfig {
	var cs []model.SpecializedConfig
	for _, sc := range model.SpecializedConfigs() {
		if sc.Bench && sc.EncoderLayers == 0 {
			cs = append(cs, sc)
		}
	}
	return cs
}

// AllNames lists every workload: the training steps (Names) and
// decoding.
func AllNames() []string { return append(Names(), Beam5Name) }

// Names lists the training-step workloads.
func Names() []string {
	var ns []string
	for _, sc := range LMConfigs() {
		ns = append(ns, sc.Name)
	}
	return append(ns, Seq2SeqName)
}

// Step is a trainer ready to step (or a batch ready to decode), with
// what a step processes.
type Step struct {
	Name    string
	Trainer *train.Trainer // nil for decoding
	// Tokens is the target tokens of one step (sequences × positions for
	// a language model; the output tokens of a decoded batch).
	Tokens int
	// Batch is the step's sequences (pairs for the encoder–decoder,
	// sentences for decoding).
	Batch int

	decode func() (tokens int, err error)
}

// ProfileSteps is how many steps of workload name a profile records per
// thread count by default ('clinic analyze scaling --steps 0'): 5, and 3
// of decoding, whose step translates the 1,003 Acts verses (half a
// minute on one core). Fewer is too few: α is the median of as many
// pairs of steps, and one decoding profile of one step on a busy host
// measured 0.052 where two others measured 0.000–0.021.
func ProfileSteps(name string) int {
	if name == Beam5Name {
		return 3
	}
	return 5
}

// optimizer is the benchmarks' Adam.
func optimizer() optim.Config {
	return optim.Config{Name: "adam", LR: 1e-4, Beta1: 0.9, Beta2: 0.98, Eps: 1e-8, Warmup: 100, Clip: 1}
}

// Options choose a workload's batch and layer code.
type Options struct {
	// Batch is the sequences per step (0: the workload's own: its
	// config's batch, 128 pairs for T6_d256, the 1,003 Acts verses to
	// decode).
	Batch int
	// Generic runs the generic layer code instead of the code generated
	// for the model's shape (model.Config.Generic).
	Generic bool
	// BF16 trains with bf16 GEMM inputs (model.Config.BF16, 'clinic
	// train --precision bf16'); decoding stays fp32.
	BF16 bool
}

// New builds workload name on pool, timed by clock (nil: untimed),
// Admin-profiled, after one step that touches every buffer.
func New(name string, o Options, pool *asm.Pool, clock *phase.Clock) (*Step, error) {
	batch := o.Batch
	switch name {
	case Seq2SeqName:
		return newPair(batch, o, pool, clock)
	case Beam5Name:
		return newDecode(batch, o.Generic, pool, clock)
	}
	i := slices.IndexFunc(LMConfigs(), func(sc model.SpecializedConfig) bool { return sc.Name == name })
	if i < 0 {
		return nil, fmt.Errorf("no workload %q (have %v)", name, Names())
	}
	sc := LMConfigs()[i]
	if batch <= 0 {
		batch = sc.Batch
	}
	cfg := sc.Config(256)
	cfg.Generic, cfg.BF16 = o.Generic, o.BF16
	lm, err := train.NewLM(train.LMConfig{Model: cfg, Batch: batch, Seed: 1, Train: corpus.SOTU(),
		TrainName: "built-in corpus", Pool: pool})
	if err != nil {
		return nil, err
	}
	pr, err := lm.ProfileAdmin()
	if err != nil {
		return nil, err
	}
	if err := lm.SetAdminProfile(pr); err != nil {
		return nil, err
	}
	lm.M.SetClock(clock)
	return start(&Step{Name: name, Tokens: batch * sc.T, Batch: batch}, lm, clock)
}

// start makes the trainer and takes the first step.
func start(s *Step, task train.Task, clock *phase.Clock) (*Step, error) {
	tr, err := train.New(task, train.Options{Steps: 1 << 30, EvalEvery: 1 << 30, Clock: clock, Optim: optimizer()})
	if err != nil {
		return nil, err
	}
	s.Trainer = tr
	if err := s.Step(); err != nil {
		return nil, err
	}
	return s, nil
}

// Step takes one training step (decodes the batch).
func (s *Step) Step() error {
	if s.decode != nil {
		var err error
		s.Tokens, err = s.decode()
		return err
	}
	st, err := s.Trainer.Step()
	if err == nil && st.Diverged {
		err = fmt.Errorf("%s: step %d diverged (loss %v)", s.Name, st.Step, st.Loss)
	}
	return err
}

// pairTask trains an encoder–decoder on one fixed batch.
type pairTask struct {
	m *model.Seq2Seq
	b model.Pair
}

func (t *pairTask) Params() *model.Params { return t.m.P }
func (t *pairTask) Pool() *asm.Pool       { return t.m.Pool() }
func (t *pairTask) TrainForward() (float64, int, error) {
	return t.m.Forward(&t.b, true)
}
func (t *pairTask) Backward() error                  { return t.m.Backward() }
func (t *pairTask) Evaluate() (float64, error)       { return 0, nil }
func (t *pairTask) SaveCheckpoint(string, int) error { return nil }

// pairT is the encoder–decoder workload's padded length, each side.
const pairT = 32

// pairConfig is the encoder–decoder workload's model.
func pairConfig() model.Config {
	return model.Config{EncoderLayers: 6, Layers: 6, DModel: 256, Heads: 4, DFF: 1024, SeqLen: pairT, Vocab: 8192,
		Dropout: 0.1, AttnDropout: 0.1, ActDropout: 0.1, Norm: model.Admin, Activation: "relu", LNEps: 1e-5, LabelSmoothing: 0.1}
}

// Bytes estimates the memory workload name plans with batch (0: its
// own), for a check before anything is allocated.
func Bytes(name string, batch int) (float64, error) {
	switch name {
	case Seq2SeqName:
		if batch <= 0 {
			batch = 128
		}
		return model.TrainingBytes(pairConfig(), batch*pairT), nil
	case Beam5Name:
		// A lane's translator, two of them: the profile's pool of two
		// threads decodes two batches at once (a simulated width, one
		// lane at a time). The vocabulary of 8,000 merges is about 8,300
		// subwords.
		cfg := decodeConfig(8400)
		return 2 * model.TranslatorBytes(cfg, decodeBatch, decodeBatch*decodeBeam, cfg.SeqLen, cfg.SeqLen), nil
	}
	for _, sc := range LMConfigs() {
		if sc.Name == name {
			if batch <= 0 {
				batch = sc.Batch
			}
			return model.TrainingBytes(sc.Config(256), batch*sc.T), nil
		}
	}
	return 0, fmt.Errorf("no workload %q (have %v)", name, AllNames())
}

// newPair is the encoder–decoder workload: B pairs (128 by default)
// padded to 32 tokens a side with lengths 17..32 (4,096 padded tokens a
// side at B = 128, fairseq's --max-tokens 4096), vocabulary 8,192.
func newPair(B int, o Options, pool *asm.Pool, clock *phase.Clock) (*Step, error) {
	const T, V = pairT, 8192
	if B <= 0 {
		B = 128
	}
	cfg := pairConfig()
	cfg.Generic, cfg.BF16 = o.Generic, o.BF16
	p, err := model.NewParams(cfg)
	if err != nil {
		return nil, err
	}
	p.Init(1)
	m, err := model.NewSeq2Seq(p, B*T, 1)
	if err != nil {
		return nil, err
	}
	m.SetPool(pool)
	m.SetClock(clock)
	r := rand.New(rand.NewPCG(1, 2))
	t := &pairTask{m: m, b: model.Pair{Bsz: B, SrcT: T, TgtT: T, Src: make([]int32, B*T), TgtIn: make([]int32, B*T),
		TgtOut: make([]int32, B*T), SrcLens: make([]int32, B), TgtLens: make([]int32, B)}}
	tokens := 0
	for i := 0; i < B; i++ {
		t.b.SrcLens[i], t.b.TgtLens[i] = int32(17+r.IntN(T-16)), int32(17+r.IntN(T-16))
		tokens += int(t.b.TgtLens[i])
		for j := 0; j < T; j++ {
			t.b.Src[i*T+j], t.b.TgtIn[i*T+j], t.b.TgtOut[i*T+j] = int32(3+r.IntN(V-3)), int32(3+r.IntN(V-3)), int32(3+r.IntN(V-3))
			if j >= int(t.b.TgtLens[i]) {
				t.b.TgtOut[i*T+j] = -1
			}
		}
	}
	pr, err := admin.RunSeq2Seq(m, &t.b, 1)
	if err != nil {
		return nil, err
	}
	if err := pr.Apply(p); err != nil {
		return nil, err
	}
	return start(&Step{Name: Seq2SeqName, Tokens: tokens, Batch: B}, t, clock)
}

// decodeBeam is the decoding workload's beam, and decodeBatch its
// sentences decoded together ('clinic translate --batch-size').
const (
	decodeBeam  = 5
	decodeBatch = 32
)

// decodeConfig is the decoding workload's model, of vocabulary vocab.
func decodeConfig(vocab int) model.Config {
	return model.Config{EncoderLayers: 6, Layers: 6, DModel: 256, Heads: 4, DFF: 1024, SeqLen: 256, Vocab: vocab,
		Norm: model.Admin, Activation: "relu", LNEps: 1e-5}
}

// newDecode is the decoding workload: the first n Acts verses (0: all
// 1,003), encoded with a joint BPE of 8,000 merges learned on the
// training books, translated by a random-weight 6+6-layer d256 Admin
// model with beam 5, outputs of at most 1.2·source + 10 tokens (as
// BenchmarkTranslate), 32 sentences a batch, as many batches at once as
// the pool has threads (translate.Lanes). Every step decodes the same
// sentences, so steps repeat exactly.
func newDecode(n int, generic bool, pool *asm.Pool, clock *phase.Clock) (*Step, error) {
	trainPairs, _, test := corpus.BibleSplits()
	if n <= 0 {
		n = len(test)
	}
	lines := make([]string, 0, 2*len(trainPairs))
	for _, p := range trainPairs {
		lines = append(lines, p.English, p.Spanish)
	}
	codes, err := bpe.Learn(lines, 8000, bpe.DefaultOptions())
	if err != nil {
		return nil, err
	}
	cfg := decodeConfig(codes.Size())
	cfg.Generic = generic
	p, err := model.NewParams(cfg)
	if err != nil {
		return nil, err
	}
	p.Init(1)
	var srcs [][]int32
	for _, t := range test[:min(n, len(test))] {
		ids, _ := translate.SourceIDs(codes, t.English, cfg.SeqLen)
		srcs = append(srcs, ids)
	}
	opt := translate.Options(cfg, decodeBeam, 1)
	opt.MaxLenA, opt.MaxLenB, opt.Pool = 1.2, 10, pool
	pl, err := translate.PlanFor(cfg, srcs, decodeBatch, opt)
	if err != nil {
		return nil, err
	}
	// A real pool decodes as many batches at once as it has threads and
	// memory allows; a pool of one thread only simulates wider ones
	// (asm.Pool.Record), whose lanes run one after another on one
	// translator, so any number.
	lanes := (len(srcs) + decodeBatch - 1) / decodeBatch
	if pool.Threads() > 1 {
		lanes = translate.Lanes(cfg, len(srcs), pl, 0, pool)
	}
	d := translate.Decoder(p, pl, lanes, pool)
	s := &Step{Name: Beam5Name, Batch: len(srcs), decode: func() (int, error) {
		best, err := d.TranslateAll(srcs, decodeBatch, bpe.PadID, opt)
		n := 0
		for _, h := range best {
			n += len(h.Tokens)
		}
		return n, err
	}}
	return s, s.Step()
}
