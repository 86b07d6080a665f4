package metrics

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// crc32cBitwise is CRC-32C computed bit by bit from its definition
// (reflected polynomial 0x82F63B78), independent of hash/crc32.
func crc32cBitwise(b []byte) uint32 {
	c := ^uint32(0)
	for _, x := range b {
		c ^= uint32(x)
		for range 8 {
			if c&1 != 0 {
				c = c>>1 ^ 0x82F63B78
			} else {
				c >>= 1
			}
		}
	}
	return ^c
}

// The masked CRC-32C of TFRecord: the CRC-32C check value of
// "123456789" is 0xe3069283 (RFC 3720), masked 0xc78ab0e5 (rotated
// right by 15, plus 0xa282ead8).
func TestMaskedCRC32C(t *testing.T) {
	if c := crc32cBitwise([]byte("123456789")); c != 0xe3069283 {
		t.Fatalf("the test's CRC-32C: %#x", c)
	}
	if m := maskedCRC([]byte("123456789")); m != 0xc78ab0e5 {
		t.Errorf("masked CRC-32C of 123456789: %#x, want 0xc78ab0e5", m)
	}
	for _, s := range []string{"", "a", "brain.Event:2", strings.Repeat("xyz", 1000)} {
		c := crc32cBitwise([]byte(s))
		if want := (c>>15 | c<<17) + 0xa282ead8; maskedCRC([]byte(s)) != want {
			t.Errorf("%.20q: masked CRC %#x, want %#x", s, maskedCRC([]byte(s)), want)
		}
	}
}

// A TFRecord is the length (uint64), its masked CRC, the data and the
// data's masked CRC, little-endian.
func TestRecordFraming(t *testing.T) {
	want := []byte{5, 0, 0, 0, 0, 0, 0, 0, 0xea, 0xb2, 0x04, 0x3e, 'h', 'e', 'l', 'l', 'o', 0xbb, 0x1f, 0x1c, 0x19}
	if got := appendRecord(nil, []byte("hello")); !bytes.Equal(got, want) {
		t.Errorf("record of hello:\n% x\nwant\n% x", got, want)
	}
	if got := appendRecord([]byte{1, 2}, []byte("hello")); !bytes.Equal(got[2:], want) {
		t.Error("a record appended after other bytes differs")
	}
}

// The Event protocol buffer's bytes, from event.proto: wall_time (field
// 1, fixed64 double), step (2, varint), file_version (3, bytes),
// summary (5, bytes) of Summary.value (1, bytes) of Value.tag (1,
// bytes) and simple_value (2, fixed32 float).
func TestEventBytes(t *testing.T) {
	wall := []byte{0, 0, 0, 0, 0, 0, 0xf8, 0x3f} // 1.5
	want := append(append([]byte{0x09}, wall...), 0x1a, 13)
	want = append(want, "brain.Event:2"...)
	if got := appendEvent(nil, 1.5, 0, EventsVersion, nil); !bytes.Equal(got, want) {
		t.Errorf("version event:\n% x\nwant\n% x", got, want)
	}
	value := append([]byte{0x0a, 4}, "loss"...)
	value = append(value, 0x15, 0, 0, 0x20, 0x40) // 2.5
	value2 := append([]byte{0x0a, 2}, "lr"...)
	value2 = append(value2, 0x15, 0, 0, 0x80, 0x3f) // 1
	summary := append(append([]byte{0x0a, byte(len(value))}, value...), append([]byte{0x0a, byte(len(value2))}, value2...)...)
	want = append(append([]byte{0x09}, wall...), 0x10, 0xac, 0x02) // step 300
	want = append(append(want, 0x2a, byte(len(summary))), summary...)
	if got := appendEvent(nil, 1.5, 300, "", []Scalar{{"loss", 2.5}, {"lr", 1}}); !bytes.Equal(got, want) {
		t.Errorf("scalars event:\n% x\nwant\n% x", got, want)
	}
}

// event is a decoded Event, as much as the tests need.
type event struct {
	wall    float64
	step    int64
	version string
	scalars []Scalar
}

