// Package metrics writes training metrics as JSON lines: one JSON
// object per line, each line handed to the operating system as soon as
// it is written, so a crash of the process loses no finished line. A
// line reaches the file whole or not at all: a failed write (a full
// disk) is cut back off, and a torn last line left by a crash is cut
// off when the file is opened for appending.
package metrics

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sync"

	"github.com/clinic-ml/clinic/internal/fileutil"
)

// Schema is the version of the records a training run writes in its
// metrics.jsonl, their "schema" field (README.md, "metrics.jsonl"
// lists the fields). Every record carries it, so that a record read
// alone (the last whole line of a file being written, the lines a
// resumed run keeps) says what it holds. Records written before the
// field existed have none: they are version 0, the same fields as 1.
// Fields may be added within a version; the version changes when a
// field changes its meaning or unit, or goes.
const Schema = 1

// Writer appends JSON objects to a file, one per line. It is safe for
// use by several goroutines.
type Writer struct {
	mu   sync.Mutex
	f    file
	path string
	buf  bytes.Buffer
	size int64 // bytes of whole lines in the file
	// events, when set (Tee), also gets each record's numbers.
	events *EventWriter
}

// Tee makes every later record of w go to e too, as TensorBoard
// scalars at its step (records of type map[string]any with an int
// "step"); Close closes e.
func (w *Writer) Tee(e *EventWriter) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.events = e
}

// file is what Writer needs of an *os.File (tests inject failures).
type file interface {
	io.Writer
	Truncate(size int64) error
	Sync() error
	Close() error
}

// Create creates (or truncates) the metrics file at path, creating its
// parent directory if needed.
func Create(path string) (*Writer, error) {
	return open(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC|os.O_APPEND)
}

// Append opens the metrics file at path for appending, creating it (and
// its parent directory) if needed; for a run resumed from a checkpoint.
// A last line without its newline, torn by a crash or a full disk, is
// cut off first.
func Append(path string) (*Writer, error) {
	return open(path, os.O_RDWR|os.O_CREATE|os.O_APPEND)
}

func open(path string, flag int) (*Writer, error) {
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("metrics: %s: %w", path, fileutil.Cause(err))
		}
	}
	f, err := fileutil.OpenWrite(path, flag)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	// Both modes append, so that a write after a partial line was cut
	// off lands at the new end of the file, not after a hole.
	size, err := wholeLines(f)
	if err == nil {
		err = f.Truncate(size)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("metrics: %s: %w", path, fileutil.Cause(err))
	}
	return &Writer{f: f, path: path, size: size}, nil
}

// wholeLines returns the length of f up to and including its last
// newline.
func wholeLines(f *os.File) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	end := st.Size()
	buf := make([]byte, 4096)
	for end > 0 {
		n := int64(len(buf))
		if n > end {
			n = end
		}
		if _, err := f.ReadAt(buf[:n], end-n); err != nil {
			return 0, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			return end - n + int64(i) + 1, nil
		}
		end -= n
	}
	return 0, nil
}

// Path returns the file's path.
func (w *Writer) Path() string { return w.path }

// Write appends v, which must marshal to a JSON object (a struct or a
// map), as one line, and writes the line to the file at once. Non-finite
// float64 and float32 values inside maps and slices of type any (as in
// map[string]any) are written as the strings "NaN", "Infinity" and
// "-Infinity", since JSON has no numbers for them; a diverged loss is
// thus still logged.
func (w *Writer) Write(v any) error {
	b, err := json.Marshal(v)
	var uve *json.UnsupportedValueError
	if errors.As(err, &uve) {
		b, err = json.Marshal(sanitize(v))
	}
	if err != nil {
		return fmt.Errorf("metrics: %s: %v", w.path, err)
	}
	if len(b) == 0 || b[0] != '{' {
		return fmt.Errorf("metrics: %s: record is not a JSON object: %.40s", w.path, b)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return fmt.Errorf("metrics: %s: write after Close", w.path)
	}
	w.buf.Reset()
	w.buf.Write(b)
	w.buf.WriteByte('\n')
	n, err := w.f.Write(w.buf.Bytes())
	if err == nil && n != w.buf.Len() {
		err = io.ErrShortWrite
	}
	if err != nil {
		// Cut the partial line back off, so the file holds whole
		// records only.
		if terr := w.f.Truncate(w.size); terr != nil {
			return fmt.Errorf("metrics: %s: %w (and removing the partial line failed: %v)", w.path, fileutil.Cause(err), fileutil.Cause(terr))
		}
		return fmt.Errorf("metrics: %s: %w (the record was not written)", w.path, fileutil.Cause(err))
	}
	w.size += int64(n)
	if m, ok := v.(map[string]any); ok && w.events != nil {
		if step, scalars, ok := recordScalars(m); ok {
			return w.events.Scalars(step, scalars)
		}
	}
	return nil
}

// sanitize replaces non-finite floats in generic JSON-like values.
func sanitize(v any) any {
	switch x := v.(type) {
	case float64:
		return finite(x)
	case float32:
		return finite(float64(x))
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = sanitize(e)
		}
		return m
	case map[string]float64:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = finite(e)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = sanitize(e)
		}
		return s
	case []float64:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = finite(e)
		}
		return s
	}
	return v
}

func finite(x float64) any {
	switch {
	case math.IsNaN(x):
		return "NaN"
	case math.IsInf(x, 1):
		return "Infinity"
	case math.IsInf(x, -1):
		return "-Infinity"
	}
	return x
}

// Close syncs and closes the file. Further Writes fail; Close may be
// called more than once.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	f := w.f
	w.f = nil
	eerr := w.events.Close()
	serr := f.Sync()
	cerr := f.Close()
	if serr != nil && !errors.Is(serr, os.ErrInvalid) {
		return fmt.Errorf("metrics: %s: sync: %w", w.path, fileutil.Cause(serr))
	}
	if cerr != nil {
		return fmt.Errorf("metrics: %s: close: %w", w.path, fileutil.Cause(cerr))
	}
	return eerr
}

// ReadAll reads a JSON-lines file into one map per line, numbers as
// float64. Blank lines are skipped. A last line that has no newline and
// does not parse is taken as cut short by a crash and ignored; any other
// bad line is an error naming the file and line.
func ReadAll(path string) ([]map[string]any, error) {
	f, err := fileutil.OpenRegular(path, fileutil.MaxText)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	defer f.Close()
	// The cap is checked on opening; the limit keeps a file that grows
	// meanwhile (a run still writing it) from being read without bound.
	r := bufio.NewReader(io.LimitReader(f, fileutil.MaxText))
	var out []map[string]any
	for n := 1; ; n++ {
		line, err := r.ReadBytes('\n')
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("metrics: %s: %w", path, fileutil.Cause(err))
		}
		complete := err == nil
		if t := bytes.TrimSpace(line); len(t) > 0 {
			var m map[string]any
			if jerr := json.Unmarshal(t, &m); jerr != nil || m == nil {
				if !complete {
					break // truncated last line
				}
				return nil, fmt.Errorf("metrics: %s:%d: not a JSON object", path, n)
			}
			out = append(out, m)
		}
		if !complete {
			break
		}
	}
	return out, nil
}
