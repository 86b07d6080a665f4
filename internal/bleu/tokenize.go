package bleu

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Tokenizer names, as they appear after "tok:" in a signature.
const (
	Tok13a  = "13a"
	TokNone = "none"
)

// The four substitutions of mteval-v13a's language-dependent part, in the
// order sacreBLEU's TokenizerRegexp applies them. Each one is a separate
// left-to-right, non-overlapping pass over the output of the previous one;
// merging them into a single pass would change results (see
// TestTokenize13aNotIdempotent), so they stay as four regexps.
var rules13a = []struct {
	re   *regexp.Regexp
	repl string
}{
	// The class is written as byte ranges because the original
	// ([\{-\~\[-\` -\&\(-\+\:-\@\/]) has a backquote, which a Go raw string
	// cannot hold: {|}~ [\]^_` space!"#$%& ()*+ :;<=>?@ and /.
	{regexp.MustCompile(`([\x7B-\x7E\x5B-\x60\x20-\x26\x28-\x2B\x3A-\x40/])`), " ${1} "},
	// Period and comma are split off unless a digit precedes ...
	{regexp.MustCompile(`([^0-9])([\.,])`), "${1} ${2} "},
	// ... or follows, so 3.14 and 1,000 stay whole.
	{regexp.MustCompile(`([\.,])([^0-9])`), " ${1} ${2}"},
	// A dash after a digit is split off (ranges like 1990-2000).
	{regexp.MustCompile(`([0-9])(-)`), "${1} ${2} "},
}

// Tokenize13a tokenizes a segment as sacreBLEU's default "13a" tokenizer
// does: the mteval-v13a.pl normalization used by WMT. The result is
// single-space separated with no leading or trailing space.
func Tokenize13a(line string) string {
	line = strings.ReplaceAll(line, "<skipped>", "")
	line = strings.ReplaceAll(line, "-\n", "")
	line = strings.ReplaceAll(line, "\n", " ")
	if strings.Contains(line, "&") {
		// Sequential, not simultaneous: "&amp;lt;" becomes "<", as in
		// sacreBLEU and mteval.
		line = strings.ReplaceAll(line, "&quot;", `"`)
		line = strings.ReplaceAll(line, "&amp;", "&")
		line = strings.ReplaceAll(line, "&lt;", "<")
		line = strings.ReplaceAll(line, "&gt;", ">")
	}
	// The padding lets the rules that need a neighbouring character match
	// at the ends of the line.
	line = " " + line + " "
	for _, r := range rules13a {
		line = r.re.ReplaceAllString(line, r.repl)
	}
	return strings.Join(fields(line), " ")
}

// TokenizeNone is sacreBLEU's "none" tokenizer: the segment unchanged.
// N-grams are still taken over whitespace-separated words.
func TokenizeNone(line string) string { return line }

// isSpace reports whether Python's str.isspace holds for r. sacreBLEU
// splits words with str.split(), whose whitespace is Go's unicode.IsSpace
// plus the ASCII separators U+001C..U+001F; a file with a stray U+001F
// would otherwise score differently here.
func isSpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1C && r <= 0x1F)
}

// fields splits s as Python's str.split() with no arguments does.
func fields(s string) []string { return strings.FieldsFunc(s, isSpace) }

// rstrip trims trailing whitespace as Python's str.rstrip() does.
func rstrip(s string) string { return strings.TrimRightFunc(s, isSpace) }

// lower lowercases s as Python's str.lower() does, which sacreBLEU uses
// for case-insensitive BLEU. It differs from strings.ToLower in two places
// that matter for real text: U+0130 (Turkish dotted capital I) becomes
// "i" + U+0307, and a capital sigma at the end of a word becomes final
// sigma ς rather than σ.
func lower(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToLower(s)
	}
	rs := []rune(s)
	var b strings.Builder
	b.Grow(len(s))
	for i, r := range rs {
		switch r {
		case 0x130:
			b.WriteString("i\u0307")
		case 0x3A3:
			if finalSigma(rs, i) {
				b.WriteRune(0x3C2)
			} else {
				b.WriteRune(0x3C3)
			}
		default:
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// finalSigma is Unicode's Final_Sigma condition as CPython evaluates it:
// a cased letter before rs[i] and none after it, skipping case-ignorable
// characters in both directions.
func finalSigma(rs []rune, i int) bool {
	j := i - 1
	for j >= 0 && caseIgnorable(rs[j]) {
		j--
	}
	if j < 0 || !cased(rs[j]) {
		return false
	}
	j = i + 1
	for j < len(rs) && caseIgnorable(rs[j]) {
		j++
	}
	return j == len(rs) || !cased(rs[j])
}

// cased is the Unicode property Cased.
func cased(r rune) bool {
	return unicode.In(r, unicode.Lu, unicode.Ll, unicode.Lt, unicode.Other_Lowercase, unicode.Other_Uppercase)
}

// caseIgnorable is the Unicode property Case_Ignorable. Go's unicode
// package has no Word_Break tables, so the MidLetter, MidNumLet and
// Single_Quote characters are listed by hand.
func caseIgnorable(r rune) bool {
	switch r {
	case 0x27, 0x2E, 0x3A, 0xB7, 0x387, 0x55F, 0x5F4, 0x2018, 0x2019, 0x2024,
		0x2027, 0xFE13, 0xFE52, 0xFE55, 0xFF07, 0xFF0E, 0xFF1A:
		return true
	}
	return unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf, unicode.Lm, unicode.Sk)
}
