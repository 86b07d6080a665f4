package data

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	p := write(t, dir, "a.txt", "héllo\nworld")
	b, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "héllo\nworld" {
		t.Errorf("got %q", b)
	}
}

func TestLoadDir(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "b.txt", "second")
	write(t, dir, "a.txt", "first")
	write(t, dir, "10.txt", "zero")
	write(t, dir, "c.md", "ignored")
	if err := os.Mkdir(filepath.Join(dir, "sub.txt"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "sub.txt"), "x.txt", "nested, ignored")
	b, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := "zero\nfirst\nsecond\n"; string(b) != want {
		t.Errorf("got %q, want %q", b, want)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	empty := write(t, dir, "empty.txt", "")
	bad := write(t, dir, "bad.txt", "abc\xffdef")
	noTxt := filepath.Join(dir, "notxt")
	os.Mkdir(noTxt, 0o755)
	write(t, noTxt, "x.md", "text")
	emptyDir := filepath.Join(dir, "emptydir")
	os.Mkdir(emptyDir, 0o755)
	write(t, emptyDir, "a.txt", "")
	badDir := filepath.Join(dir, "baddir")
	os.Mkdir(badDir, 0o755)
	write(t, badDir, "a.txt", "fine")
	badIn := write(t, badDir, "b.txt", "ok é then \xe2\x82 truncated")

	cases := []struct {
		path string
		want []string
	}{
		{filepath.Join(dir, "missing.txt"), []string{"missing.txt", "no such file"}},
		{empty, []string{"empty.txt", "empty"}},
		{bad, []string{"bad.txt", "invalid UTF-8", "offset 3"}},
		{noTxt, []string{"notxt", "no .txt files"}},
		{emptyDir, []string{"emptydir", "empty"}},
		{badDir, []string{badIn, "invalid UTF-8", "offset 11"}},
	}
	for _, c := range cases {
		_, err := Load(c.path)
		if err == nil {
			t.Errorf("Load(%s): no error", c.path)
			continue
		}
		msg := err.Error()
		if strings.Contains(msg, "\n") {
			t.Errorf("Load(%s): multi-line error %q", c.path, msg)
		}
		for _, w := range c.want {
			if !strings.Contains(msg, w) {
				t.Errorf("Load(%s): error %q lacks %q", c.path, msg, w)
			}
		}
	}
}

func TestInvalidUTF8(t *testing.T) {
	for _, c := range []struct {
		s    string
		want int
	}{
		{"", -1}, {"abc", -1}, {"日本語", -1}, {"\xff", 0}, {"ab\xc3", 2},
		{"日\xe6\x9c", 3}, {"a\xed\xa0\x80", 1}, // surrogate half
	} {
		if got := invalidUTF8([]byte(c.s)); got != c.want {
			t.Errorf("invalidUTF8(%q) = %d, want %d", c.s, got, c.want)
		}
	}
}

func TestSplit(t *testing.T) {
	d := []byte("0123456789")
	for _, c := range []struct {
		f          float64
		train, val string
	}{
		{0.1, "012345678", "9"}, {0.25, "01234567", "89"}, {0, "0123456789", ""},
		{1, "", "0123456789"}, {-1, "0123456789", ""}, {2, "", "0123456789"},
	} {
		tr, va := Split(d, c.f)
		if string(tr) != c.train || string(va) != c.val {
			t.Errorf("Split(%v) = %q, %q; want %q, %q", c.f, tr, va, c.train, c.val)
		}
	}
	// Appending to train must not overwrite val.
	tr, va := Split(d, 0.5)
	_ = append(tr, 'X')
	if string(va) != "56789" {
		t.Errorf("append to train clobbered val: %q", va)
	}
}

func TestEncodeDecode(t *testing.T) {
	s := []byte("añ\x00\xff")
	tok := Encode(s)
	want := []int32{'a', 0xc3, 0xb1, 0, 255}
	if len(tok) != len(want) {
		t.Fatalf("Encode = %v", tok)
	}
	for i := range want {
		if tok[i] != want[i] {
			t.Fatalf("Encode = %v, want %v", tok, want)
		}
	}
	if !bytes.Equal(Decode(tok), s) {
		t.Errorf("Decode(Encode(s)) = %q", Decode(tok))
	}
	if got := string(Decode([]int32{'a', -1, 256, 'b'})); got != "a??b" {
		t.Errorf("Decode out of range = %q", got)
	}
}
