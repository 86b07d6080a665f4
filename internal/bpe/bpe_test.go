package bpe

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

// excerpt returns the English and Spanish sides of the test excerpt, one
// sentence a line, English first.
func excerpt(tb testing.TB) []string {
	tb.Helper()
	f, err := os.Open("testdata/bible-en-es-2000.tsv.gz")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		tb.Fatal(err)
	}
	var en, es []string
	sc := bufio.NewScanner(z)
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		if len(cols) != 3 {
			tb.Fatalf("excerpt line %q has %d columns", sc.Text(), len(cols))
		}
		en, es = append(en, cols[1]), append(es, cols[2])
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return append(en, es...)
}

var (
	sharedOnce  sync.Once
	sharedCodes *Codes
	sharedErr   error
)

// codes returns codes learned on the excerpt, learned once per test
// binary because several tests and the fuzz targets need them.
func codes(tb testing.TB) *Codes {
	tb.Helper()
	sharedOnce.Do(func() { sharedCodes, sharedErr = Learn(excerpt(tb), 2000, DefaultOptions()) })
	if sharedErr != nil {
		tb.Fatal(sharedErr)
	}
	return sharedCodes
}

func mergeStrings(ms [][2]string) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m[0]+" "+m[1])
	}
	return out
}

// The worked example of Sennrich et al. (2016), with their end-of-word
// symbol </w>: the first merges are the paper's (es, est, est</w>, lo,
// low), and our tie rule (smallest pair of symbol strings) fixes the rest,
// which the paper's Python leaves to dict order.
func TestPaperExample(t *testing.T) {
	var words [][]string
	var counts []int64
	for w, n := range map[string]int64{"low": 5, "lower": 2, "newest": 6, "widest": 3} {
		words = append(words, append(strings.Split(w, ""), "</w>"))
		counts = append(counts, n)
	}
	got := mergeStrings(learnMerges(words, counts, 100, 2))
	want := []string{
		"e s", "es t", "est </w>", "l o", "lo w", // the paper's
		"e w", "ew est</w>", "n ewest</w>", "low </w>", // count 6 and 5
		"d est</w>", "i dest</w>", "w idest</w>", // count 3
		"e r", "er </w>", "low er</w>", // count 2
	}
	if !slices.Equal(got, want) {
		t.Errorf("merges\n got %q\nwant %q", got, want)
	}
	if got := mergeStrings(learnMerges(words, counts, 4, 2)); !slices.Equal(got, want[:4]) {
		t.Errorf("4 merges: %q", got)
	}
	if got := mergeStrings(learnMerges(words, counts, 100, 3)); !slices.Equal(got, want[:12]) {
		t.Errorf("min frequency 3: %q, want the merges of count ≥ 3", got)
	}
}

// The same example through Learn, with the leading-space marker instead
// of </w>: the space joins a word last (▁ sorts after ASCII), so "▁ low"
// follows "lo w" where the paper has "est </w>".
func TestPaperExampleMarker(t *testing.T) {
	var lines []string
	for w, n := range map[string]int{"low": 5, "lower": 2, "newest": 6, "widest": 3} {
		for range n {
			lines = append(lines, w)
		}
	}
	c, err := Learn(lines, 100, Options{MinFrequency: 2, MinCharFrequency: 1})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"e s", "es t", "l o", "lo w", "▁ low",
		"e w", "ew est", "n ewest", "▁ newest",
		"d est", "i dest", "w idest", "▁ widest",
		"e r", "▁low er",
	}
	if got := mergeStrings(c.Merges()); !slices.Equal(got, want) {
		t.Errorf("merges\n got %q\nwant %q", got, want)
	}
	var toks []string
	for _, id := range c.Encode("lowest newer") {
		toks = append(toks, c.Token(id))
	}
	if want := []string{"▁low", "est", "▁", "n", "ew", "er"}; !slices.Equal(toks, want) {
		t.Errorf("Encode(lowest newer) = %q, want %q", toks, want)
	}
}

