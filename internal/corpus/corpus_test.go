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
