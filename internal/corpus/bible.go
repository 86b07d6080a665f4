package corpus

import (
	"bytes"
	_ "embed"
	"fmt"
	"strings"
	"sync"
)

//go:embed bible-web-rv1909-en-es.tsv.gz
var bibleGz []byte

// Pair is one verse of the English–Spanish Bible corpus.
type Pair struct {
	Ref     string // verse reference, "Book C:V", e.g. "I John 3:16"
	English string // World English Bible (2015)
	Spanish string // Reina-Valera (1909)
}

// Book returns the book of the verse: Ref without its trailing
// " C:V". Book names may contain spaces ("Song of Solomon").
func (p Pair) Book() string {
	if i := strings.LastIndexByte(p.Ref, ' '); i >= 0 {
		return p.Ref[:i]
	}
	return p.Ref
}

// The held-out books of BibleSplits. Whole books are held out rather than random verses
// because neighbouring verses share names, phrases and often whole
// sentences, so a random split would let the model be tested on text
// it has all but seen. Acts is long enough (1,003 verses) for a stable
// BLEU; the four short validation books (344 verses) mix narrative,
// prophecy and letters so that validation loss tracks the whole corpus
// while staying cheap to evaluate.
var (
	testBooks = []string{"Acts"}
	valBooks  = []string{"Ruth", "Jonah", "Philippians", "James"}
)

var (
	bibleOnce  sync.Once
	biblePairs []Pair
	bibleErr   error

	splitOnce            sync.Once
	splitTrain, splitVal []Pair
	splitTest            []Pair
)

// Bible returns the 31,077 verse pairs in canonical order (Genesis 1:1
// first). The corpus is decompressed and parsed once on first use and
// cached; callers must not modify the returned slice. It panics only if
// the embedded file is corrupt, which the package tests rule out.
func Bible() []Pair {
	bibleOnce.Do(func() {
		var b []byte
		if b, bibleErr = gunzip(bibleGz); bibleErr == nil {
			biblePairs, bibleErr = parseBible(string(b))
		}
	})
	if bibleErr != nil {
		panic(fmt.Sprintf("corpus: embedded bible-web-rv1909-en-es.tsv.gz is corrupt: %v", bibleErr))
	}
	return biblePairs
}

// BibleSplits returns the training, validation and test parts of
// Bible, split by whole books, each in canonical order: the test part
// is Acts (1,003 pairs), the validation part Ruth, Jonah, Philippians
// and James (344 pairs), the training part the other 61 books (29,730
// pairs). They are computed once and cached; callers must not
// modify them.
func BibleSplits() (train, val, test []Pair) {
	splitOnce.Do(func() {
		role := map[string]int{}
		for _, b := range valBooks {
			role[b] = 1
		}
		for _, b := range testBooks {
			role[b] = 2
		}
		for _, p := range Bible() {
			switch role[p.Book()] {
			case 0:
				splitTrain = append(splitTrain, p)
			case 1:
				splitVal = append(splitVal, p)
			case 2:
				splitTest = append(splitTest, p)
			}
		}
	})
	return splitTrain, splitVal, splitTest
}

// parseBible splits the decompressed TSV. The strings it returns are
// substrings of text, so the whole corpus costs one allocation for the
// text and one for the slice rather than three per verse.
func parseBible(text string) ([]Pair, error) {
	pairs := make([]Pair, 0, strings.Count(text, "\n"))
	for n := 1; text != ""; n++ {
		line, rest, ok := strings.Cut(text, "\n")
		if !ok {
			return nil, fmt.Errorf("line %d: no final newline", n)
		}
		text = rest
		ref, rest, ok1 := strings.Cut(line, "\t")
		en, es, ok2 := strings.Cut(rest, "\t")
		if !ok1 || !ok2 || strings.Contains(es, "\t") {
			return nil, fmt.Errorf("line %d: want 3 tab-separated fields", n)
		}
		if ref == "" || en == "" || es == "" {
			return nil, fmt.Errorf("line %d: empty field", n)
		}
		pairs = append(pairs, Pair{Ref: ref, English: en, Spanish: es})
	}
	return pairs, nil
}

// Split is the Bible's split named name: "train", "valid" (or
// "validation") or "test".
func Split(name string) ([]Pair, bool) {
	train, val, test := BibleSplits()
	switch name {
	case "train":
		return train, true
	case "valid", "validation":
		return val, true
	case "test":
		return test, true
	}
	return nil, false
}

// Lines are pairs one verse per line in lang ("en", else Spanish), or,
// with tsv, reference<TAB>English<TAB>Spanish.
func Lines(pairs []Pair, lang string, tsv bool) []byte {
	var buf bytes.Buffer
	for _, p := range pairs {
		switch {
		case tsv:
			fmt.Fprintf(&buf, "%s\t%s\t%s\n", p.Ref, p.English, p.Spanish)
		case lang == "en":
			buf.WriteString(p.English + "\n")
		default:
			buf.WriteString(p.Spanish + "\n")
		}
	}
	return buf.Bytes()
}
