package data

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/clinic-ml/clinic/internal/fileutil"
)

// Load reads training text from path. If path is a regular file, its
// contents are returned as they are. If path is a directory, the *.txt
// files directly inside it (not in subdirectories) are read in byte-wise
// name order and concatenated, each followed by "\n".
//
// Every error is a single line naming the offending path: a missing or
// unreadable path, a directory without .txt files, text that is not
// valid UTF-8 (with the byte offset of the first bad byte within that
// file), or an empty result.
func Load(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("data: %v", fileutil.PathError(path, err))
	}
	if !st.IsDir() {
		b, err := readText(path)
		if err != nil {
			return nil, err
		}
		if len(b) == 0 {
			return nil, fmt.Errorf("data: %s: file is empty", path)
		}
		return b, nil
	}

	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("data: %v", fileutil.PathError(path, err))
	}
	var names []string
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".txt") {
			continue
		}
		full := filepath.Join(path, e.Name())
		if e.IsDir() {
			continue
		}
		if e.Type()&fs.ModeSymlink != 0 {
			// Follow symlinks, but only to regular files.
			if fi, err := os.Stat(full); err != nil || fi.IsDir() {
				continue
			}
		}
		names = append(names, full)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("data: %s: directory has no .txt files", path)
	}
	sort.Strings(names)
	var out []byte
	text := 0
	for _, name := range names {
		b, err := readText(name)
		if err != nil {
			return nil, err
		}
		text += len(b)
		out = append(out, b...)
		out = append(out, '\n')
	}
	if text == 0 {
		return nil, fmt.Errorf("data: %s: all %d .txt files are empty", path, len(names))
	}
	return out, nil
}

// readFile reads a whole data file through fileutil.ReadRegular, the
// one place the package opens a file: a FIFO, device or directory is
// refused before it is opened, so a wrong path fails at once instead of
// hanging the run, and a file over MaxFileSize is refused before it is
// read.
func readFile(path string) ([]byte, error) {
	b, err := fileutil.ReadRegular(path, MaxFileSize)
	if err != nil {
		return nil, fmt.Errorf("data: %v", err)
	}
	return b, nil
}

// readText reads one file (readFile) and checks that it is valid UTF-8.
func readText(name string) ([]byte, error) {
	b, err := readFile(name)
	if err != nil {
		return nil, err
	}
	if off := invalidUTF8(b); off >= 0 {
		return nil, fmt.Errorf("data: %s: invalid UTF-8 at byte offset %d", name, off)
	}
	return b, nil
}

// invalidUTF8 returns the offset of the first byte of b that does not
// start a valid UTF-8 sequence, or -1 if b is valid.
func invalidUTF8(b []byte) int {
	if utf8.Valid(b) {
		return -1
	}
	for i := 0; i < len(b); {
		if b[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return -1 // unreachable: utf8.Valid said otherwise
}

// Split divides data by position: the last valFrac of the bytes is the
// validation part, the rest the training part. Because the split is by
// position, no window of one part overlaps the other; for a
// chronological corpus the validation text is the most recent. The cut
// may fall inside a multi-byte UTF-8 character, which is harmless for
// byte-level tokens. valFrac is clamped to [0, 1] (NaN counts as 0).
// Both results alias data.
func Split(data []byte, valFrac float64) (train, val []byte) {
	if !(valFrac > 0) {
		valFrac = 0
	}
	if valFrac > 1 {
		valFrac = 1
	}
	nv := int(float64(len(data)) * valFrac)
	cut := len(data) - nv
	return data[:cut:cut], data[cut:]
}

// Vocab is the size of the byte-level vocabulary.
const Vocab = 256

// Encode returns the byte-level tokens of b: one int32 per byte.
func Encode(b []byte) []int32 {
	t := make([]int32, len(b))
	for i, c := range b {
		t[i] = int32(c)
	}
	return t
}

// Decode turns byte-level tokens back into bytes. A token outside
// 0..255 cannot come from Encode; it is written as '?'.
func Decode(tokens []int32) []byte {
	var buf bytes.Buffer
	buf.Grow(len(tokens))
	for _, t := range tokens {
		if t < 0 || t >= Vocab {
			buf.WriteByte('?')
			continue
		}
		buf.WriteByte(byte(t))
	}
	return buf.Bytes()
}
