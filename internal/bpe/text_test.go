package bpe

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// chainCodes builds codes whose vocabulary holds each word as one
// symbol, whatever it spells: its characters are base characters and
// merges join them left to right. Characters that cannot be symbols split
// a word, and words are cut at 32 characters to keep the codes small.
func chainCodes(tb testing.TB, words ...string) *Codes {
	tb.Helper()
	var chars []rune
	var merges [][2]string
	seen := map[string]bool{}
	for _, w := range words {
		for _, part := range strings.FieldsFunc(strings.ToValidUTF8(w, " "), func(r rune) bool { return !isBaseChar(r) }) {
			rs := []rune(part)
			for _, r := range rs[:min(len(rs), 32)] {
				if !seen[string(r)] {
					seen[string(r)] = true
					chars = append(chars, r)
				}
			}
			sym := string(rs[0])
			for _, r := range rs[1:min(len(rs), 32)] {
				if m := sym + " " + string(r); !seen[m] {
					seen[m] = true
					merges = append(merges, [2]string{sym, string(r)})
				}
				sym += string(r)
			}
		}
	}
	c, err := newCodes(chars, merges)
	if err != nil {
		tb.Fatalf("chainCodes(%q): %v", words, err)
	}
	return c
}

// checkText requires s to come back through the text form of its tokens
// exactly, and the text form to be valid UTF-8 tokens separated by single
// spaces, none of them holding whitespace or characters that do not print.
func checkText(t *testing.T, c *Codes, s string) {
	t.Helper()
	ids := c.Encode(s)
	text := checkIDs(t, c, ids)
	if got := c.Decode(ids); got != s {
		t.Fatalf("Decode(ParseTokens(%q)) = %q, want %q", text, got, s)
	}
}

// checkIDs requires ids, any ids in [0, Size()), to come back through
// their text form, and returns it.
func checkIDs(t *testing.T, c *Codes, ids []int32) string {
	t.Helper()
	text := c.FormatTokens(ids)
	if !utf8.ValidString(text) || strings.Contains(text, "  ") || strings.HasPrefix(text, " ") || strings.HasSuffix(text, " ") ||
		strings.ContainsFunc(text, func(r rune) bool { return r != ' ' && hidden(r) }) {
		t.Fatalf("FormatTokens(%v) = %q: not printable tokens separated by single spaces", ids, text)
	}
	back, err := c.ParseTokens(text)
	if err != nil || !slices.Equal(back, ids) {
		t.Fatalf("ParseTokens(FormatTokens(%v) = %q) = %v, %v", ids, text, back, err)
	}
	return text
}

// checkVocab requires every id to come back through its token.
func checkVocab(t *testing.T, c *Codes) {
	t.Helper()
	seen := map[string]int32{}
	for id := int32(0); int(id) < c.Size(); id++ {
		tok := c.Token(id)
		if prev, dup := seen[tok]; dup {
			t.Fatalf("ids %d and %d are both %q", prev, id, tok)
		}
		seen[tok] = id
		if got, ok := c.ID(tok); !ok || got != id {
			t.Fatalf("ID(Token(%d) = %q) = %d, %v", id, tok, got, ok)
		}
	}
}

