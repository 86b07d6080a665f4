package translate

import (
	"strings"
	"testing"

	"github.com/clinic-ml/clinic/asm"
	"github.com/clinic-ml/clinic/internal/bpe"
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
// the pool: one output per source, the same at 1 and 2 threads.
func TestSentences(t *testing.T) {
	p, codes := tinyTranslator(t)
	src, n := SourceIDs(codes, "hello world hello world hello", p.Cfg.SeqLen)
	if len(src) != p.Cfg.SeqLen || n <= p.Cfg.SeqLen-1 || src[len(src)-1] != bpe.EOSID {
		t.Fatalf("SourceIDs %v (n %d): want cut to seq-len with EOS", src, n)
	}
	var outs [2][]string
	for i, threads := range []int{1, 2} {
		pool := asm.NewPool(threads)
		out, err := Sentences(p, codes, [][]int32{src, {bpe.EOSID}}, 2, 4, Options(p.Cfg, 2, 1), pool)
		pool.Close()
		if err != nil || len(out) != 2 {
			t.Fatalf("%d threads: %q, %v", threads, out, err)
		}
		outs[i] = out
	}
	if strings.Join(outs[0], "\n") != strings.Join(outs[1], "\n") {
		t.Errorf("1 thread %q, 2 threads %q", outs[0], outs[1])
	}
}
