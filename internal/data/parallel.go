package data

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
	"unsafe"

	"github.com/clinic-ml/clinic/internal/fileutil"
)

// Pair is one example of a parallel corpus: a source sentence and its
// translation.
type Pair struct {
	Src, Tgt string
}

// MaxFileSize is the largest corpus file LoadTSV and LoadAligned
// accept. A file is read whole, and its text is kept alive by the
// pairs, so the cap turns a mistaken path (a disk image, a dataset
// dump) into an error instead of an out-of-memory kill minutes later.
const MaxFileSize = fileutil.MaxText

// LoadTSV reads a parallel corpus from a tab-separated file, taking the
// source from column src and the target from column tgt (1-based; for
// the built-in "ref<TAB>English<TAB>Spanish" format src=2, tgt=3, for a
// plain two-column file src=1, tgt=2). Columns after the last one used
// are ignored. The format has no quoting: a field runs from one tab to
// the next, and a quote character is text.
//
// Lines may end in "\n" or "\r\n", the last line needs no newline, and
// a UTF-8 byte-order mark at the start is dropped. White space (and
// any stray byte-order mark) around each field is removed. Every line must hold a pair: the file is
// rejected, with a one-line error naming file and line, on a blank
// line, a line with too few columns or an empty source or target, or
// text that is not valid UTF-8. The file must be a regular file of at
// most MaxFileSize bytes holding at least one pair; a directory, FIFO
// or device is refused without being opened, so a wrong path never
// blocks.
func LoadTSV(path string, src, tgt int) ([]Pair, error) {
	return loadTSV(path, src, tgt, false)
}

// LoadTSVUniform is LoadTSV for columns the user did not pick: every
// line must have as many fields as the first (a header, or the first
// pair). A stray tab, a line of three fields in a two-column file, would
// otherwise pair the source with a fragment of the target; it is an
// error naming the file and line, a *FieldCountError.
func LoadTSVUniform(path string, src, tgt int) ([]Pair, error) {
	return loadTSV(path, src, tgt, true)
}

// FieldCountError is LoadTSVUniform's error for a line whose number of
// fields differs from the first line's.
type FieldCountError struct {
	Name                string
	Line, Fields, First int // the line, its fields, line 1's fields
}

func (e *FieldCountError) Error() string {
	return fmt.Sprintf("data: %s:%d: %d tab-separated fields, line 1 has %d (a stray tab?)", e.Name, e.Line, e.Fields, e.First)
}

func loadTSV(path string, src, tgt int, uniform bool) ([]Pair, error) {
	if err := checkColumns(src, tgt); err != nil {
		return nil, err
	}
	text, err := readNonEmpty(path)
	if err != nil {
		return nil, err
	}
	return parseTSV(path, text, src, tgt, uniform)
}

// ParseTSV parses text as LoadTSV parses a file, naming it name in
// errors. It copies text, so the caller may reuse it.
func ParseTSV(name string, text []byte, src, tgt int) ([]Pair, error) {
	if err := checkColumns(src, tgt); err != nil {
		return nil, err
	}
	return parseTSV(name, string(text), src, tgt, false)
}

// LoadAligned reads a parallel corpus from two line-aligned plain-text
// files: line i of srcPath is the source of example i and line i of
// tgtPath its target. Lines are read as by LoadTSV (a tab is ordinary
// text here). The files must have the same number of lines; that is
// checked first, because a count mismatch means the alignment is off
// everywhere after some point and the first bad line would mislead.
func LoadAligned(srcPath, tgtPath string) ([]Pair, error) {
	srcText, err := readNonEmpty(srcPath)
	if err != nil {
		return nil, err
	}
	tgtText, err := readNonEmpty(tgtPath)
	if err != nil {
		return nil, err
	}
	ns, nt := countLines(srcText), countLines(tgtText)
	if ns != nt {
		return nil, fmt.Errorf("data: %s has %d lines, %s has %d", srcPath, ns, tgtPath, nt)
	}
	pairs := make([]Pair, 0, ns)
	sl, tl := lines{text: srcText}, lines{text: tgtText}
	for {
		s, ok := sl.next()
		if !ok {
			break
		}
		t, _ := tl.next()
		if s, err = lineText(srcPath, sl.n, s); err != nil {
			return nil, err
		}
		if t, err = lineText(tgtPath, tl.n, t); err != nil {
			return nil, err
		}
		pairs = append(pairs, Pair{Src: s, Tgt: t})
	}
	return pairs, nil
}

