package metrics

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// failAfter writes the first n bytes it is given, then fails, as a full
// disk does.
type failAfter struct {
	file
	n int
}

func (f *failAfter) Write(b []byte) (int, error) {
	if len(b) <= f.n {
		f.n -= len(b)
		return f.file.Write(b)
	}
	k, _ := f.file.Write(b[:f.n])
	f.n = 0
	return k, errors.New("no space left on device")
}

func TestFailedWriteLeavesNoPartialLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metrics.jsonl")
	w, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(map[string]any{"step": 1}); err != nil {
		t.Fatal(err)
	}
	w.f = &failAfter{file: w.f, n: 5}
	err = w.Write(map[string]any{"step": 2, "loss": 1.5})
	if err == nil || !strings.Contains(err.Error(), "no space left") || !strings.Contains(err.Error(), path) {
		t.Fatalf("got %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "{\"step\":1}\n" {
		t.Fatalf("file holds %q after a failed write", b)
	}
	// Later records still land whole after the good ones.
	w.f = w.f.(*failAfter).file
	if err := w.Write(map[string]any{"step": 3}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if b, _ := os.ReadFile(path); string(b) != "{\"step\":1}\n{\"step\":3}\n" {
		t.Fatalf("file holds %q", b)
	}
}

func TestAppendCutsTornLine(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ old, want string }{
		{"{\"step\":1}\n{\"st", "{\"step\":1}\n{\"step\":2}\n"},
		{"{\"st", "{\"step\":2}\n"},
		{"", "{\"step\":2}\n"},
		{"{\"step\":1}\n", "{\"step\":1}\n{\"step\":2}\n"},
		{strings.Repeat("x", 5000), "{\"step\":2}\n"},
	} {
		path := filepath.Join(dir, "m.jsonl")
		os.WriteFile(path, []byte(c.old), 0o644)
		w, err := Append(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(map[string]any{"step": 2}); err != nil {
			t.Fatal(err)
		}
		w.Close()
		if b, _ := os.ReadFile(path); string(b) != c.want {
			t.Errorf("%q: file holds %q, want %q", c.old, b, c.want)
		}
	}
}
