package bench

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/clinic-ml/clinic/asm"
	"github.com/clinic-ml/clinic/internal/bpe"
	"github.com/clinic-ml/clinic/internal/corpus"
	gen "github.com/clinic-ml/clinic/internal/generate"
	"github.com/clinic-ml/clinic/internal/translate"
	"github.com/clinic-ml/clinic/model"
)

var (
	translateSentences = flag.Int("translate-sentences", 200, "BenchmarkTranslate: Acts verses to translate per iteration (all: 1003)")
	translateBatch     = flag.Int("translate-batch", 32, "BenchmarkTranslate: sentences decoded together (clinic translate --batch-size)")
	actsIDsOut         = flag.String("acts-ids-out", "", "BenchmarkTranslate: write the Acts source token ids (one verse per line) to this file for bench/torch_decode.py, and skip")
	translateCkpt      = flag.String("translate-checkpoint", "", "BenchmarkTranslate: decode with this trained translation checkpoint (its model and BPE codes) instead of random weights")
)

var (
	actsOnce  sync.Once
	actsCodes *bpe.Codes
	actsSrcs  [][]int32
)

// actsSources are the English verses of Acts (the test book) in the
// joint BPE that 'clinic train --task translate' learns by default
// (8,000 merges on the training books), each ending in EOS.
func actsSources(b *testing.B) (*bpe.Codes, [][]int32) {
	actsOnce.Do(func() {
		train, _, test := corpus.BibleSplits()
		lines := make([]string, 0, 2*len(train))
		for _, p := range train {
			lines = append(lines, p.English, p.Spanish)
		}
		c, err := bpe.Learn(lines, 8000, bpe.DefaultOptions())
		if err != nil {
			b.Fatal(err)
		}
		actsCodes = c
		for _, p := range test {
			actsSrcs = append(actsSrcs, append(c.Encode(p.English), bpe.EOSID))
		}
	})
	return actsCodes, actsSrcs
}

// counted counts the hypotheses a Translator steps: rows/step says how
// full the batches stay as sentences finish.
type counted struct {
	gen.Translator
	steps, rows int
}

func (c *counted) Step(tokens, sents []int32, pos int, logp []float32) error {
	c.steps++
	c.rows += len(tokens)
	return c.Translator.Step(tokens, sents, pos, logp)
}

// BenchmarkTranslate translates Acts verses (-translate-sentences of
// them) with a 6+6-layer d256 Admin encoder–decoder (random weights,
// the joint BPE's ~8,400 tokens), as 'clinic translate --batch-size 32
// --max-len-a 1.2 --max-len-b 10' does, and reports sentences/s, the
// mean output length in tokens (EOS included) and the mean hypotheses
// per decoding step. Random weights rarely choose EOS, so most outputs
// run to the maximum length: slower than a trained model's, which
// -translate-checkpoint measures.
func BenchmarkTranslate(b *testing.B) {
	codes, all := actsSources(b)
	var p *model.Params
	if *translateCkpt != "" {
		var err error
		if p, codes, all, err = trainedTranslator(*translateCkpt); err != nil {
			b.Fatal(err)
		}
	}
	if *actsIDsOut != "" {
		var sb strings.Builder
		fmt.Fprintf(&sb, "# vocab %d\n", codes.Size())
		for _, s := range all {
			for i, id := range s {
				if i > 0 {
					sb.WriteByte(' ')
				}
				sb.WriteString(strconv.Itoa(int(id)))
			}
			sb.WriteByte('\n')
		}
		if err := os.WriteFile(*actsIDsOut, []byte(sb.String()), 0o644); err != nil {
			b.Fatal(err)
		}
		b.Skipf("wrote %d sources to %s", len(all), *actsIDsOut)
	}
	srcs := all[:min(*translateSentences, len(all))]
	if p == nil {
		cfg := model.Config{EncoderLayers: 6, Layers: 6, DModel: 256, Heads: 4, DFF: 1024, SeqLen: 256, Vocab: codes.Size(),
			Norm: model.Admin, Activation: "relu", LNEps: 1e-5}
		var err error
		if p, err = model.NewParams(cfg); err != nil {
			b.Fatal(err)
		}
		p.Init(1)
	}
	cfg := p.Cfg
	batch := *translateBatch
	for _, threads := range threadCounts(b) {
		for _, beam := range []int{1, 5} {
			// lanes=1 decodes batch after batch, each on every thread;
			// the default, as 'clinic translate' does, as many batches at
			// once as there are threads (translate.Lanes)
			for _, lanes := range []int{1, 0} {
				name := fmt.Sprintf("beam=%d/threads=%d", beam, threads)
				if lanes == 1 {
					if threads == 1 {
						continue // the same as the default
					}
					name += "/lanes=1"
				}
				b.Run(name, func(b *testing.B) {
					pool := asm.NewPool(threads)
					defer pool.Close()
					opt := translate.Options(cfg, beam, 1)
					opt.MaxLenA, opt.MaxLenB, opt.Pool = 1.2, 10, pool
					pl, err := translate.PlanFor(cfg, srcs, batch, opt)
					if err != nil {
						b.Fatal(err)
					}
					if lanes == 0 {
						lanes = translate.Lanes(cfg, len(srcs), pl, 0, pool)
					}
					var mu sync.Mutex
					var tr *counted
					d := &gen.Decoder{Lanes: lanes, New: func() (gen.Translator, error) {
						mt, err := model.NewTranslatorFor(p, pl.Batch, pl.Hyps, pl.Src, pl.Pos)
						if err != nil {
							return nil, err
						}
						mt.SetPool(pool)
						c := &counted{Translator: mt}
						mu.Lock()
						if tr == nil {
							tr = c // the first lane's counts stand for all
						}
						mu.Unlock()
						return c, nil
					}}
					tokens := 0
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						best, err := d.TranslateAll(srcs, batch, bpe.PadID, opt)
						if err != nil {
							b.Fatal(err)
						}
						for _, h := range best {
							tokens += len(h.Tokens)
						}
					}
					b.ReportMetric(float64(len(srcs)*b.N)/b.Elapsed().Seconds(), "sentences/s")
					b.ReportMetric(float64(tokens)/float64(len(srcs)*b.N), "tokens/sentence")
					b.ReportMetric(float64(tr.rows)/float64(tr.steps), "hyps/step")
					b.ReportMetric(float64(lanes), "lanes")
					if mb := peakRSSMB(); mb > 0 {
						b.ReportMetric(mb, "peak-RSS-MB")
					}
				})
			}
		}
	}
}

// trainedTranslator loads a translation checkpoint and encodes the Acts
// verses with its BPE codes.
func trainedTranslator(path string) (*model.Params, *bpe.Codes, [][]int32, error) {
	p, meta, err := model.LoadCheckpoint(path)
	if err != nil {
		return nil, nil, nil, err
	}
	if p.Cfg.EncoderLayers < 1 || meta["task"] != "translate" {
		return nil, nil, nil, fmt.Errorf("%s is not a translation checkpoint", path)
	}
	codes, err := bpe.Parse([]byte(meta["bpe_codes"]))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: BPE codes: %v", path, err)
	}
	_, _, test := corpus.BibleSplits()
	var srcs [][]int32
	for _, pr := range test {
		src := pr.English
		if meta["src_lang"] == "es" {
			src = pr.Spanish
		}
		ids, _ := translate.SourceIDs(codes, src, p.Cfg.SeqLen)
		srcs = append(srcs, ids)
	}
	return p, codes, srcs, nil
}