func checkColumns(src, tgt int) error {
	if src < 1 || tgt < 1 || src == tgt {
		return fmt.Errorf("data: TSV columns src=%d tgt=%d: need two different column numbers, counting from 1", src, tgt)
	}
	return nil
}

func parseTSV(name, text string, src, tgt int, uniform bool) ([]Pair, error) {
	need := max(src, tgt)
	pairs := make([]Pair, 0, countLines(text))
	l := lines{text: text}
	fields := 0 // the first line's, with uniform
	for {
		line, ok := l.next()
		if !ok {
			break
		}
		if err := checkLine(name, l.n, line); err != nil {
			return nil, err
		}
		if uniform {
			n := strings.Count(line, "\t") + 1
			if l.n == 1 {
				fields = n
			} else if n != fields {
				return nil, &FieldCountError{name, l.n, n, fields}
			}
		}
		var s, t string
		col := 0
		for rest := line; ; {
			col++
			f, r, more := strings.Cut(rest, "\t")
			switch col {
			case src:
				s = f
			case tgt:
				t = f
			}
			if !more || col == need {
				break
			}
			rest = r
		}
		if col < need {
			return nil, fmt.Errorf("data: %s:%d: %d column%s, need at least %d", name, l.n, col, plural(col), need)
		}
		if s = trim(s); s == "" {
			return nil, fmt.Errorf("data: %s:%d: empty source (column %d)", name, l.n, src)
		}
		if t = trim(t); t == "" {
			return nil, fmt.Errorf("data: %s:%d: empty target (column %d)", name, l.n, tgt)
		}
		pairs = append(pairs, Pair{Src: s, Tgt: t})
	}
	if len(pairs) == 0 {
		return nil, fmt.Errorf("data: %s: file is empty", name)
	}
	return pairs, nil
}

// lineText checks one line of an aligned file and returns its text
// without surrounding white space.
func lineText(name string, n int, line string) (string, error) {
	if err := checkLine(name, n, line); err != nil {
		return "", err
	}
	return trim(line), nil
}

// checkLine rejects invalid UTF-8 and blank lines. A blank line is an
// error rather than skipped because in a parallel corpus it usually
// means a sentence went missing on one side, and skipping it would
// hide the misalignment.
func checkLine(name string, n int, line string) error {
	if !utf8.ValidString(line) {
		return fmt.Errorf("data: %s:%d: invalid UTF-8 at byte offset %d of the line", name, n, invalidUTF8String(line))
	}
	if trim(line) == "" {
		return fmt.Errorf("data: %s:%d: empty line", name, n)
	}
	return nil
}

// trim removes white space and byte-order marks around a field. A BOM
// (U+FEFF, a zero-width no-break space) inside a file is invisible
// noise left by concatenating files; keeping it would make a sentence
// differ from its twin without the difference being visible.
func trim(s string) string {
	return strings.TrimFunc(s, func(r rune) bool { return r == '\uFEFF' || unicode.IsSpace(r) })
}

func invalidUTF8String(s string) int {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return -1
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// lines iterates over the lines of a text: "\n" ends a line, a "\r"
// before it is dropped, a final line needs no "\n", and a byte-order
// mark at the very start is dropped. n is the 1-based number of the
// line last returned.
type lines struct {
	text string
	n    int
}

func (l *lines) next() (string, bool) {
	if l.text == "" {
		return "", false
	}
	line, rest, _ := strings.Cut(l.text, "\n")
	l.text = rest
	l.n++
	if l.n == 1 {
		line = strings.TrimPrefix(line, "\uFEFF")
	}
	return strings.TrimSuffix(line, "\r"), true
}

// countLines returns the number of lines lines.next yields.
func countLines(text string) int {
	n := strings.Count(text, "\n")
	if text != "" && text[len(text)-1] != '\n' {
		n++
	}
	return n
}

// readNonEmpty reads a whole corpus file (readFile) that must not be
// empty, as text.
func readNonEmpty(path string) (string, error) {
	b, err := readFile(path)
	if err != nil {
		return "", err
	}
	if len(b) == 0 {
		return "", fmt.Errorf("data: %s: file is empty", path)
	}
	// The pairs are substrings of the file's text. Converting without a
	// copy halves the peak memory of loading a large corpus; b is not
	// referenced anywhere else and never written again.
	return unsafe.String(&b[0], len(b)), nil
}
