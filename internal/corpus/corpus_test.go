package corpus

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"testing"
	"unicode/utf8"
)

func TestSOTU(t *testing.T) {
	b, err := gunzip(sotuGz)
	if err != nil {
		t.Fatalf("embedded sotu.txt.gz does not decompress: %v", err)
	}
	if len(b) != 10761413 {
		t.Fatalf("len = %d, want 10761413", len(b))
	}
	if !utf8.Valid(b) {
		t.Fatal("corpus is not valid UTF-8")
	}
	if !bytes.HasPrefix(b, []byte("Fellow-Citizens of the Senate and House of Representatives:")) {
		t.Errorf("unexpected start: %q", b[:60])
	}
	if b[len(b)-1] != '\n' {
		t.Error("corpus does not end with a newline")
	}
	s := SOTU()
	if !bytes.Equal(s, b) {
		t.Fatal("SOTU() differs from the decompressed file")
	}
	if &SOTU()[0] != &s[0] {
		t.Error("SOTU() is not cached")
	}
	const want = "805ccd2b2645318eb01caa3d4a0d374bee2544c1d5e48d2c66f8feaf7ae25790"
	if got := fmt.Sprintf("%x", sha256.Sum256(s)); got != want {
		t.Errorf("sha256 = %s, want %s", got, want)
	}
}

func TestGunzipCorrupt(t *testing.T) {
	bad := append([]byte(nil), sotuGz[:1000]...)
	if _, err := gunzip(bad); err == nil {
		t.Error("truncated gzip decompressed without error")
	}
	if _, err := gunzip([]byte("not gzip")); err == nil {
		t.Error("non-gzip input decompressed without error")
	}
}

func ExampleSOTU() {
	fmt.Println(string(SOTU()[:15]))
	// Output: Fellow-Citizens
}

func TestBible(t *testing.T) {
	b, err := gunzip(bibleGz)
	if err != nil {
		t.Fatalf("embedded bible tsv does not decompress: %v", err)
	}
	if len(b) != 8399535 {
		t.Fatalf("len = %d, want 8399535", len(b))
	}
	if !utf8.Valid(b) {
		t.Fatal("corpus is not valid UTF-8")
	}
	const want = "e23ef045ddafd87fbd27b3c166297700d855499afa89d83cdd1f8c6eeb157d44"
	if got := fmt.Sprintf("%x", sha256.Sum256(b)); got != want {
		t.Errorf("sha256 = %s, want %s", got, want)
	}
	p := Bible()
	if len(p) != 31077 {
		t.Fatalf("%d pairs, want 31077", len(p))
	}
	if &Bible()[0] != &p[0] {
		t.Error("Bible() is not cached")
	}
	first := Pair{"Genesis 1:1", "In the beginning, God created the heavens and the earth.",
		"EN el principio crió Dios los cielos y la tierra."}
	if p[0] != first {
		t.Errorf("first pair %+v, want %+v", p[0], first)
	}
	if last := p[len(p)-1]; last.Ref != "Revelation of John 22:21" {
		t.Errorf("last ref %q", last.Ref)
	}
	seen := map[string]bool{}
	for _, q := range p {
		if seen[q.Ref] {
			t.Fatalf("duplicate reference %q", q.Ref)
		}
		seen[q.Ref] = true
	}
}

func TestBibleSplits(t *testing.T) {
	train, val, test := BibleSplits()
	if len(train) != 29730 || len(val) != 344 || len(test) != 1003 {
		t.Fatalf("split sizes %d/%d/%d, want 29730/344/1003", len(train), len(val), len(test))
	}
	where := map[string]string{}
	for name, part := range map[string][]Pair{"train": train, "val": val, "test": test} {
		for _, p := range part {
			b := p.Book()
			if w, ok := where[b]; ok && w != name {
				t.Fatalf("book %q is in both %s and %s", b, w, name)
			}
			where[b] = name
		}
	}
	if len(where) != 66 {
		t.Errorf("%d books, want 66", len(where))
	}
	for b, want := range map[string]string{"Acts": "test", "Ruth": "val", "Jonah": "val",
		"Philippians": "val", "James": "val", "Genesis": "train", "Song of Solomon": "train"} {
		if where[b] != want {
			t.Errorf("book %q in %q, want %q", b, where[b], want)
		}
	}
}

func TestPairBook(t *testing.T) {
	for ref, want := range map[string]string{"Genesis 1:1": "Genesis", "I John 3:16": "I John",
		"Revelation of John 22:21": "Revelation of John", "x": "x"} {
		if got := (Pair{Ref: ref}).Book(); got != want {
			t.Errorf("Book(%q) = %q, want %q", ref, got, want)
		}
	}
}

func TestParseBibleErrors(t *testing.T) {
	for _, text := range []string{"a 1:1\ten\tes", "a 1:1\ten\n", "a 1:1\ten\tes\textra\n", "a 1:1\t\tes\n"} {
		if _, err := parseBible(text); err == nil {
			t.Errorf("parseBible(%q) succeeded", text)
		}
	}
}

func ExampleBibleSplits() {
	train, val, test := BibleSplits()
	fmt.Println(len(train), len(val), len(test))
	fmt.Println(test[0].Ref, "|", test[0].Spanish[:24])
	// Output:
	// 29730 344 1003
	// Acts 1:1 | EN el primer tratado, oh
}
