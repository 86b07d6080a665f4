package main

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/clinic-ml/clinic/internal/limits"
	"github.com/clinic-ml/clinic/model"
)

func runSample(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("sample", "Generate text from a checkpoint, byte by byte.", stdout)
	ckpt := fs.String("checkpoint", "runs/latest/model.safetensors", "checkpoint to load")
	prompt := fs.String("prompt", "The ", "text to continue")
	length := fs.Int("length", 200, "bytes to generate")
	temp := fs.Float64("temperature", 0.8, "sampling temperature (0: greedy)")
	topK := fs.Int("top-k", 40, "sample among the k most likely bytes (0: all)")
	seed := fs.Uint64("seed", 1, "random seed")
	var sh shared
	sh.take(fs, "threads")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := limits.CheckSize("length", *length, 0, limits.MaxLength); err != nil {
		return err
	}
	switch {
	case !(*temp >= 0) || math.IsInf(*temp, 0):
		return usagef("--temperature must be ≥ 0, got %g", *temp)
	case *topK < 0:
		return usagef("--top-k must be ≥ 0, got %d", *topK)
	case limits.CheckThreads(sh.threads) != nil:
		return limits.CheckThreads(sh.threads)
	case *prompt == "":
		return usagef("--prompt must not be empty")
	}
	if err := stdoutNotInput(stdout, *ckpt); err != nil {
		return err
	}
	pool, err := sh.pool()
	if err != nil {
		return err
	}
	defer pool.Close()
	p, _, err := model.LoadCheckpoint(*ckpt)
	if err != nil {
		return err
	}
	if p.Cfg.EncoderLayers > 0 {
		return fmt.Errorf("%s is an encoder–decoder translator, not a language model: use 'clinic translate'", *ckpt)
	}
	// Positions are not parameters: plan for the context this run can
	// reach, not the checkpoint's whole seq-len.
	p.Cfg.SeqLen = min(p.Cfg.SeqLen, len(*prompt)+*length)
	if err := limits.CheckFits("sampling from "+*ckpt, model.ModelBytes(p.Cfg, p.Cfg.SeqLen), "use a shorter --prompt or --length"); err != nil {
		return err
	}
	m, err := model.New(p, 1, *seed)
	if err != nil {
		return err
	}
	m.SetPool(pool)
	out, err := generate(m, []byte(*prompt), *length, *temp, *topK, *seed)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s\n", out)
	return nil
}

// generate continues prompt by n bytes, each drawn from the model's
// distribution over the last SeqLen bytes of context.
func generate(m *model.Model, prompt []byte, n int, temp float64, topK int, seed uint64) ([]byte, error) {
	r := rand.New(rand.NewPCG(seed, 0x73616d706c65))
	V, T := m.Cfg.Vocab, m.Cfg.SeqLen
	text := append([]byte(nil), prompt...)
	ctx := make([]int32, 0, T)
	probs := make([]float64, V)
	idx := make([]int, V)
	for i := 0; i < n; i++ {
		start := max(0, len(text)-T)
		ctx = ctx[:0]
		for _, b := range text[start:] {
			ctx = append(ctx, int32(b))
		}
		if _, err := m.Forward(ctx, nil, 1, len(ctx), false); err != nil {
			return nil, err
		}
		logits := m.Logits()[(len(ctx)-1)*V : len(ctx)*V]
		text = append(text, byte(pick(logits, probs, idx, temp, topK, r)))
	}
	return text, nil
}

func pick(logits []float32, probs []float64, idx []int, temp float64, topK int, r *rand.Rand) int {
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return logits[idx[a]] > logits[idx[b]] })
	if temp == 0 {
		return idx[0]
	}
	k := len(idx)
	if topK > 0 && topK < k {
		k = topK
	}
	mx := float64(logits[idx[0]])
	var sum float64
	for j := 0; j < k; j++ {
		probs[j] = math.Exp((float64(logits[idx[j]]) - mx) / temp)
		sum += probs[j]
	}
	u := r.Float64() * sum
	for j := 0; j < k; j++ {
		u -= probs[j]
		if u <= 0 {
			return idx[j]
		}
	}
	return idx[k-1]
}