// naiveMerges is learnMerges the slow, obvious way: recount every pair in
// every word before each merge.
func naiveMerges(words [][]string, counts []int64, n int, minFreq int64) [][2]string {
	ws := make([][]string, len(words))
	for i := range words {
		ws[i] = slices.Clone(words[i])
	}
	var out [][2]string
	done := map[[2]string]bool{}
	for len(out) < n {
		stats := map[[2]string]int64{}
		for i, w := range ws {
			for j := 0; j+1 < len(w); j++ {
				stats[[2]string{w[j], w[j+1]}] += counts[i]
			}
		}
		var best [2]string
		var bestN int64
		for p, c := range stats {
			if c > bestN || c == bestN && (p[0] < best[0] || p[0] == best[0] && p[1] < best[1]) {
				best, bestN = p, c
			}
		}
		if bestN == 0 || bestN < minFreq {
			break
		}
		for i, w := range ws {
			var nw []string
			for j := 0; j < len(w); j++ {
				if j+1 < len(w) && w[j] == best[0] && w[j+1] == best[1] {
					nw = append(nw, best[0]+best[1])
					j++
				} else {
					nw = append(nw, w[j])
				}
			}
			ws[i] = nw
		}
		if !done[best] {
			done[best] = true
			out = append(out, best)
		}
	}
	return out
}

// The incremental bookkeeping gives exactly the merges of a full recount,
// on small alphabets where repeats like "aaaa" and ties abound.
func TestIncrementalMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for trial := range 300 {
		alpha := []string{"a", "b", "c", "ab", "d"}[:2+r.IntN(4)]
		var words [][]string
		var counts []int64
		for range 1 + r.IntN(12) {
			var w []string
			for range 1 + r.IntN(9) {
				w = append(w, alpha[r.IntN(len(alpha))])
			}
			words = append(words, w)
			counts = append(counts, 1+r.Int64N(5))
		}
		minF := int64(1 + r.IntN(2))
		want := naiveMerges(words, counts, 40, minF)
		got := learnMerges(words, counts, 40, minF)
		if !slices.Equal(got, want) {
			t.Fatalf("trial %d: words %q counts %v min %d:\n got %q\nwant %q", trial, words, counts, minF, got, want)
		}
	}
}

