package data

import (
	"reflect"
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
