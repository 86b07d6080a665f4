package data

import (
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"
)

// FuzzLoad: any file is UTF-8 training text or an error naming it, never
// a panic; text that loads is valid UTF-8.
func FuzzLoad(f *testing.F) {
	for _, s := range []string{"Fellow citizens\n", "a\x00b", "\xff\xfe", "", "\xef\xbb\xbfBOM\r\n"} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(dir, "t.txt")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		text, err := Load(path)
		if err == nil && !utf8.Valid(text) {
			t.Fatalf("loaded invalid UTF-8 from %q", b)
		}
	})
}