func TestLearnMatchesNaiveOnText(t *testing.T) {
	lines := excerpt(t)[:300]
	c, err := Learn(lines, 300, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	// Rebuild Learn's segments to run the naive learner on them.
	base := map[rune]bool{}
	for _, r := range c.Chars() {
		base[r] = true
	}
	segs := map[string]int64{}
	for _, l := range lines {
		forEachPiece(l, func(p string) {
			var seg []rune
			flush := func() {
				if len(seg) > 1 {
					segs[string(seg)]++
				}
				seg = seg[:0]
			}
			forEachUnit(p, func(r rune, _ string) {
				if r >= 0 && base[r] {
					seg = append(seg, r)
				} else {
					flush()
				}
			})
			flush()
		})
	}
	var words [][]string
	var counts []int64
	for s, n := range segs {
		words = append(words, strings.Split(s, ""))
		counts = append(counts, n)
	}
	if want := naiveMerges(words, counts, 300, 2); !slices.Equal(c.Merges(), want) {
		t.Errorf("Learn's merges differ from a full recount's:\n got %q\nwant %q", mergeStrings(c.Merges())[:20], mergeStrings(want)[:20])
	}
}

func roundTripCases() []string {
	return []string{
		"", " ", "  ", "\t", "a", " a", "a ", "  two  leading and trailing  ",
		"In the beginning, God created the heavens and the earth.",
		"EN el principio crió Dios los cielos y la tierra.",
		"tab\tseparated\tfields\t", "\t\tlead tab", "line\nbreak\r\n", "crlf\r",
		"日本語のテキスト", "Привет, мир", "مرحبا بالعالم", "שלום", "ᚠᚢᚦᚨᚱᚲ",
		"emoji 😀👍🏽 👨‍👩‍👧 flags 🇪🇸", "combining: e\u0301 n\u0303 a\u0308\u0301", "\u0301 leading combining mark",
		"literal ▁ marker ▁▁ and ▁word▁", "▁", " ▁ ", "no\u00a0break\u2003em space\u3000ideographic",
		"zero\u200bwidth\u200djoiner\ufeffbom", "nul\x00byte \x7f del", "replacement \ufffd char",
		"invalid \xff\xfe utf-8 \xc3", "\x80", "truncated \xe2\x96", "\xed\xa0\x80 surrogate",
		strings.Repeat("a", 1000), strings.Repeat("ab ", 300), strings.Repeat("é", 600),
	}
}

// Decode(Encode(s)) == s byte for byte, whatever s is.
func TestRoundTrip(t *testing.T) {
	c := codes(t)
	check := func(s string) {
		ids := c.Encode(s)
		for _, id := range ids {
			if id < FirstByteID || int(id) >= c.Size() {
				t.Fatalf("Encode(%q) gave id %d outside [%d, %d)", s, id, FirstByteID, c.Size())
			}
		}
		if got := c.Decode(ids); got != s {
			t.Errorf("Decode(Encode(%q)) = %q", s, got)
		}
	}
	for _, s := range roundTripCases() {
		check(s)
	}
	for _, s := range excerpt(t)[:200] {
		check(s)
	}
	r := rand.New(rand.NewPCG(3, 4))
	pool := []rune("ab zé\tñ日😀\u0301▁\u00a0\n")
	for range 2000 {
		var b []byte
		for range r.IntN(12) {
			if r.IntN(6) == 0 {
				b = append(b, byte(r.IntN(256)))
			} else {
				b = utf8.AppendRune(b, pool[r.IntN(len(pool))])
			}
		}
		check(string(b))
	}
	if ids := c.Encode(""); len(ids) != 0 {
		t.Errorf("Encode(\"\") = %v, want nothing", ids)
	}
}

// Characters never seen fall back to their UTF-8 bytes; so do the literal
// marker and invalid bytes.
func TestByteFallback(t *testing.T) {
	c := codes(t)
	ids := c.Encode("日本")
	var bytesGot []byte
	for _, id := range ids[1:] {
		if id < FirstByteID || id >= FirstSymbolID {
			t.Fatalf("Encode(日本) = %v: %s is not a byte token", ids, c.Token(id))
		}
		bytesGot = append(bytesGot, byte(id-FirstByteID))
	}
	if c.Token(ids[0]) != "▁" || string(bytesGot) != "日本" {
		t.Errorf("Encode(日本) = %v, want ▁ then the 6 bytes of 日本", ids)
	}
	if ids := c.Encode("a▁b"); len(ids) != 5 || c.Token(ids[1]) != "<0xE2>" {
		var toks []string
		for _, id := range ids {
			toks = append(toks, c.Token(id))
		}
		t.Errorf("Encode(a▁b) = %q, want ▁a, the three bytes of ▁, b", toks)
	}
}

func TestVocabulary(t *testing.T) {
	c := codes(t)
	if c.NumMerges() != 2000 {
		t.Errorf("%d merges, want 2000", c.NumMerges())
	}
	distinct := map[string]bool{}
	for _, m := range c.Merges() {
		distinct[m[0]+m[1]] = true
	}
	if want := int(FirstSymbolID) + len(c.Chars()) + len(distinct); c.Size() != want {
		t.Errorf("Size %d, want %d", c.Size(), want)
	}
	for id, want := range map[int32]string{PadID: "<pad>", BOSID: "<s>", EOSID: "</s>", FirstByteID: "<0x00>", FirstSymbolID - 1: "<0xFF>", ByteID('A'): "<0x41>", FirstSymbolID: "▁"} {
		if got := c.Token(id); got != want {
			t.Errorf("Token(%d) = %q, want %q", id, got, want)
		}
	}
	if c.Token(-1) != "" || c.Token(int32(c.Size())) != "" {
		t.Error("Token of an id out of range is not empty")
	}
	for id := int32(0); int(id) < c.Size(); id++ {
		if got, ok := c.ID(c.Token(id)); !ok || got != id {
			t.Fatalf("ID(Token(%d) = %q) = %d, %v", id, c.Token(id), got, ok)
		}
	}
	if _, ok := c.ID("<0xfg>"); ok {
		t.Error(`ID("<0xfg>") found`)
	}
	// Reserved and unknown ids decode to nothing.
	ids := append([]int32{BOSID, PadID}, c.Encode("hi")...)
	if got := c.Decode(append(ids, EOSID, -5, 1<<30)); got != "hi" {
		t.Errorf("Decode with reserved ids = %q", got)
	}
}

// The same text in any line order gives byte-identical codes.
func TestDeterministic(t *testing.T) {
	lines := excerpt(t)[:1500]
	learn := func(ls []string) []byte {
		c, err := Learn(ls, 1500, DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		b, _ := c.MarshalText()
		return b
	}
	a := learn(lines)
	shuffled := slices.Clone(lines)
	rand.New(rand.NewPCG(5, 6)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	if b := learn(shuffled); !bytes.Equal(a, b) {
		t.Error("shuffling the lines changed the codes")
	}
	if b := learn(lines); !bytes.Equal(a, b) {
		t.Error("learning twice gave different codes")
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	c := codes(t)
	text, err := c.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(text, []byte(FormatHeader+"\nchars ")) {
		t.Errorf("codes start %q", text[:30])
	}
	var d Codes
	if err := d.UnmarshalText(text); err != nil {
		t.Fatal(err)
	}
	again, _ := d.MarshalText()
	if !bytes.Equal(text, again) {
		t.Error("MarshalText(UnmarshalText(x)) != x")
	}
	if d.Size() != c.Size() {
		t.Errorf("size %d after reload, want %d", d.Size(), c.Size())
	}
	for _, s := range append(roundTripCases(), excerpt(t)[:100]...) {
		if !slices.Equal(c.Encode(s), d.Encode(s)) {
			t.Errorf("reloaded codes encode %q differently", s)
		}
	}
	// Whitespace and invisible characters are written as U+XXXX.
	e, err := newCodes([]rune{'a', '\u00a0', '\u200b', 'U'}, [][2]string{{"U", "a"}})
	if err != nil {
		t.Fatal(err)
	}
	text, _ = e.MarshalText()
	if want := FormatHeader + "\nchars 4\na\nU+00A0\nU+200B\nU\nmerges 1\nU a\n"; string(text) != want {
		t.Errorf("MarshalText = %q, want %q", text, want)
	}
}

func TestParseErrors(t *testing.T) {
	h := FormatHeader + "\n"
	for _, tc := range []struct{ text, want string }{
		{"", "empty"},
		{"clinic-bpe/2\nchars 0\nmerges 0\n", "line 1: header"},
		{h + "chars 0\nmerges 0", "newline"},
		{h + "chars 0\nmerges 0\n\xff\n", "UTF-8"},
		{h, "end after line 1"},
		{h + "chars x\n", `line 2: "chars x"`},
		{h + "chars -1\n", "line 2"},
		{h + "chars 01\nmerges 0\n", "line 2"},
		{h + "chars 99999999999999999999\n", "line 2"},
		{h + "chars 2000000\n", "more than the limit"},
		{h + "chars 3\na\nb\n", "3 chars announced but only 2 lines follow"},
		{h + "chars 1\nab\nmerges 0\n", "line 3: character line \"ab\" is not one character"},
		{h + "chars 1\n\nmerges 0\n", "line 3"},
		{h + "chars 1\n\t\nmerges 0\n", "line 3: character U+0009"},
		{h + "chars 1\nU+0020\nmerges 0\n", "line 3: character U+0020"},
		{h + "chars 1\nU+D800\nmerges 0\n", "line 3"},
		{h + "chars 1\nU+110000\nmerges 0\n", "line 3"},
		{h + "chars 1\nU+00e9\nmerges 0\n", "upper-case"},
		{h + "chars 2\na\na\nmerges 0\n", "line 4: character 'a' listed twice"},
		{h + "chars 1\na\n", "end after line 3"},
		{h + "chars 1\na\nmerges 5000000\n", "more than the limit"},
		{h + "chars 1\na\nmerges 2\na a\n", "2 merges announced but only 1 lines follow"},
		{h + "chars 2\na\nb\nmerges 1\nab\n", "line 6: merge \"ab\" is not two symbols"},
		{h + "chars 2\na\nb\nmerges 1\na  b\n", "line 6"},
		{h + "chars 2\na\nb\nmerges 1\na b c\n", "line 6"},
		{h + "chars 2\na\nb\nmerges 1\n a\n", "line 6"},
		{h + "chars 2\na\nb\nmerges 2\na b\na c\n", `line 7: merge "a c" uses "c" before`},
		{h + "chars 2\na\nb\nmerges 2\nab a\na b\n", `line 6: merge "ab a" uses "ab" before`},
		{h + "chars 2\na\nb\nmerges 3\na b\nab b\na b\n", "line 8: merge \"a b\" repeats merge 1"},
		{h + "chars 2\na\nb\nmerges 1\na b\nextra\n", "line 7: unexpected \"extra\""},
		{h + "chars 2\na\nb\nmerges 1\na b\r\n", "line 6"},
	} {
		c, err := Parse([]byte(tc.text))
		if err == nil {
			t.Errorf("Parse(%q) succeeded (size %d)", tc.text, c.Size())
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "bpe: ") {
			t.Errorf("Parse(%q): error %q, want one line containing %q", tc.text, msg, tc.want)
		}
	}
	if _, err := Parse([]byte(h + "chars 2\na\nb\nmerges 2\na b\nab ab\n")); err != nil {
		t.Errorf("valid codes: %v", err)
	}
}

func TestLearnErrors(t *testing.T) {
	if _, err := Learn([]string{"a"}, -1, DefaultOptions()); err == nil {
		t.Error("Learn with -1 merges succeeded")
	}
	c, err := Learn(nil, 10, DefaultOptions())
	if err != nil || c.NumMerges() != 0 || c.Size() != int(FirstSymbolID) {
		t.Errorf("Learn on no text: %v, %d merges, size %d", err, c.NumMerges(), c.Size())
	}
	if got := c.Decode(c.Encode("still works ☺")); got != "still works ☺" {
		t.Errorf("empty codes round trip: %q", got)
	}
}

// Benchmark learning on the excerpt (4,000 sentences, 540 kB); merges/s
// is the number to watch.
func BenchmarkLearn(b *testing.B) {
	lines := excerpt(b)
	var c *Codes
	for b.Loop() {
		var err error
		if c, err = Learn(lines, 10000, DefaultOptions()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(c.NumMerges())*float64(b.N)/b.Elapsed().Seconds(), "merges/s")
	b.ReportMetric(float64(c.NumMerges()), "merges")
}

func BenchmarkEncode(b *testing.B) {
	c := codes(b)
	lines := excerpt(b)
	var n int
	for _, l := range lines {
		n += len(l)
	}
	b.SetBytes(int64(n))
	for b.Loop() {
		for _, l := range lines {
			c.Encode(l)
		}
	}
}

func ExampleCodes_Encode() {
	var lines []string
	for range 3 {
		lines = append(lines, "the cat sat on the mat", "the hat")
	}
	c, _ := Learn(lines, 8, DefaultOptions())
	ids := c.Encode("the cat  ate")
	for _, id := range ids {
		fmt.Printf("%s|", c.Token(id))
	}
	fmt.Printf("\n%q\n", c.Decode(ids))
	// Output:
	// ▁the|▁|cat|▁|▁|at|e|
	// "the cat  ate"
}

// Generated ids may be byte tokens that form no character: DecodeText
// gives UTF-8 text, replacing each invalid run, and leaves valid text as
// Decode gives it.
func TestDecodeText(t *testing.T) {
	c, err := Learn([]string{"hola mundo", "hello world"}, 10, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	ids := append(c.Encode("hola"), ByteID(0xe2), ByteID(0x82), ByteID(0xff))
	ids = append(ids, c.Encode("mundo")...)
	got := c.DecodeText(ids)
	if !utf8.ValidString(got) || got != "hola\uFFFD mundo" {
		t.Errorf("DecodeText = %q", got)
	}
	if s := c.DecodeText(c.Encode("hello € world")); s != "hello € world" {
		t.Errorf("valid text changed: %q", s)
	}
}