// Strings that look like what the text form uses: byte and reserved
// tokens, the marker, escapes, and the whitespace a token must not hold.
var textProbes = []string{
	"zA", "z<0x41>", "<0x41>", "<0x41><0x42>", "<0xfg>", "<s> </s> <pad> <unk>", "a<b", "<", "<<",
	`\`, `\\`, `\<`, `a\b`, `\u00A0`, `\U000E0001`, `\u0041`, `\x41`, `\n`,
	"▁", "a▁b", " ▁ ", "▁▁", "\u00a0", "a\u00a0b", "\u3000", "x\u2028y", "\u200d", "\U000E0001", "\ufeff",
	"\x00", "\t", "\xff", "\xe2\x96", "", " ", "  a  ",
}

// The case: with "<0x41>" learned as a symbol, "zA" and "z<0x41>"
// gave the same tokens, and both decoded to "z<0x41>".
func TestTokenTextByteLookalike(t *testing.T) {
	c, err := Parse([]byte("clinic-bpe/1\nchars 7\n▁\n<\n0\nx\n4\n1\n>\nmerges 5\n< 0\n<0 x\n<0x 4\n<0x4 1\n<0x41 >\n"))
	if err != nil {
		t.Fatal(err)
	}
	for s, want := range map[string]string{"zA": `▁ <0x7A> <0x41>`, "z<0x41>": `▁ <0x7A> \<0x41>`} {
		ids := c.Encode(s)
		if got := c.FormatTokens(ids); got != want {
			t.Errorf("tokens of %q = %q, want %q", s, got, want)
		}
		back, err := c.ParseTokens(want)
		if got := c.Decode(back); err != nil || got != s {
			t.Errorf("decode %q = %q, %v, want %q", want, got, err, s)
		}
	}
}

// Each character the text form gives a meaning to, inside a symbol.
func TestTokenEscapes(t *testing.T) {
	cases := []struct{ sym, tok string }{
		{`\`, `\\`},
		{`a\b`, `a\\b`},
		{`\\`, `\\\\`},
		{`\<`, `\\<`},
		{`\u00A0`, `\\u00A0`},
		{"<", `\<`},
		{"<0x41>", `\<0x41>`},
		{"<s>", `\<s>`},
		{"</s>", `\</s>`},
		{"<pad>", `\<pad>`},
		{"a<b>", "a<b>"},
		{">", ">"},
		{"▁", "▁"},
		{"▁a", "▁a"},
		{"a▁", "a▁"},
		{"\u00a0", `\u00A0`},
		{"a\u3000", `a\u3000`},
		{"\u2028", `\u2028`},
		{"\u200d", `\u200D`},
		{"\U000E0001", `\U000E0001`},
		{"\U000F0000x", `\U000F0000x`},
		{"é", "é"},
	}
	var syms []string
	for _, tc := range cases {
		syms = append(syms, tc.sym)
	}
	c := chainCodes(t, syms...)
	for _, tc := range cases {
		id, ok := c.ids[tc.sym]
		if !ok {
			t.Fatalf("symbol %q missing", tc.sym)
		}
		if got := c.Token(id); got != tc.tok {
			t.Errorf("Token of symbol %q = %q, want %q", tc.sym, got, tc.tok)
		}
		if got, ok := c.ID(tc.tok); !ok || got != id {
			t.Errorf("ID(%q) = %d, %v, want %d", tc.tok, got, ok, id)
		}
	}
	for tok, want := range map[string]int32{"<0x41>": ByteID('A'), "<0x00>": ByteID(0), "<0xFF>": ByteID(0xff), "<s>": BOSID, "</s>": EOSID, "<pad>": PadID} {
		if got, ok := c.ID(tok); !ok || got != want {
			t.Errorf("ID(%q) = %d, %v, want %d", tok, got, ok, want)
		}
	}
	checkVocab(t, c)
	for _, s := range append(textProbes, syms...) {
		checkText(t, c, s)
	}
}

// ID also reads what needs no escape written as itself and lower-case
// hex: text written before the escapes still decodes.
func TestTokenLenientForms(t *testing.T) {
	c := chainCodes(t, "\u00a0", "a\u3000", "\u200d")
	for tok, sym := range map[string]string{"\u00a0": "\u00a0", `\u00a0`: "\u00a0", "a\u3000": "a\u3000", `a\u3000`: "a\u3000", "\u200d": "\u200d", `\U0000200d`: "\u200d"} {
		if got, ok := c.ID(tok); !ok || got != c.ids[sym] {
			t.Errorf("ID(%q) = %d, %v, want %d", tok, got, ok, c.ids[sym])
		}
	}
}

// A token that is none gets a one-line error naming it.
func TestParseTokensErrors(t *testing.T) {
	c := chainCodes(t, `a\b`, "<b>", "ab")
	for line, want := range map[string]string{
		`ab a\q`:       `token "a\\q": a backslash must begin`,
		`a\`:           `token "a\\": a backslash`,
		`\u12`:         `token "\\u12": a backslash`,
		`\uZZZZ`:       `token "\\uZZZZ": a backslash`,
		`\uD800`:       `token "\\uD800": a backslash`,
		`\U00110000`:   `token "\\U00110000": a backslash`,
		`\u+041`:       `token "\\u+041": a backslash`,
		"<b>":          `unknown token "<b>" (a subword that begins with < is written \<)`,
		"<0x4a>":       `unknown token "<0x4a>"`,
		"<0x4G>":       `unknown token "<0x4G>"`,
		"ab nosuch":    `unknown token "nosuch"`,
		`a\\b\<`:       `unknown token "a\\\\b\\<"`,
		"ab\tab":       `unknown token "ab\tab"`,
		`\u0041\u0062`: `unknown token "\\u0041\\u0062"`,
	} {
		ids, err := c.ParseTokens(line)
		if err == nil || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("ParseTokens(%q) = %v, %v, want an error starting %q", line, ids, err, want)
		}
	}
	if ids, err := c.ParseTokens(`  \<b>  a\\b ab `); err != nil || !slices.Equal(ids, []int32{c.ids["<b>"], c.ids[`a\b`], c.ids["ab"]}) {
		t.Errorf("ParseTokens = %v, %v", ids, err)
	}
}

// Text comes back through the text form of its tokens under codes learned
// from, and codes built to spell, whatever the fuzzer writes; so do ids,
// any ids, and every token of the vocabulary.
func FuzzTokenText(f *testing.F) {
	f.Add("z<0x41> z<0x41>\n<0x41> a<0x41>", "zA z<0x41>")
	f.Add(`a\b \\ \<s> \u00A0 <s> </s> <pad>`, `\u00A0 a\b`)
	f.Add("no\u00a0break\u3000ideo\u2028line ▁▁ a▁b \u200d\U000E0001", "▁ \u00a0")
	f.Fuzz(func(t *testing.T, corpus, probe string) {
		learned, err := Learn(strings.Split(corpus, "\n"), 200, Options{MinFrequency: 1, MinCharFrequency: 1})
		if err != nil {
			t.Fatal(err)
		}
		built := chainCodes(t, strings.Split(corpus, " ")...)
		text, _ := built.MarshalText()
		if again, err := Parse(text); err != nil || again.FormatTokens(allIDs(again)) != built.FormatTokens(allIDs(built)) {
			t.Fatalf("codes file %q reads back differently: %v", text, err)
		}
		for _, c := range []*Codes{learned, built} {
			checkVocab(t, c)
			for _, s := range append(textProbes, corpus, probe) {
				checkText(t, c, s)
			}
			for _, s := range strings.Split(corpus, "\n") {
				checkText(t, c, s)
			}
			ids := make([]int32, 0, len(probe))
			for i := 0; i < len(probe); i++ {
				ids = append(ids, int32(probe[i])*7919%int32(c.Size()))
			}
			checkIDs(t, c, ids)
		}
	})
}

func allIDs(c *Codes) []int32 {
	ids := make([]int32, c.Size())
	for i := range ids {
		ids[i] = int32(i)
	}
	return ids
}
