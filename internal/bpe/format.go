package bpe

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// FormatHeader is the first line of a codes file.
const FormatHeader = "clinic-bpe/1"

// MarshalText writes the codes in this UTF-8 text format, one item per
// line, each line ending in "\n":
//
//	clinic-bpe/1
//	chars N
//	<N lines: one base character each, in id order>
//	merges M
//	<M lines: "LEFT RIGHT", the two symbols of a merge, in rank order>
//
// A base character is written as itself, or as U+XXXX (4 to 6 upper-case
// hex digits) when it is whitespace or not printable. Symbols contain
// neither spaces nor line breaks, so one space separates a merge's two
// halves. Marker (▁) stands for the space in front of a word. Ids follow
// from the order (see the package comment), so the text is the whole
// vocabulary; it fits in a checkpoint's string metadata as well as a file.
func (c *Codes) MarshalText() ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\nchars %d\n", FormatHeader, len(c.chars))
	for _, r := range c.chars {
		if hidden(r) {
			fmt.Fprintf(&b, "U+%04X\n", r)
		} else {
			b.WriteString(string(r) + "\n")
		}
	}
	fmt.Fprintf(&b, "merges %d\n", len(c.merges))
	for _, m := range c.merges {
		b.WriteString(m[0] + " " + m[1] + "\n")
	}
	return b.Bytes(), nil
}

// UnmarshalText replaces c with the codes in text (see Parse).
func (c *Codes) UnmarshalText(text []byte) error {
	p, err := Parse(text)
	if err != nil {
		return err
	}
	*c = *p
	return nil
}

// Parse reads codes written by MarshalText. It checks everything a
// corrupt or hand-edited file can get wrong and says what, on one line,
// with the line number: the header, the counts against the lines present,
// characters that cannot be symbols or appear twice, merges that are not
// two symbols, name a symbol not yet defined, or repeat a pair.
func Parse(text []byte) (*Codes, error) {
	if !utf8.Valid(text) {
		return nil, fmt.Errorf("bpe: codes are not valid UTF-8")
	}
	s := string(text)
	if s != "" && !strings.HasSuffix(s, "\n") {
		return nil, fmt.Errorf("bpe: codes do not end with a newline (truncated?)")
	}
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	ln := 0
	next := func() (string, bool) {
		if ln >= len(lines) || s == "" {
			return "", false
		}
		ln++
		return lines[ln-1], true
	}
	errf := func(format string, a ...any) error {
		return fmt.Errorf("bpe: codes line %d: %s", ln, fmt.Sprintf(format, a...))
	}
	if h, ok := next(); !ok || h != FormatHeader {
		if !ok {
			return nil, fmt.Errorf("bpe: codes are empty, want a %q header", FormatHeader)
		}
		return nil, errf("header %.40q, want %q", h, FormatHeader)
	}
	count := func(name string, limit int) (int, error) {
		l, ok := next()
		if !ok {
			return 0, fmt.Errorf("bpe: codes end after line %d, want %q", ln, name+" N")
		}
		f, ok := strings.CutPrefix(l, name+" ")
		n, err := strconv.Atoi(f)
		if !ok || err != nil || n < 0 || strconv.Itoa(n) != f {
			return 0, errf("%.40q, want %q with N a count", l, name+" N")
		}
		if n > limit {
			return 0, errf("%d %s, more than the limit %d", n, name, limit)
		}
		if rest := len(lines) - ln; n > rest {
			return 0, errf("%d %s announced but only %d lines follow", n, name, rest)
		}
		return n, nil
	}
	nc, err := count("chars", maxChars)
	if err != nil {
		return nil, err
	}
	chars := make([]rune, 0, nc)
	for range nc {
		l, _ := next()
		r, err := parseChar(l)
		if err != nil {
			return nil, errf("%v", err)
		}
		chars = append(chars, r)
	}
	nm, err := count("merges", MaxMerges)
	if err != nil {
		return nil, err
	}
	merges := make([][2]string, 0, nm)
	for range nm {
		l, _ := next()
		a, b, ok := strings.Cut(l, " ")
		if !ok || a == "" || b == "" || strings.Contains(b, " ") {
			return nil, errf("merge %.40q is not two symbols separated by one space", l)
		}
		merges = append(merges, [2]string{a, b})
	}
	if ln < len(lines) {
		ln++
		return nil, errf("unexpected %.40q after the last merge", lines[ln-1])
	}
	c, err := newCodes(chars, merges)
	if ie, ok := err.(itemError); ok {
		ln = 3 + ie.index // header, "chars N", then the characters
		if ie.merge {
			ln += nc + 1 // and "merges M"
		}
		return nil, errf("%s", ie.msg)
	}
	if err != nil {
		return nil, fmt.Errorf("bpe: codes: %v", err)
	}
	return c, nil
}

func parseChar(l string) (rune, error) {
	if hex, ok := strings.CutPrefix(l, "U+"); ok && len(hex) >= 4 && len(hex) <= 6 {
		v, err := strconv.ParseUint(hex, 16, 32)
		if err != nil || strings.ToUpper(hex) != hex {
			return 0, fmt.Errorf("character %.40q is not U+ and 4 to 6 upper-case hex digits", l)
		}
		r := rune(v)
		if !isBaseChar(r) {
			return 0, fmt.Errorf("character %s cannot be a base character (space, control or invalid)", l)
		}
		return r, nil
	}
	r, n := utf8.DecodeRuneInString(l)
	if n == 0 || n != len(l) {
		return 0, fmt.Errorf("character line %.40q is not one character", l)
	}
	if !isBaseChar(r) {
		return 0, fmt.Errorf("character U+%04X cannot be a base character (space, control or invalid)", r)
	}
	return r, nil
}
