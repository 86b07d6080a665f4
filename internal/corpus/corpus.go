package corpus

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"fmt"
	"io"
	"sync"
)

//go:embed sotu.txt.gz
var sotuGz []byte

var (
	sotuOnce sync.Once
	sotuText []byte
	sotuErr  error
)

// SOTU returns the decompressed State of the Union corpus. It is
// decompressed once on first use and cached; callers must not modify
// the returned slice. It panics only if the embedded file is corrupt,
// which the package tests rule out.
func SOTU() []byte {
	sotuOnce.Do(func() { sotuText, sotuErr = gunzip(sotuGz) })
	if sotuErr != nil {
		panic(fmt.Sprintf("corpus: embedded sotu.txt.gz is corrupt: %v", sotuErr))
	}
	return sotuText
}

func gunzip(b []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	out.Grow(11 << 20)
	if _, err := io.Copy(&out, zr); err != nil {
		return nil, err
	}
	if err := zr.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}
