package fileutil

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestReadRegular(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	os.WriteFile(p, []byte("hello"), 0o644)
	if b, err := ReadRegular(p, 5); err != nil || string(b) != "hello" {
		t.Fatalf("got %q, %v", b, err)
	}
	cases := []struct{ path, want string }{
		{dir, "is a directory, not a regular file"},
		{os.DevNull, "is a character device, not a regular file"},
		{filepath.Join(dir, "missing"), "no such file"},
	}
	if fifo, ok := makeFIFO(t, dir); ok {
		cases = append(cases, struct{ path, want string }{fifo, "is a named pipe (FIFO), not a regular file"})
	}
	for _, c := range cases {
		_, err := ReadRegular(c.path, 0)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), c.path) {
			t.Errorf("%s: got %v, want %q", c.path, err, c.want)
		}
	}
	if _, err := ReadRegular(p, 4); err == nil || !strings.Contains(err.Error(), "5 bytes, over the 4-byte limit") {
		t.Errorf("size cap: got %v", err)
	}
}

// ReadAll caps what it reads: standard input redirected from a huge
// file (sparse here) is refused on its size before a byte is read, and
// a stream is cut off one byte past the cap.
func TestReadAllCapped(t *testing.T) {
	p := filepath.Join(t.TempDir(), "huge")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, MaxText+1); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := ReadAll(f, "stdin", MaxText); err == nil || err.Error() != "stdin: 2147483649 bytes, over the 2 GiB limit" {
		t.Errorf("huge stdin: got %v", err)
	}
	if off, _ := f.Seek(0, io.SeekCurrent); off != 0 {
		t.Errorf("%d bytes read before refusing", off)
	}
	if _, err := ReadAll(strings.NewReader("hello"), "stdin", 4); err == nil || err.Error() != "stdin: over the 4-byte limit" {
		t.Errorf("stream over the cap: got %v", err)
	}
	if b, err := ReadAll(strings.NewReader("hello"), "stdin", 5); err != nil || string(b) != "hello" {
		t.Errorf("stream at the cap: %q, %v", b, err)
	}
}

func TestCheckOutput(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := CheckOutput(p); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(p, nil, 0o644)
	if err := CheckOutput(p); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{dir, os.DevNull} {
		if err := CheckOutput(q); err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("%s: got %v", q, err)
		}
	}
	os.Symlink("f", filepath.Join(dir, "l"))
	if r, err := Resolve(filepath.Join(dir, "l")); err != nil || r != p {
		t.Errorf("Resolve: %q, %v", r, err)
	}
}

// OpenRegular and OpenWrite refuse a FIFO and a link to a device at
// once, naming the path; a link to a regular file is followed.
func TestOpenGate(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	os.WriteFile(p, []byte("x"), 0o644)
	zero := filepath.Join(dir, "zero")
	if err := os.Symlink("/dev/zero", zero); err != nil {
		t.Skip("no symlinks:", err)
	}
	link := filepath.Join(dir, "link")
	os.Symlink("f", link)
	bad := []string{zero, dir}
	if fifo, ok := makeFIFO(t, dir); ok {
		bad = append(bad, fifo)
	}
	within(t, func() {
		for _, q := range bad {
			if f, err := OpenRegular(q, 0); err == nil || !strings.HasPrefix(err.Error(), q+": is ") || !strings.Contains(err.Error(), "not a regular file") {
				t.Errorf("OpenRegular(%s): %v", q, err)
				f.Close()
			}
			if f, err := OpenWrite(q, os.O_RDWR|os.O_CREATE|os.O_APPEND); err == nil || !strings.Contains(err.Error(), "not a regular file") {
				t.Errorf("OpenWrite(%s): %v", q, err)
				f.Close()
			}
		}
	})
	for _, q := range []string{p, link} {
		f, err := OpenWrite(q, os.O_WRONLY|os.O_APPEND)
		if err != nil {
			t.Fatal(err)
		}
		f.Write([]byte("y"))
		f.Close()
		if f, err = OpenRegular(q, 0); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	if b, _ := ReadRegular(p, 0); string(b) != "xyy" {
		t.Errorf("appended through the gate: %q", b)
	}
	if _, err := ReadRegular(filepath.Join(dir, "none"), 0); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing file's error does not wrap fs.ErrNotExist: %v", err)
	}
}

// within fails the test if fn has not returned after 10 s: a FIFO or a
// device must be refused, not waited on or read forever.
func within(t *testing.T, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("still running after 10 s: blocked on a file that is not regular")
	}
}

// SameAsAny compares files, not spellings.
func TestSameAsAny(t *testing.T) {
	dir := t.TempDir()
	w := filepath.Join(dir, "w")
	os.Mkdir(w, 0o755)
	c10, c15 := filepath.Join(w, "c10.st"), filepath.Join(w, "c15.st")
	os.WriteFile(c10, []byte("10"), 0o644)
	os.WriteFile(c15, []byte("15"), 0o644)
	if err := os.Symlink("c15.st", filepath.Join(w, "link")); err != nil {
		t.Skip("no symlinks:", err)
	}
	os.Link(c15, filepath.Join(w, "hard"))
	os.Symlink("w", filepath.Join(dir, "wl"))
	os.Symlink("new.st", filepath.Join(w, "dangling"))
	t.Chdir(w)
	for _, out := range []string{c15, "../w/c15.st", "link", "hard", "./c15.st", filepath.Join(dir, "wl", "c15.st")} {
		if in, ok := SameAsAny(out, "c10.st", "c15.st"); !ok || in != "c15.st" {
			t.Errorf("%s: got %q, %v; want c15.st", out, in, ok)
		}
	}
	// Not yet existing: the resolved path decides.
	if in, ok := SameAsAny("dangling", "c10.st", filepath.Join(dir, "wl", "new.st")); !ok || !strings.HasSuffix(in, "new.st") {
		t.Errorf("dangling link to an input's path: %q, %v", in, ok)
	}
	for _, out := range []string{"c16.st", "dangling", ""} {
		if in, ok := SameAsAny(out, "c10.st", "c15.st", ""); ok {
			t.Errorf("%q matched %q", out, in)
		}
	}
	if in, ok := SameAsAny(dir, filepath.Join(dir, "wl", "..")); !ok || in == "" {
		t.Errorf("a directory and another spelling of it: %q, %v", in, ok)
	}
}
