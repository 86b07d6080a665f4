package data

import (
	"fmt"
	"math/bits"
)

// Sampler draws training batches of random windows from a byte slice.
// Each row of a batch is a window of seqLen+1 consecutive bytes starting
// at a uniformly random offset: the first seqLen bytes are the inputs
// and the last seqLen the targets (the inputs shifted by one). The
// offsets come from a SplitMix64 generator seeded by the caller, so the
// same data, shape and seed always give the same batches.
type Sampler struct {
	data   []byte
	batch  int
	seqLen int
	state  uint64
}

// NewSampler returns a Sampler over data for batches of batch rows of
// seqLen tokens. It fails if batch or seqLen is not positive or data is
// shorter than seqLen+1 bytes.
func NewSampler(data []byte, batch, seqLen int, seed uint64) (*Sampler, error) {
	if batch <= 0 || seqLen <= 0 {
		return nil, fmt.Errorf("data: batch (%d) and sequence length (%d) must be positive", batch, seqLen)
	}
	if len(data) < seqLen+1 {
		return nil, fmt.Errorf("data: %d bytes of data is too short for a window of %d+1 bytes", len(data), seqLen)
	}
	return &Sampler{data: data, batch: batch, seqLen: seqLen, state: seed}, nil
}

// Batch returns the number of rows per batch.
func (s *Sampler) Batch() int { return s.batch }

// SeqLen returns the number of tokens per row.
func (s *Sampler) SeqLen() int { return s.seqLen }

// Next fills tokens and targets, each of length at least batch·seqLen,
// with the next batch, row-major (row r occupies [r·seqLen, (r+1)·seqLen)).
// It does not allocate. It panics if a slice is too short.
func (s *Sampler) Next(tokens, targets []int32) {
	n := s.batch * s.seqLen
	if len(tokens) < n || len(targets) < n {
		panic(fmt.Sprintf("data: Sampler.Next: buffers of %d and %d tokens, need %d", len(tokens), len(targets), n))
	}
	starts := uint64(len(s.data) - s.seqLen) // valid starts: 0..len-seqLen-1
	for r := 0; r < s.batch; r++ {
		off := int(s.uniform(starts))
		w := s.data[off : off+s.seqLen+1]
		tk := tokens[r*s.seqLen : (r+1)*s.seqLen]
		tg := targets[r*s.seqLen : (r+1)*s.seqLen]
		for i := range tk {
			tk[i] = int32(w[i])
			tg[i] = int32(w[i+1])
		}
	}
}

// State returns the generator state, so a checkpoint can resume the
// exact batch sequence with SetState.
func (s *Sampler) State() uint64 { return s.state }

// SetState restores a state returned by State.
func (s *Sampler) SetState(state uint64) { s.state = state }

// next64 is SplitMix64.
func (s *Sampler) next64() uint64 {
	s.state += 0x9e3779b97f4a7c15
	z := s.state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// uniform returns an unbiased value in [0, n), n > 0 (Lemire's method).
func (s *Sampler) uniform(n uint64) uint64 {
	hi, lo := bits.Mul64(s.next64(), n)
	if lo < n {
		thresh := -n % n
		for lo < thresh {
			hi, lo = bits.Mul64(s.next64(), n)
		}
	}
	return hi
}

// Eval cuts data into deterministic evaluation batches. Window k is
// data[k·seqLen : k·seqLen+seqLen+1] — its inputs are the k-th
// contiguous, non-overlapping block of seqLen bytes from the start of
// data, its targets the same block shifted by one byte. Windows are
// grouped in order into full batches of batch rows; a trailing partial
// batch is dropped, and at most maxBatches batches are kept
// (maxBatches <= 0 keeps all). So the evaluation covers
// Batches()·batch·seqLen target tokens, the same ones every time.
type Eval struct {
	data    []byte
	batch   int
	seqLen  int
	batches int
}

// NewEval returns the evaluation batches of data. It fails if batch or
// seqLen is not positive or data does not hold one full batch
// (batch·seqLen+1 bytes).
func NewEval(data []byte, batch, seqLen, maxBatches int) (*Eval, error) {
	if batch <= 0 || seqLen <= 0 {
		return nil, fmt.Errorf("data: batch (%d) and sequence length (%d) must be positive", batch, seqLen)
	}
	nb := 0
	if len(data) > 0 {
		nb = (len(data) - 1) / seqLen / batch
	}
	if nb == 0 {
		return nil, fmt.Errorf("data: %d bytes of validation data is too short for one batch of %d×%d tokens (needs %d bytes)",
			len(data), batch, seqLen, batch*seqLen+1)
	}
	if maxBatches > 0 && nb > maxBatches {
		nb = maxBatches
	}
	return &Eval{data: data, batch: batch, seqLen: seqLen, batches: nb}, nil
}

// Batches returns the number of batches.
func (e *Eval) Batches() int { return e.batches }

// Tokens returns the number of target tokens over all batches.
func (e *Eval) Tokens() int { return e.batches * e.batch * e.seqLen }

// Fill writes batch i (0 <= i < Batches()) into tokens and targets,
// each at least batch·seqLen long, row-major as Sampler.Next does. It
// does not allocate. It panics if i is out of range or a slice is too
// short.
func (e *Eval) Fill(i int, tokens, targets []int32) {
	if i < 0 || i >= e.batches {
		panic(fmt.Sprintf("data: Eval.Fill: batch %d out of range [0,%d)", i, e.batches))
	}
	n := e.batch * e.seqLen
	if len(tokens) < n || len(targets) < n {
		panic(fmt.Sprintf("data: Eval.Fill: buffers of %d and %d tokens, need %d", len(tokens), len(targets), n))
	}
	base := i * n
	w := e.data[base : base+n+1]
	for j := 0; j < n; j++ {
		tokens[j] = int32(w[j])
		targets[j] = int32(w[j+1])
	}
}

// EvalWindows returns all evaluation batches of NewEval(data, batch,
// seqLen, maxBatches) materialized: element i is {tokens, targets} of
// batch i, each batch·seqLen long. It returns nil if data does not hold
// one full batch. Prefer Eval to avoid holding every batch in memory.
func EvalWindows(data []byte, batch, seqLen, maxBatches int) [][2][]int32 {
	e, err := NewEval(data, batch, seqLen, maxBatches)
	if err != nil {
		return nil
	}
	out := make([][2][]int32, e.batches)
	n := batch * seqLen
	for i := range out {
		out[i] = [2][]int32{make([]int32, n), make([]int32, n)}
		e.Fill(i, out[i][0], out[i][1])
	}
	return out
}
