package fileutil

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
	if _, err := ReadRegular(p, 4); err == nil || !strings.Contains(err.Error(), "over the limit of 4 bytes") {
		t.Errorf("size cap: got %v", err)
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
