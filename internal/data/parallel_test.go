package data

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestLoadTSV(t *testing.T) {
	dir := t.TempDir()
	// BOM, CRLF, a fourth column, padding white space, a quote that is
	// text, and a last line without newline.
	p := write(t, dir, "pairs.tsv", "\uFEFFGen 1:1\tIn the beginning\tEn el principio\textra\r\n"+
		"Gen 1:2\t \"The earth\" \tLa tierra\r\n"+
		"Gen 1:3\tGod said\tY dijo Dios")
	got, err := LoadTSV(p, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := []Pair{{"In the beginning", "En el principio"}, {`"The earth"`, "La tierra"}, {"God said", "Y dijo Dios"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	// Columns in either order.
	got, err = LoadTSV(p, 3, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != (Pair{"En el principio", "Gen 1:1"}) {
		t.Errorf("src=3 tgt=1: got %q", got[0])
	}
	two := write(t, dir, "two.tsv", "hello\thola\nbye\tadiós\n")
	got, err = LoadTSV(two, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if want := []Pair{{"hello", "hola"}, {"bye", "adiós"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("two columns: got %q, want %q", got, want)
	}
}

func TestLoadAligned(t *testing.T) {
	dir := t.TempDir()
	s := write(t, dir, "src.txt", "one\r\ntwo\tcolumns are text\r\nthree")
	g := write(t, dir, "tgt.txt", "uno\ndos\ntres\n")
	got, err := LoadAligned(s, g)
	if err != nil {
		t.Fatal(err)
	}
	want := []Pair{{"one", "uno"}, {"two\tcolumns are text", "dos"}, {"three", "tres"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestParallelErrors(t *testing.T) {
	dir := t.TempDir()
	tsv := func(name, text string) string { return write(t, dir, name, text) }
	big := filepath.Join(dir, "big.tsv")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	// Sparse: the size check must come before any read.
	if err := f.Truncate(MaxFileSize + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for _, c := range []struct {
		name     string
		path     string
		src, tgt int
		want     string
	}{
		{"empty line", tsv("blank.tsv", "a\tb\tc\n\nd\te\tf\n"), 2, 3, "blank.tsv:2: empty line"},
		{"white line", tsv("white.tsv", "a\tb\tc\n \t \r\n"), 2, 3, "white.tsv:2: empty line"},
		{"empty target", tsv("pairs.tsv", "a\tb\tc\nd\te\t\n"), 2, 3, "pairs.tsv:2: empty target (column 3)"},
		{"blank target", tsv("pairs2.tsv", "a\tb\t  \r\n"), 2, 3, "pairs2.tsv:1: empty target (column 3)"},
		{"empty source", tsv("nosrc.tsv", "a\tb\tc\nd\t\tf"), 2, 3, "nosrc.tsv:2: empty source (column 2)"},
		{"few columns", tsv("cols.tsv", "a\tb\tc\nd\te\n"), 2, 3, "cols.tsv:2: 2 columns, need at least 3"},
		{"one column", tsv("one.tsv", "just text\n"), 1, 2, "one.tsv:1: 1 column, need at least 2"},
		{"invalid UTF-8", tsv("bad.tsv", "a\tb\tc\nd\te\xff\tf\n"), 2, 3, "bad.tsv:2: invalid UTF-8 at byte offset 3 of the line"},
		{"empty file", tsv("empty.tsv", ""), 2, 3, "empty.tsv: file is empty"},
		{"BOM only", tsv("bom.tsv", "\uFEFF\n"), 2, 3, "bom.tsv:1: empty line"},
		{"missing", filepath.Join(dir, "nope.tsv"), 2, 3, "nope.tsv: no such file or directory"},
		{"directory", dir, 2, 3, ": is a directory, not a regular file"},
		{"device", os.DevNull, 1, 2, os.DevNull + ": is a character device, not a regular file"},
		{"too big", big, 1, 2, "big.tsv: 2147483649 bytes, over the 2 GiB limit"},
		{"column zero", "x", 0, 2, "TSV columns src=0 tgt=2"},
		{"same column", "x", 2, 2, "TSV columns src=2 tgt=2"},
	} {
		if c.name == "device" {
			if st, err := os.Stat(os.DevNull); err != nil || st.Mode()&os.ModeCharDevice == 0 {
				continue
			}
		}
		_, err := LoadTSV(c.path, c.src, c.tgt)
		checkErr(t, c.name, err, c.want)
	}
}

func TestAlignedErrors(t *testing.T) {
	dir := t.TempDir()
	s3 := write(t, dir, "src.txt", "a\nb\nc\n")
	t2 := write(t, dir, "tgt.txt", "x\ny")
	t3gap := write(t, dir, "gap.txt", "x\n\nz\n")
	t3bad := write(t, dir, "bad.txt", "x\ny\n\xc3z\n")
	empty := write(t, dir, "empty.txt", "")
	for _, c := range []struct {
		name, src, tgt, want string
	}{
		{"line counts", s3, t2, "src.txt has 3 lines, " + t2 + " has 2"},
		{"empty line", s3, t3gap, "gap.txt:2: empty line"},
		{"empty line in source", t3gap, s3, "gap.txt:2: empty line"},
		{"invalid UTF-8", s3, t3bad, "bad.txt:3: invalid UTF-8 at byte offset 0 of the line"},
		{"empty", empty, s3, "empty.txt: file is empty"},
		{"directory", dir, s3, ": is a directory, not a regular file"},
		{"directory target", s3, dir, ": is a directory, not a regular file"},
	} {
		_, err := LoadAligned(c.src, c.tgt)
		checkErr(t, c.name, err, c.want)
	}
}

// checkErr wants a one-line error that starts "data: " and contains want.
func checkErr(t *testing.T, name string, err error, want string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error, want %q", name, want)
		return
	}
	msg := err.Error()
	if !strings.Contains(msg, want) || !strings.HasPrefix(msg, "data: ") || strings.Contains(msg, "\n") {
		t.Errorf("%s: error %q, want one line starting \"data: \" containing %q", name, msg, want)
	}
}

func TestParseTSV(t *testing.T) {
	text := []byte("a\tb\n")
	got, err := ParseTSV("mem", text, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	copy(text, "zzzz")
	if got[0] != (Pair{"a", "b"}) {
		t.Errorf("ParseTSV does not copy its input: %q", got)
	}
	_, err = ParseTSV("mem", nil, 1, 2)
	checkErr(t, "empty", err, "mem: file is empty")
}

// LoadTSVUniform (columns the user did not pick) refuses a line whose
// number of fields differs from the first line's, naming file and line:
// a stray tab would otherwise pair the source with a fragment (issue
// 23). LoadTSV, for columns picked explicitly, reads such a file.
func TestLoadTSVUniform(t *testing.T) {
	dir := t.TempDir()
	stray := write(t, dir, "stray.tsv", "hello\thola\nthe sun\tel\tsol\r\nbye\tadiós\n")
	_, err := LoadTSVUniform(stray, 1, 2)
	checkErr(t, "stray tab", err, "stray.tsv:2: 3 tab-separated fields, line 1 has 2")
	if fe := (*FieldCountError)(nil); !errors.As(err, &fe) || fe.Line != 2 || fe.Fields != 3 || fe.First != 2 {
		t.Errorf("%#v is not the FieldCountError of line 2", err)
	}
	got, err := LoadTSV(stray, 1, 2)
	if want := []Pair{{"hello", "hola"}, {"the sun", "el"}, {"bye", "adiós"}}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("LoadTSV: %q, %v; want %q", got, err, want)
	}
	short := write(t, dir, "short.tsv", "id\ten\tes\n1\tone\tuno\n2\ttwo dos\n")
	_, err = LoadTSVUniform(short, 2, 3)
	checkErr(t, "missing tab", err, "short.tsv:3: 2 tab-separated fields, line 1 has 3")
	// The same number of fields everywhere, trailing and extra columns
	// included, is fine.
	even := write(t, dir, "even.tsv", "\uFEFFGen 1:1\tIn the beginning\tEn el principio\tx\r\nGen 1:2\tThe earth\tLa tierra\t\n")
	got, err = LoadTSVUniform(even, 2, 3)
	if want := []Pair{{"In the beginning", "En el principio"}, {"The earth", "La tierra"}}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("even: %q, %v; want %q", got, err, want)
	}
}
