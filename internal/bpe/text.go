package bpe

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// hidden reports whether r is written as an escape rather than as itself,
// in a codes file's characters and in the text form of tokens: whitespace
// would be taken for a separator, and what does not print cannot be read.
func hidden(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }

// Token returns the text form of id (see the package comment): "<pad>",
// "<s>", "</s>", "<0xAB>" for a byte, or the symbol with Marker for the
// space, a backslash in front of a leading "<" and of every backslash,
// and \uXXXX (\UXXXXXXXX above U+FFFF) for whitespace and characters that
// do not print. It never contains whitespace and no two ids share it, so
// ID inverts it under any codes. It returns "" for an id outside
// [0, Size()).
func (c *Codes) Token(id int32) string {
	switch {
	case id == PadID:
		return "<pad>"
	case id == BOSID:
		return "<s>"
	case id == EOSID:
		return "</s>"
	case id >= FirstByteID && id < FirstSymbolID:
		return fmt.Sprintf("<0x%02X>", id-FirstByteID)
	case id >= FirstSymbolID && int(id) < c.Size():
		return escapeSymbol(c.tokens[id-FirstSymbolID])
	}
	return ""
}

// escapeSymbol writes symbol s in the text form (see Token).
func escapeSymbol(s string) string {
	if !strings.HasPrefix(s, "<") && strings.IndexFunc(s, func(r rune) bool { return r == '\\' || hidden(r) }) < 0 {
		return s // the common case, spared an allocation
	}
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == '\\', r == '<' && i == 0:
			b.WriteByte('\\')
			b.WriteRune(r)
		case hidden(r) && r > 0xFFFF:
			fmt.Fprintf(&b, `\U%08X`, r)
		case hidden(r):
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// ID returns the id whose text form is tok (see Token). It also takes
// lower-case hex digits in an escape, and whitespace or characters that do
// not print written as themselves (as Token wrote them before it escaped
// them): neither can mean anything else. A token that begins with an
// unescaped "<" is only ever a reserved or byte token.
func (c *Codes) ID(tok string) (int32, bool) {
	id, err := c.parseToken(tok)
	return id, err == nil
}

func (c *Codes) parseToken(tok string) (int32, error) {
	if strings.HasPrefix(tok, "<") {
		switch tok {
		case "<pad>":
			return PadID, nil
		case "<s>":
			return BOSID, nil
		case "</s>":
			return EOSID, nil
		}
		if len(tok) == 6 && strings.HasPrefix(tok, "<0x") && tok[5] == '>' {
			b, err := strconv.ParseUint(tok[3:5], 16, 8)
			if id := ByteID(byte(b)); err == nil && c.Token(id) == tok {
				return id, nil
			}
		}
		return 0, fmt.Errorf(`unknown token %.40q (a subword that begins with < is written \<)`, tok)
	}
	sym, err := unescape(tok)
	if err != nil {
		return 0, fmt.Errorf("token %.40q: %v", tok, err)
	}
	if id, ok := c.ids[sym]; ok {
		return id, nil
	}
	return 0, fmt.Errorf("unknown token %.40q", tok)
}

var errBadEscape = errors.New(`a backslash must begin \\, \< or \uXXXX / \UXXXXXXXX (a character's hex code)`)

// unescape undoes escapeSymbol.
func unescape(tok string) (string, error) {
	if !strings.Contains(tok, `\`) {
		return tok, nil
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(tok, '\\')
		if i < 0 {
			b.WriteString(tok)
			return b.String(), nil
		}
		b.WriteString(tok[:i])
		tok = tok[i+1:]
		n := 0 // hex digits
		switch {
		case strings.HasPrefix(tok, `\`), strings.HasPrefix(tok, "<"):
			b.WriteByte(tok[0])
			tok = tok[1:]
			continue
		case strings.HasPrefix(tok, "u"):
			n = 4
		case strings.HasPrefix(tok, "U"):
			n = 8
		}
		var v uint64
		err := errBadEscape
		if n > 0 && len(tok) >= 1+n {
			v, err = strconv.ParseUint(tok[1:1+n], 16, 32)
		}
		if err != nil || !utf8.ValidRune(rune(v)) {
			return "", errBadEscape
		}
		b.WriteRune(rune(v))
		tok = tok[1+n:]
	}
}

// FormatTokens returns the text form of ids: their tokens separated by
// single spaces, ids outside [0, Size()) left out. ParseTokens inverts it.
func (c *Codes) FormatTokens(ids []int32) string {
	var b strings.Builder
	for _, id := range ids {
		if t := c.Token(id); t != "" {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(t)
		}
	}
	return b.String()
}

// ParseTokens returns the ids of a line of tokens separated by spaces, or
// an error naming the first token that is not one. Only the ASCII space
// separates, any number of them: text written before tokens were escaped
// may hold a no-break space inside a token.
func (c *Codes) ParseTokens(line string) ([]int32, error) {
	var ids []int32
	for _, f := range strings.Split(line, " ") {
		if f == "" {
			continue
		}
		id, err := c.parseToken(f)
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}
