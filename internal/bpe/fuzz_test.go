package bpe

import (
	"bytes"
	"strings"
	"testing"
)

// Parse never panics, rejects on one line, and what it accepts writes
// back to text that parses to the same codes, under which text comes back
// through ids and through the text form of tokens.
func FuzzLoad(f *testing.F) {
	h := FormatHeader + "\n"
	f.Add([]byte(h + "chars 2\na\nb\nmerges 2\na b\nab ab\n"))
	f.Add([]byte(h + "chars 3\n▁\nU+00A0\nt\nmerges 1\n▁ t\n"))
	f.Add([]byte(h + "chars 1\na\nmerges 2\na a\naa aa\n"))
	f.Add([]byte(h + "chars 8\n<\n0\nx\n4\n1\n>\n\\\nU+00A0\nmerges 6\n< 0\n<0 x\n<0x 4\n<0x4 1\n<0x41 >\n\\ \u00a0\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			if msg := err.Error(); strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "bpe: ") {
				t.Fatalf("error %q is not one line starting with bpe:", msg)
			}
			return
		}
		text, err := c.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		d, err := Parse(text)
		if err != nil {
			t.Fatalf("Parse(MarshalText(c)): %v\n%q", err, text)
		}
		again, _ := d.MarshalText()
		if !bytes.Equal(text, again) || d.Size() != c.Size() {
			t.Fatalf("reparsed codes differ: %q vs %q", text, again)
		}
		checkVocab(t, c)
		for _, s := range append([]string{string(data), "a ab aab ▁ \t x"}, textProbes...) {
			ids := c.Encode(s)
			for _, id := range ids {
				if id < FirstByteID || int(id) >= c.Size() {
					t.Fatalf("Encode(%q) gave id %d outside [%d, %d)", s, id, FirstByteID, c.Size())
				}
			}
			checkText(t, c, s)
		}
	})
}

// Decode(Encode(s)) == s for any string, with codes learned on real text.
func FuzzRoundTrip(f *testing.F) {
	for _, s := range roundTripCases() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := codes(t)
		ids := c.Encode(s)
		for _, id := range ids {
			if id < FirstByteID || int(id) >= c.Size() {
				t.Fatalf("Encode(%q) gave id %d outside [%d, %d)", s, id, FirstByteID, c.Size())
			}
		}
		if got := c.Decode(ids); got != s {
			t.Fatalf("Decode(Encode(%q)) = %q", s, got)
		}
	})
}
