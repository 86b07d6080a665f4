package data

import (
	"testing"
)

func seqData(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}

func TestSamplerWindows(t *testing.T) {
	const B, T = 4, 8
	d := seqData(100)
	s, err := NewSampler(d, B, T, 42)
	if err != nil {
		t.Fatal(err)
	}
	tok := make([]int32, B*T)
	tgt := make([]int32, B*T)
	for it := 0; it < 50; it++ {
		s.Next(tok, tgt)
		for r := 0; r < B; r++ {
			row, trow := tok[r*T:(r+1)*T], tgt[r*T:(r+1)*T]
			// Find the window: byte(i*7) is injective over i mod 256,
			// and len(d) < 256, so the first token fixes the offset.
			off := -1
			for i := 0; i+T+1 <= len(d); i++ {
				if int32(d[i]) == row[0] {
					off = i
				}
			}
			if off < 0 {
				t.Fatalf("row %d starts with %d, not a valid window start", r, row[0])
			}
			for i := 0; i < T; i++ {
				if row[i] != int32(d[off+i]) || trow[i] != int32(d[off+i+1]) {
					t.Fatalf("row %d is not window %d shifted by one", r, off)
				}
			}
		}
	}
}

func TestSamplerDeterministic(t *testing.T) {
	d := seqData(5000)
	a, _ := NewSampler(d, 3, 16, 7)
	b, _ := NewSampler(d, 3, 16, 7)
	c, _ := NewSampler(d, 3, 16, 8)
	ta, ga := make([]int32, 48), make([]int32, 48)
	tb, gb := make([]int32, 48), make([]int32, 48)
	tc, gc := make([]int32, 48), make([]int32, 48)
	same := true
	var saved uint64
	var savedTok []int32
	for i := 0; i < 20; i++ {
		if i == 10 {
			saved = a.State()
		}
		a.Next(ta, ga)
		b.Next(tb, gb)
		c.Next(tc, gc)
		if i == 10 {
			savedTok = append([]int32(nil), ta...)
		}
		for j := range ta {
			if ta[j] != tb[j] || ga[j] != gb[j] {
				t.Fatalf("same seed gave different batches at step %d", i)
			}
			if ta[j] != tc[j] {
				same = false
			}
		}
	}
	if same {
		t.Error("different seeds gave identical batches")
	}
	a.SetState(saved)
	a.Next(ta, ga)
	for j := range ta {
		if ta[j] != savedTok[j] {
			t.Fatal("SetState(State()) did not replay the batch")
		}
	}
}

// Pinned first offsets for seed 1 (checked against an independent
// SplitMix64 + Lemire computation in Python): guards against accidental
// changes to the generator, which would silently change every run.
func TestSamplerPinned(t *testing.T) {
	d := make([]byte, 1001)
	for i := range d {
		d[i] = byte(i % 251)
	}
	s, _ := NewSampler(d, 1, 1, 1)
	want := []int{566, 745, 971, 444}
	tok, tgt := make([]int32, 1), make([]int32, 1)
	for i, off := range want {
		s.Next(tok, tgt)
		if tok[0] != int32(off%251) || tgt[0] != int32((off+1)%251) {
			t.Fatalf("draw %d: token %d→%d, want offset %d", i, tok[0], tgt[0], off)
		}
	}
}

func TestSamplerCoverage(t *testing.T) {
	// Every start 0..len-T-1 is reachable, including the last.
	d := seqData(20)
	const T = 5
	s, _ := NewSampler(d, 1, T, 3)
	seen := map[int32]bool{}
	tok, tgt := make([]int32, T), make([]int32, T)
	for i := 0; i < 2000; i++ {
		s.Next(tok, tgt)
		seen[tok[0]] = true
		if tgt[T-1] == int32(d[len(d)-1]) && tok[0] != int32(d[len(d)-T-1]) {
			t.Fatal("window ending at the last byte has the wrong start")
		}
	}
	if len(seen) != len(d)-T {
		t.Errorf("saw %d distinct starts, want %d", len(seen), len(d)-T)
	}
}

func TestSamplerErrors(t *testing.T) {
	if _, err := NewSampler(make([]byte, 8), 1, 8, 0); err == nil {
		t.Error("data of seqLen bytes accepted")
	}
	if _, err := NewSampler(make([]byte, 9), 1, 8, 0); err != nil {
		t.Errorf("data of seqLen+1 bytes rejected: %v", err)
	}
	if _, err := NewSampler(make([]byte, 100), 0, 8, 0); err == nil {
		t.Error("batch 0 accepted")
	}
}

func TestSamplerAllocs(t *testing.T) {
	s, _ := NewSampler(seqData(1000), 4, 32, 1)
	tok, tgt := make([]int32, 128), make([]int32, 128)
	if n := testing.AllocsPerRun(100, func() { s.Next(tok, tgt) }); n != 0 {
		t.Errorf("Next allocates %v times", n)
	}
}

func TestEval(t *testing.T) {
	d := seqData(50)
	// 49 usable positions / T=4 = 12 windows; B=5 -> 2 full batches.
	e, err := NewEval(d, 5, 4, 0)
	if err != nil {
		t.Fatal(err)
	}
	if e.Batches() != 2 || e.Tokens() != 40 {
		t.Fatalf("Batches %d Tokens %d, want 2, 40", e.Batches(), e.Tokens())
	}
	tok, tgt := make([]int32, 20), make([]int32, 20)
	for i := 0; i < 2; i++ {
		e.Fill(i, tok, tgt)
		for j := 0; j < 20; j++ {
			p := i*20 + j
			if tok[j] != int32(d[p]) || tgt[j] != int32(d[p+1]) {
				t.Fatalf("batch %d pos %d: got %d→%d, want %d→%d", i, j, tok[j], tgt[j], d[p], d[p+1])
			}
		}
	}
	if n := testing.AllocsPerRun(10, func() { e.Fill(1, tok, tgt) }); n != 0 {
		t.Errorf("Fill allocates %v times", n)
	}

	e, _ = NewEval(d, 5, 4, 1)
	if e.Batches() != 1 {
		t.Errorf("maxBatches 1: %d batches", e.Batches())
	}
	// Exactly one batch needs B*T+1 bytes.
	if _, err := NewEval(seqData(20), 5, 4, 0); err == nil {
		t.Error("20 bytes accepted for a 5×4 batch")
	}
	if e, err := NewEval(seqData(21), 5, 4, 0); err != nil || e.Batches() != 1 {
		t.Errorf("21 bytes for a 5×4 batch: %v", err)
	}

	w := EvalWindows(d, 5, 4, 0)
	if len(w) != 2 || len(w[1][0]) != 20 || w[1][0][0] != int32(d[20]) || w[1][1][19] != int32(d[40]) {
		t.Errorf("EvalWindows = %v", w)
	}
	if EvalWindows(d, 100, 4, 0) != nil {
		t.Error("EvalWindows on short data not nil")
	}
}
