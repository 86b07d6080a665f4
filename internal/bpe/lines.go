package bpe

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/clinic-ml/clinic/internal/fileutil"
)

// ReadLines calls fn with each line of the file at path (without its
// "\n"), numbered from 1, and rejects text that is not UTF-8 by file and
// line, since a vocabulary learned from mis-decoded text is silently bad.
func ReadLines(path string, fn func(n int, line string) error) error {
	b, err := fileutil.ReadRegular(path, fileutil.MaxText)
	if err != nil {
		return err
	}
	if strings.HasSuffix(path, ".gz") {
		z, err := gzip.NewReader(bytes.NewReader(b))
		if err == nil {
			// The cap holds for the text, not only the file: a small
			// file can decompress without bound.
			b, err = io.ReadAll(io.LimitReader(z, fileutil.MaxText+1))
		}
		if err != nil {
			return fmt.Errorf("%s: not readable as gzip: %v", path, err)
		}
		if int64(len(b)) > fileutil.MaxText {
			return fmt.Errorf("%s: over the %d GiB limit once decompressed", path, fileutil.MaxText>>30)
		}
	}
	text := strings.TrimSuffix(string(b), "\n")
	if text == "" {
		return nil
	}
	for n, line := range strings.Split(text, "\n") {
		if !utf8.ValidString(line) {
			return fmt.Errorf("%s:%d: invalid UTF-8", path, n+1)
		}
		if err := fn(n+1, line); err != nil {
			return err
		}
	}
	return nil
}

// CorpusLines are the lines to learn codes from: every line of files,
// and, of the TSV file tsv (if not ""), the fields in columns cols
// (1-based). Unless colsGiven, every line of tsv has as many fields as
// the first: a stray tab would shift a column.
func CorpusLines(files []string, tsv string, cols []int, colsGiven bool) ([]string, error) {
	var lines []string
	for _, path := range files {
		err := ReadLines(path, func(n int, line string) error {
			lines = append(lines, line)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if tsv != "" {
		first, firstLine := 0, 0
		err := ReadLines(tsv, func(n int, line string) error {
			if line == "" {
				return nil
			}
			f := strings.Split(line, "\t")
			switch {
			case colsGiven:
			case first == 0:
				first, firstLine = len(f), n
			case len(f) != first:
				return fmt.Errorf("%s:%d: %d tab-separated fields, line %d has %d (a stray tab?): fix the line, or give --columns to read only those columns",
					tsv, n, len(f), firstLine, first)
			}
			for _, c := range cols {
				if c > len(f) {
					return fmt.Errorf("%s:%d: %d columns, --columns wants column %d", tsv, n, len(f), c)
				}
				lines = append(lines, f[c-1])
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return lines, nil
}

// EachLine calls fn with each line of in (named name in errors),
// without its "\n". Input is streamed, so it may be of any size, but a
// line is held whole: one over max bytes (a disk image or a sparse file
// of zeros redirected in has no newline) is refused once that much is
// read, rather than read without bound.
func EachLine(in io.Reader, name string, max int64, fn func(n int, line string) error) error {
	r := bufio.NewReader(in)
	var buf []byte
	for n := 1; ; n++ {
		buf = buf[:0]
		var err error
		for {
			var part []byte
			part, err = r.ReadSlice('\n')
			if int64(len(buf)+len(part)) > max {
				return fmt.Errorf("%s:%d: line over the %d-byte limit", name, n, max)
			}
			buf = append(buf, part...)
			if err != bufio.ErrBufferFull {
				break
			}
		}
		if len(buf) > 0 {
			if ferr := fn(n, strings.TrimSuffix(string(buf), "\n")); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %v", name, err)
		}
	}
}

// ParseIDs appends the ids of a line of decimal ids separated by spaces
// to buf, each checked to be in [0, size).
func ParseIDs(buf []int32, line string, size int) ([]int32, error) {
	for _, f := range strings.Split(line, " ") {
		if f == "" {
			continue
		}
		id, err := strconv.ParseInt(f, 10, 32)
		if err != nil || id < 0 || id >= int64(size) {
			return nil, fmt.Errorf("%.20q is not an id in [0, %d)", f, size)
		}
		buf = append(buf, int32(id))
	}
	return buf, nil
}

// FormatIDs writes ids as decimal numbers separated by spaces (what
// ParseIDs reads).
func FormatIDs(ids []int32) string {
	var b strings.Builder
	for i, x := range ids {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.Itoa(int(x)))
	}
	return b.String()
}
