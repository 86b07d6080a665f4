package metrics

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/clinic-ml/clinic/internal/fileutil"
)

// TensorBoard's event files, written with the standard library alone.
// An event file is a sequence of TFRecords, each
//
//	uint64 length, uint32 masked CRC-32C of those 8 bytes,
//	data, uint32 masked CRC-32C of the data
//
// (little-endian; the mask is TensorFlow's, crc32.go: rotate right by 15
// bits, add 0xa282ead8), and each record's data is an Event protocol
// buffer (tensorflow/core/util/event.proto): the first holds
// file_version "brain.Event:2", each later one a step's scalars as a
// Summary of Values (tag, simple_value). Only the fields written are
// encoded here: Event.wall_time (1, double), step (2, int64),
// file_version (3, string), summary (5, Summary); Summary.value (1,
// repeated Value); Value.tag (1, string), simple_value (2, float).

// EventsVersion is the file_version of the first event of a file.
const EventsVersion = "brain.Event:2"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// maskedCRC is the masked CRC-32C of b, as TFRecord stores it: a CRC of
// data that holds CRCs is weak, so the stored value is transformed.
func maskedCRC(b []byte) uint32 {
	c := crc32.Checksum(b, castagnoli)
	return (c>>15 | c<<17) + 0xa282ead8
}

// appendRecord appends data framed as one TFRecord.
func appendRecord(dst, data []byte) []byte {
	n := len(dst)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(len(data)))
	dst = binary.LittleEndian.AppendUint32(dst, maskedCRC(dst[n:n+8]))
	dst = append(dst, data...)
	return binary.LittleEndian.AppendUint32(dst, maskedCRC(data))
}

// Protocol buffer wire types.
const (
	wireVarint  = 0
	wireFixed64 = 1
	wireBytes   = 2
	wireFixed32 = 5
)

func appendKey(b []byte, field, wire int) []byte {
	return binary.AppendUvarint(b, uint64(field<<3|wire))
}

func appendBytes(b []byte, field int, v []byte) []byte {
	b = appendKey(b, field, wireBytes)
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

// A Scalar is one value of a step's summary.
type Scalar struct {
	Tag   string
	Value float32
}

// appendEvent appends the Event of wall (seconds since 1970), step and
// either version (the first event) or scalars. Fields at their default
// (step 0, no scalars) are left out, as proto3 encoders do.
func appendEvent(b []byte, wall float64, step int64, version string, scalars []Scalar) []byte {
	b = appendKey(b, 1, wireFixed64)
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(wall))
	if step != 0 {
		b = appendKey(b, 2, wireVarint)
		b = binary.AppendUvarint(b, uint64(step)) // int64: two's complement
	}
	if version != "" {
		b = appendBytes(b, 3, []byte(version))
	}
	if len(scalars) > 0 {
		var sum, val []byte
		for _, s := range scalars {
			val = appendBytes(val[:0], 1, []byte(s.Tag))
			val = appendKey(val, 2, wireFixed32)
			val = binary.LittleEndian.AppendUint32(val, math.Float32bits(s.Value))
			sum = appendBytes(sum, 1, val)
		}
		b = appendBytes(b, 5, sum)
	}
	return b
}

// EventWriter writes one TensorBoard event file. It is not safe for
// concurrent use (Writer serializes its calls).
type EventWriter struct {
	f         io.WriteCloser
	path      string
	rec, data []byte
	// Now is the clock of the events' wall_time (tests fix it).
	Now func() time.Time
}

// CreateEvents creates a new event file in dir (created if needed),
// named as TensorBoard expects (events.out.tfevents.<time>.<host>,
// with the process id to keep two runs apart), and writes its version
// event. It never replaces a file.
func CreateEvents(dir string) (*EventWriter, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("tensorboard: %s: %w", dir, fileutil.Cause(err))
	}
	host, _ := os.Hostname()
	now := time.Now()
	base := filepath.Join(dir, fmt.Sprintf("events.out.tfevents.%d.%s.%d", now.Unix(), host, os.Getpid()))
	path := base
	f, err := fileutil.OpenWrite(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND)
	// A run started again within the second (a resume) gets a name of
	// its own.
	for n := 1; errors.Is(err, fs.ErrExist) && n < 100; n++ {
		path = fmt.Sprintf("%s.%d", base, n)
		f, err = fileutil.OpenWrite(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND)
	}
	if err != nil {
		return nil, fmt.Errorf("tensorboard: %w", err)
	}
	e := &EventWriter{f: f, path: path, Now: time.Now}
	if err := e.write(0, EventsVersion, nil); err != nil {
		f.Close()
		return nil, err
	}
	return e, nil
}

// Path is the event file's path.
func (e *EventWriter) Path() string { return e.path }

// Scalars writes the scalars of step as one event, in the order given.
func (e *EventWriter) Scalars(step int, scalars []Scalar) error {
	return e.write(int64(step), "", scalars)
}

func (e *EventWriter) write(step int64, version string, scalars []Scalar) error {
	if e.f == nil {
		return fmt.Errorf("tensorboard: %s: write after Close", e.path)
	}
	wall := float64(e.Now().UnixNano()) / 1e9
	e.data = appendEvent(e.data[:0], wall, step, version, scalars)
	e.rec = appendRecord(e.rec[:0], e.data)
	if _, err := e.f.Write(e.rec); err != nil {
		return fmt.Errorf("tensorboard: %s: %w", e.path, fileutil.Cause(err))
	}
	return nil
}

// Close closes the file (once; later calls, and calls on nil, do
// nothing).
func (e *EventWriter) Close() error {
	if e == nil || e.f == nil {
		return nil
	}
	f := e.f
	e.f = nil
	if s, ok := f.(interface{ Sync() error }); ok {
		if err := s.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
			f.Close()
			return fmt.Errorf("tensorboard: %s: sync: %w", e.path, fileutil.Cause(err))
		}
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("tensorboard: %s: close: %w", e.path, fileutil.Cause(err))
	}
	return nil
}

// recordScalars are a metrics record's numbers as TensorBoard scalars,
// by tag in name order; the step, the schema and the time (the event's
// own wall_time) are not scalars, and a
// non-finite number (a diverged loss) goes as its float32.
func recordScalars(rec map[string]any) (step int, scalars []Scalar, ok bool) {
	s, ok := rec["step"].(int)
	if !ok {
		return 0, nil, false
	}
	for k, v := range rec {
		var x float64
		switch n := v.(type) {
		case float64:
			x = n
		case int:
			x = float64(n)
		default:
			continue
		}
		if k != "step" && k != "schema" && k != "time" {
			scalars = append(scalars, Scalar{k, float32(x)})
		}
	}
	slices.SortFunc(scalars, func(a, b Scalar) int { return strings.Compare(a.Tag, b.Tag) })
	return s, scalars, true
}
