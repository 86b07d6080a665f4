package data

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseTSV checks that the TSV parser never panics, that its errors
// are single lines naming the input, and that whatever it accepts is a
// clean pair list that survives a round trip through the two-column
// format. The seed corpus is in testdata/fuzz/FuzzParseTSV.
func FuzzParseTSV(f *testing.F) {
	f.Add([]byte("Gen 1:1\tIn the beginning\tEN el principio\n"), 2, 3)
	f.Fuzz(func(t *testing.T, text []byte, src, tgt int) {
		pairs, err := ParseTSV("in.tsv", text, src, tgt)
		// Uniform parsing (LoadTSVUniform) accepts the same pairs, or
		// refuses for the field counts alone, naming the line.
		if checkColumns(src, tgt) == nil {
			upairs, uerr := parseTSV("in.tsv", string(text), src, tgt, true)
			var fe *FieldCountError
			counts := errors.As(uerr, &fe)
			switch {
			case err == nil && uerr == nil && !reflect.DeepEqual(upairs, pairs):
				t.Fatalf("uniform: %q, not %q", upairs, pairs)
			case (err != nil) != (uerr != nil) && !counts:
				t.Fatalf("uniform: %v, not %v", uerr, err)
			case counts && (!strings.HasPrefix(uerr.Error(), "data: in.tsv:") || fe.Fields == fe.First):
				t.Fatalf("uniform error: %v", uerr)
			}
		}
		if err != nil {
			msg := err.Error()
			if !strings.HasPrefix(msg, "data: ") || strings.Contains(msg, "\n") {
				t.Fatalf("error is not one line starting \"data: \": %q", msg)
			}
			if !strings.HasPrefix(msg, "data: in.tsv") && !strings.HasPrefix(msg, "data: TSV columns") {
				t.Fatalf("error does not name the input: %q", msg)
			}
			return
		}
		if len(pairs) == 0 {
			t.Fatal("no error and no pairs")
		}
		if n := countLines(string(text)); len(pairs) != n {
			t.Fatalf("%d pairs from %d lines", len(pairs), n)
		}
		var b strings.Builder
		for _, p := range pairs {
			for _, s := range []string{p.Src, p.Tgt} {
				if s == "" || s != strings.TrimSpace(s) || strings.ContainsAny(s, "\t\n") || !utf8.ValidString(s) {
					t.Fatalf("bad field %q", s)
				}
			}
			b.WriteString(p.Src + "\t" + p.Tgt + "\n")
		}
		again, err := ParseTSV("again.tsv", []byte(b.String()), 1, 2)
		if err != nil {
			t.Fatalf("round trip: %v", err)
		}
		if !reflect.DeepEqual(again, pairs) {
			t.Fatalf("round trip: got %q, want %q", again, pairs)
		}
	})
}

// FuzzPairBatcher checks the batching invariants on arbitrary lengths
// and limits: every batch within the limits and equal to its examples,
// every kept example once per epoch, skips counted as the rules say,
// and a resumed batcher in step with an uninterrupted one.
func FuzzPairBatcher(f *testing.F) {
	f.Add([]byte{3, 5, 0, 0, 60, 2, 7, 7, 1, 40}, uint16(64), uint8(30), uint8(0), uint64(1), uint8(3))
	f.Fuzz(func(t *testing.T, lens []byte, maxTokens uint16, maxLen, maxSent uint8, seed uint64, k uint8) {
		if len(lens) < 2 || len(lens) > 512 || maxTokens == 0 {
			return
		}
		var src, tgt [][]int32
		for i := 0; i+1 < len(lens); i += 2 {
			src = append(src, slices.Repeat([]int32{7}, int(lens[i]%64)))
			tgt = append(tgt, slices.Repeat([]int32{8}, int(lens[i+1]%64)))
		}
		c := PairConfig{MaxTokens: int(maxTokens), MaxLen: int(maxLen), MaxSentences: int(maxSent), Pad: 0, BOS: 1, EOS: 2, Seed: seed}
		long, over := 0, 0
		for i := range src {
			s, tl := len(src[i])+1, len(tgt[i])+1
			switch {
			case c.MaxLen > 0 && max(s, tl) > c.MaxLen:
				long++
			case max(s, tl) > c.MaxTokens:
				over++
			}
		}
		b, err := NewPairBatcher(src, tgt, c)
		if long+over == len(src) {
			if err == nil {
				t.Fatal("every example skipped, but no error")
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		st := b.Stats()
		if st.SkippedLong != long || st.SkippedTokens != over || st.Examples != len(src)-long-over {
			t.Fatalf("stats %+v, want %d long, %d over", st, long, over)
		}
		var want []string
		for range 2 {
			seen := make([]int, len(src))
			for range st.Batches {
				bt := b.Next()
				checkBatch(t, bt, src, tgt, c)
				for _, i := range bt.Index {
					seen[i]++
				}
				want = append(want, snap(bt))
			}
			for _, i := range b.Skipped() {
				seen[i]++
			}
			for i, n := range seen {
				if n != 1 {
					t.Fatalf("example %d seen %d times in an epoch", i, n)
				}
			}
		}
		at := int(k) % len(want)
		r, _ := NewPairBatcher(src, tgt, c)
		for range at {
			r.Next()
		}
		s := r.State()
		r2, _ := NewPairBatcher(src, tgt, c)
		if err := r2.SetState(s); err != nil {
			t.Fatal(err)
		}
		for j := at; j < len(want); j++ {
			if snap(r2.Next()) != want[j] {
				t.Fatalf("resumed at %d: batch %d differs", at, j)
			}
		}
	})
}
