// Package bpe learns and applies a joint byte-pair-encoding subword
// vocabulary (Sennrich et al. 2016, as in subword-nmt) for translation
// models: one set of merges learned on both languages, so that names and
// cognates shared by source and target split the same way.
//
// # Pre-tokenization
//
// A line is cut at whitespace only, and the cut is reversible:
//
//   - One space is put in front of every non-empty line, so that a word
//     at the start of a line looks the same as one in the middle
//     (sentencepiece's "dummy prefix"). Decode removes it again.
//   - A piece is one space followed by a run of non-space characters (a
//     word), a run of non-space characters not preceded by a space (after a
//     tab, say), or a single whitespace character that no word claimed
//     (the second of two spaces, a tab, a no-break space).
//   - Inside a piece the space is written as the marker ▁ (U+2581), so
//     "the cat" becomes the pieces "▁the" and "▁cat". Merges never cross a
//     piece boundary.
//
// Characters never become vocabulary symbols when they are control
// characters, the literal U+2581 (which would be mistaken for a space),
// or rarer in the training text than Options.MinCharFrequency. They, and
// bytes that are not valid UTF-8, are encoded as their UTF-8 bytes with the
// 256 byte tokens, so no input is out of vocabulary and
// Decode(Encode(s)) == s holds byte for byte for every string s, valid
// UTF-8 or not. No whitespace is normalized.
//
// # Vocabulary
//
// Ids are laid out as PadID, BOSID, EOSID, then the 256 byte tokens
// (ByteID), then the base characters in the order of the codes file, then
// each merge's new symbol in merge order (a merge whose result an earlier
// merge already produced adds no id). There is no <unk>.
//
// # Text form
//
// Token, FormatTokens, ID and ParseTokens write and read tokens as text,
// one line of tokens separated by spaces, and invert each other under any
// codes. A token that begins with "<" is reserved (<pad>, <s>, </s>) or a
// byte (<0xAB>). A symbol is written with ▁ for the space, "\\" for a
// backslash, "\<" for a leading "<", and \uXXXX (\UXXXXXXXX above U+FFFF)
// for whitespace and characters that do not print, so a symbol spelled
// "<0x41>" is "\<0x41>" and no token holds a space.
package bpe

