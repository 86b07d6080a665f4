package translate

import (
	"strings"
	"testing"

	"github.com/clinic-ml/clinic/asm"
	"github.com/clinic-ml/clinic/internal/bpe"
	"github.com/clinic-ml/clinic/internal/generate"
	"github.com/clinic-ml/clinic/model"
)

func tinyTranslator(t *testing.T) (*model.Params, *bpe.Codes) {
	codes, err := bpe.Learn([]string{"hello world", "hola mundo"}, 5, bpe.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	cfg := model.DefaultConfig()
	cfg.Layers, cfg.EncoderLayers, cfg.DModel, cfg.Heads, cfg.DFF, cfg.SeqLen, cfg.Vocab, cfg.LNEps = 1, 1, 16, 2, 32, 8, codes.Size(), 1e-5
	p, err := model.NewParams(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p, codes
}

// Codes accepts a translator's metadata only: the task, the codes, and
// a vocabulary that matches the model's.
func TestCodes(t *testing.T) {
	p, codes := tinyTranslator(t)
	text, _ := codes.MarshalText()
	meta := map[string]string{"task": "translate", "bpe_codes": string(text)}
	if _, err := Codes("ckpt", p, meta); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		meta map[string]string
		want string
	}{
		{map[string]string{"task": "lm", "bpe_codes": string(text)}, `task "lm"`},
		{map[string]string{"task": "translate"}, "no BPE codes"},
	} {
		if _, err := Codes("ckpt", p, c.meta); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("meta %v: %v, want %q", c.meta, err, c.want)
		}
	}
	lm := *p
	lm.Cfg.EncoderLayers = 0
	if _, err := Codes("ckpt", &lm, meta); err == nil || !strings.Contains(err.Error(), "language model") {
		t.Errorf("a language model: %v", err)
	}
}

// Sentences decodes within the model's length, whatever the width of
// the pool and the batches decoded at once: one output per source, the
// same at 1, 2 and 3 threads, in one batch or in lanes of one sentence.
func TestSentences(t *testing.T) {
	p, codes := tinyTranslator(t)
	src, n := SourceIDs(codes, "hello world hello world hello", p.Cfg.SeqLen)
	if len(src) != p.Cfg.SeqLen || n <= p.Cfg.SeqLen-1 || src[len(src)-1] != bpe.EOSID {
		t.Fatalf("SourceIDs %v (n %d): want cut to seq-len with EOS", src, n)
	}
	short, _ := SourceIDs(codes, "world", p.Cfg.SeqLen)
	srcs := [][]int32{src, {bpe.EOSID}, short}
	var want string
	for _, batch := range []int{3, 1} {
		for _, threads := range []int{1, 2, 3} {
			pool := asm.NewPool(threads)
			out, err := Sentences(p, codes, srcs, batch, Options(p.Cfg, 2, 1), pool, "test")
			pool.Close()
			if err != nil || len(out) != len(srcs) {
				t.Fatalf("batch %d, %d threads: %q, %v", batch, threads, out, err)
			}
			if got := strings.Join(out, "\n"); want == "" {
				want = got
			} else if got != want {
				t.Errorf("batch %d, %d threads: %q, want %q", batch, threads, got, want)
			}
		}
	}
}

// A plan covers the longest source and the longest output the options
// allow, within the model's seq-len.
func TestPlanFor(t *testing.T) {
	cfg := model.Config{SeqLen: 40}
	opt := generate.Options{Beam: 3, MaxLenA: 1.5, MaxLenB: 2, Limit: cfg.SeqLen - 1}
	srcs := [][]int32{make([]int32, 7), make([]int32, 12), make([]int32, 3)}
	pl, err := PlanFor(cfg, srcs, 2, opt)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Plan{Batch: 2, Hyps: 6, Src: 12, Pos: 1.5*12 + 2 + 1}); pl != want {
		t.Errorf("plan %+v, want %+v", pl, want)
	}
	pl, _ = PlanFor(cfg, append(srcs, make([]int32, 40)), 10, opt)
	if want := (Plan{Batch: 4, Hyps: 12, Src: 40, Pos: 40}); pl != want {
		t.Errorf("plan %+v, want %+v", pl, want)
	}
	opt.Beam = 1 << 62
	if _, err := PlanFor(cfg, srcs, 4, opt); err == nil {
		t.Error("a batch × beam that wraps around: no error")
	}
}