// readEvents decodes an event file from the format's definition,
// checking every CRC.
func readEvents(t *testing.T, b []byte) []event {
	t.Helper()
	var out []event
	for len(b) > 0 {
		if len(b) < 12 {
			t.Fatalf("a torn record header: % x", b)
		}
		n := binary.LittleEndian.Uint64(b)
		if c := binary.LittleEndian.Uint32(b[8:]); c != maskedCRC(b[:8]) {
			t.Fatalf("length CRC %#x", c)
		}
		data := b[12 : 12+n]
		if c := binary.LittleEndian.Uint32(b[12+n:]); c != maskedCRC(data) {
			t.Fatalf("data CRC %#x", c)
		}
		b = b[16+n:]
		var e event
		for f := range fields(t, data) {
			switch f.num {
			case 1:
				e.wall = math.Float64frombits(binary.LittleEndian.Uint64(f.b))
			case 2:
				e.step = int64(f.v)
			case 3:
				e.version = string(f.b)
			case 5:
				for v := range fields(t, f.b) {
					var s Scalar
					for g := range fields(t, v.b) {
						if g.num == 1 {
							s.Tag = string(g.b)
						} else {
							s.Value = math.Float32frombits(binary.LittleEndian.Uint32(g.b))
						}
					}
					e.scalars = append(e.scalars, s)
				}
			}
		}
		out = append(out, e)
	}
	return out
}

type field struct {
	num int
	v   uint64
	b   []byte
}

// fields yields a message's fields (varint, fixed64, bytes, fixed32).
func fields(t *testing.T, b []byte) func(func(field) bool) {
	return func(yield func(field) bool) {
		for len(b) > 0 {
			key, n := binary.Uvarint(b)
			b = b[n:]
			f := field{num: int(key >> 3)}
			switch key & 7 {
			case wireVarint:
				f.v, n = binary.Uvarint(b)
			case wireFixed64:
				f.b, n = b[:8], 8
			case wireFixed32:
				f.b, n = b[:4], 4
			case wireBytes:
				l, m := binary.Uvarint(b)
				f.b, n = b[m:m+int(l)], m+int(l)
			default:
				t.Fatalf("wire type %d", key&7)
			}
			b = b[n:]
			if !yield(f) {
				return
			}
		}
	}
}

// A Writer teed to an event file writes each record's numbers there as
// scalars at its step (not the step, the schema or strings), after the
// file's version event; Close closes both.
func TestTeeWritesEvents(t *testing.T) {
	dir := t.TempDir()
	w, err := Create(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	ev, err := CreateEvents(filepath.Join(dir, "tb", "run"))
	if err != nil {
		t.Fatal(err)
	}
	ev.Now = func() time.Time { return time.Unix(1700000000, 500000000) }
	w.Tee(ev)
	recs := []map[string]any{
		{"schema": Schema, "step": 1, "loss": 2.0, "lr": 1e-3, "precision": "bf16", "grad_norm": 0.5},
		{"schema": Schema, "step": 2, "loss": 1.5, "lr": 2e-3, "grad_norm": 0.25, "val_loss": 1.75, "tokens_per_s": 1234.0, "stopped": "patience"},
		{"schema": Schema, "step": 3, "loss": math.NaN(), "grad_norm": 0.0, "diverged": true},
	}
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(filepath.Base(ev.Path()), "events.out.tfevents.") || filepath.Dir(ev.Path()) != filepath.Join(dir, "tb", "run") {
		t.Errorf("event file %s", ev.Path())
	}
	b, err := os.ReadFile(ev.Path())
	if err != nil {
		t.Fatal(err)
	}
	evs := readEvents(t, b)
	got := ""
	for _, e := range evs {
		got += fmt.Sprintf("%v %d %q %v\n", e.wall, e.step, e.version, e.scalars)
	}
	want := "" // the version event's wall time is the real clock
	want += fmt.Sprintf("%v 0 %q []\n", evs[0].wall, EventsVersion)
	want += "1.7000000005e+09 1 \"\" [{grad_norm 0.5} {loss 2} {lr 0.001}]\n"
	want += "1.7000000005e+09 2 \"\" [{grad_norm 0.25} {loss 1.5} {lr 0.002} {tokens_per_s 1234} {val_loss 1.75}]\n"
	want += "1.7000000005e+09 3 \"\" [{grad_norm 0} {loss NaN}]\n"
	if got != want {
		t.Errorf("events:\n%s\nwant\n%s", got, want)
	}
	if err := ev.Scalars(4, nil); err == nil {
		t.Error("a write after Close was accepted")
	}
	// Another file in the same folder is a new file, never a replaced one.
	ev2, err := CreateEvents(filepath.Join(dir, "tb", "run"))
	if err != nil {
		t.Fatal(err)
	}
	ev2.Close()
	if b2, _ := os.ReadFile(ev.Path()); ev2.Path() == ev.Path() || !bytes.Equal(b, b2) {
		t.Errorf("a second event file %s replaced the first", ev2.Path())
	}
}