import (
	"fmt"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Reserved ids.
const (
	PadID int32 = 0 // padding; Decode skips it
	BOSID int32 = 1 // beginning of sentence <s>; Decode skips it
	EOSID int32 = 2 // end of sentence </s>; Decode skips it

	// FirstByteID is the id of byte 0x00; byte b is FirstByteID+b.
	FirstByteID int32 = 3
	// FirstSymbolID is the id of the first base character.
	FirstSymbolID int32 = FirstByteID + 256
)

// Marker stands for the space in front of a word inside a symbol.
const Marker = '▁'

// MaxMerges bounds the merges a Codes may hold, far above any useful
// vocabulary, so a corrupt header cannot ask for gigabytes.
const MaxMerges = 1 << 22

// maxChars bounds the base characters: there are no more runes than this.
const maxChars = unicode.MaxRune + 1

// maxSegment bounds the runes that go through the merge loop at once; the
// loop is quadratic in them, and no real word is this long.
const maxSegment = 256

// ByteID returns the id of the byte-fallback token for b.
func ByteID(b byte) int32 { return FirstByteID + int32(b) }

type rankedMerge struct {
	rank   int32
	result int32
}

// Codes is a learned BPE vocabulary: base characters, ordered merges and
// the ids of all tokens. It is safe for concurrent use.
type Codes struct {
	chars  []rune
	merges [][2]string
	// tokens[id-FirstSymbolID] is the symbol of id, with Marker for the
	// space.
	tokens []string
	ids    map[string]int32
	ranks  map[uint64]rankedMerge
	cache  *wordCache
}

// wordCache remembers piece encodings: text repeats the same words, and
// the merge loop costs far more than a map lookup.
type wordCache struct {
	mu sync.Mutex
	m  map[string][]int32
}

const (
	cacheEntries  = 1 << 16
	cacheMaxPiece = 64
)

func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// isBaseChar reports whether r may be a vocabulary character at all.
func isBaseChar(r rune) bool {
	return utf8.ValidRune(r) && r != ' ' && !unicode.IsControl(r)
}

// itemError is a bad character or merge, by its index, so that Parse
// can name the line.
type itemError struct {
	index int
	merge bool
	msg   string
}

func (e itemError) Error() string {
	what := "character"
	if e.merge {
		what = "merge"
	}
	return fmt.Sprintf("%s %d: %s", what, e.index+1, e.msg)
}

// newCodes builds the vocabulary from base characters and merges,
// validating both; it is the one constructor behind Learn and Parse.
func newCodes(chars []rune, merges [][2]string) (*Codes, error) {
	if len(chars) > maxChars {
		return nil, fmt.Errorf("%d base characters, more than exist", len(chars))
	}
	if len(merges) > MaxMerges {
		return nil, fmt.Errorf("%d merges, more than the limit %d", len(merges), MaxMerges)
	}
	c := &Codes{
		chars:  chars,
		merges: merges,
		tokens: make([]string, 0, len(chars)+len(merges)),
		ids:    make(map[string]int32, len(chars)+len(merges)),
		ranks:  make(map[uint64]rankedMerge, len(merges)),
		cache:  &wordCache{m: map[string][]int32{}},
	}
	add := func(s string) int32 {
		if id, ok := c.ids[s]; ok {
			return id
		}
		id := FirstSymbolID + int32(len(c.tokens))
		c.tokens = append(c.tokens, s)
		c.ids[s] = id
		return id
	}
	for i, r := range chars {
		if !isBaseChar(r) {
			return nil, itemError{i, false, fmt.Sprintf("character U+%04X cannot be a base character (space, control or invalid)", r)}
		}
		if _, dup := c.ids[string(r)]; dup {
			return nil, itemError{i, false, fmt.Sprintf("character %q listed twice", r)}
		}
		add(string(r))
	}
	for i, m := range merges {
		a, okA := c.ids[m[0]]
		b, okB := c.ids[m[1]]
		switch {
		case !okA:
			return nil, itemError{i, true, fmt.Sprintf("merge %.40q uses %.40q before any character or merge defines it", m[0]+" "+m[1], m[0])}
		case !okB:
			return nil, itemError{i, true, fmt.Sprintf("merge %.40q uses %.40q before any character or merge defines it", m[0]+" "+m[1], m[1])}
		}
		k := pairKey(a, b)
		if prev, dup := c.ranks[k]; dup {
			return nil, itemError{i, true, fmt.Sprintf("merge %.40q repeats merge %d", m[0]+" "+m[1], prev.rank+1)}
		}
		c.ranks[k] = rankedMerge{rank: int32(i), result: add(m[0] + m[1])}
	}
	return c, nil
}

// Size returns the number of ids: every id is in [0, Size()).
func (c *Codes) Size() int { return int(FirstSymbolID) + len(c.tokens) }

// NumMerges returns the number of merges.
func (c *Codes) NumMerges() int { return len(c.merges) }

// Merges returns the merges in rank order, each as its two symbols.
func (c *Codes) Merges() [][2]string { return append([][2]string(nil), c.merges...) }

// Chars returns the base characters in id order (Marker stands for the
// space).
func (c *Codes) Chars() []rune { return append([]rune(nil), c.chars...) }

// forEachPiece calls fn with each piece of the pre-tokenized line (see
// the package comment); the pieces of " "+s concatenate to " "+s. Bytes
// that are not UTF-8 count as non-space characters.
func forEachPiece(s string, fn func(piece string)) {
	if s == "" {
		return
	}
	t := " " + s
	for i := 0; i < len(t); {
		r, n := utf8.DecodeRuneInString(t[i:]) // U+FFFD for a bad byte: not a space
		start := i
		i += n
		if unicode.IsSpace(r) {
			if r != ' ' || i == len(t) {
				fn(t[start:i])
				continue
			}
			if r2, _ := utf8.DecodeRuneInString(t[i:]); unicode.IsSpace(r2) {
				fn(t[start:i])
				continue
			}
		}
		for i < len(t) {
			r, n := utf8.DecodeRuneInString(t[i:])
			if unicode.IsSpace(r) {
				break
			}
			i += n
		}
		fn(t[start:i])
	}
}

// Encode returns the ids of s, without BOS or EOS. Decode(Encode(s)) == s
// for every s.
func (c *Codes) Encode(s string) []int32 {
	var out []int32
	forEachPiece(s, func(p string) { out = c.appendPiece(out, p) })
	return out
}

func (c *Codes) appendPiece(out []int32, p string) []int32 {
	if len(p) <= cacheMaxPiece {
		c.cache.mu.Lock()
		ids, ok := c.cache.m[p]
		c.cache.mu.Unlock()
		if ok {
			return append(out, ids...)
		}
	}
	start := len(out)
	out = c.encodePiece(out, p)
	if len(p) <= cacheMaxPiece {
		ids := append([]int32(nil), out[start:]...)
		c.cache.mu.Lock()
		if len(c.cache.m) >= cacheEntries {
			clear(c.cache.m)
		}
		c.cache.m[p] = ids
		c.cache.mu.Unlock()
	}
	return out
}

// encodePiece splits p into runs of vocabulary characters, which go
// through the merges, and everything else, which falls back to bytes.
func (c *Codes) encodePiece(out []int32, p string) []int32 {
	seg := make([]int32, 0, len(p))
	for i := 0; i < len(p); {
		r, n := utf8.DecodeRuneInString(p[i:])
		sym := r
		if i == 0 && r == ' ' {
			sym = Marker
		}
		id, known := int32(0), false
		if !(r == Marker || r == utf8.RuneError && n == 1) {
			id, known = c.ids[string(sym)]
		}
		if known && len(seg) < maxSegment {
			seg = append(seg, id)
		} else {
			out = c.appendMerged(out, seg)
			seg = seg[:0]
			if known {
				seg = append(seg, id)
			} else {
				for j := i; j < i+n; j++ {
					out = append(out, ByteID(p[j]))
				}
			}
		}
		i += n
	}
	return c.appendMerged(out, seg)
}

// appendMerged applies merges to seg the way subword-nmt's apply_bpe
// does: repeatedly take the adjacent pair of lowest rank and merge all its
// occurrences left to right.
func (c *Codes) appendMerged(out, seg []int32) []int32 {
	for len(seg) > 1 {
		best := rankedMerge{rank: -1}
		var bestKey uint64
		for i := 0; i+1 < len(seg); i++ {
			k := pairKey(seg[i], seg[i+1])
			if m, ok := c.ranks[k]; ok && (best.rank < 0 || m.rank < best.rank) {
				best, bestKey = m, k
			}
		}
		if best.rank < 0 {
			break
		}
		w := 0
		for i := 0; i < len(seg); {
			if i+1 < len(seg) && pairKey(seg[i], seg[i+1]) == bestKey {
				seg[w] = best.result
				i += 2
			} else {
				seg[w] = seg[i]
				i++
			}
			w++
		}
		seg = seg[:w]
	}
	return append(out, seg...)
}

// DecodeText is Decode for generated ids: a model may emit byte tokens
// that do not form characters, and text meant for people (and for BLEU)
// must be UTF-8, so each invalid byte run becomes U+FFFD. Decode, which
// round-trips any input exactly, is for ids that Encode produced.
func (c *Codes) DecodeText(ids []int32) string {
	return strings.ToValidUTF8(c.Decode(ids), "\uFFFD")
}

// Decode returns the text of ids: byte tokens give their bytes, symbols
// their characters with Marker read as a space, and one leading space
// (the one Encode put in front) is dropped. Reserved ids and ids outside
// [0, Size()) are skipped, so a model's raw output always decodes.
func (c *Codes) Decode(ids []int32) string {
	var b strings.Builder
	for _, id := range ids {
		switch {
		case id >= FirstByteID && id < FirstSymbolID:
			b.WriteByte(byte(id - FirstByteID))
		case id >= FirstSymbolID && int(id) < c.Size():
			for _, r := range c.tokens[id-FirstSymbolID] {
				if r == Marker {
					r = ' '
				}
				b.WriteRune(r)
			}
		}
	}
	return strings.TrimPrefix(b.String(), " ")
}
