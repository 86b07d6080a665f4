package generate

import (
	"math"
	"math/rand/v2"
	"sort"
)

// Sample continues prompt by n bytes, each drawn (temperature temp,
// among the topK most likely; temp 0: the most likely) from a byte-level
// language model's distribution over the last seqLen bytes of context:
// forward returns the logits of every position of a context, vocab per
// position.
func Sample(forward func(ctx []int32) ([]float32, error), vocab, seqLen int, prompt []byte, n int, temp float64, topK int, seed uint64) ([]byte, error) {
	r := rand.New(rand.NewPCG(seed, 0x73616d706c65))
	V, T := vocab, seqLen
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
		all, err := forward(ctx)
		if err != nil {
			return nil, err
		}
		logits := all[(len(ctx)-1)*V : len(ctx)*V]
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
