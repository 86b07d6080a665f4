package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clinic-ml/clinic/internal/hugefile"
)

// huge is the size of the files below: more than a checkpoint of these
// tests would ever be, and more than memory should hold for a refusal.
const huge = hugefile.Size

// zeros is the endless zero bytes of a sparse file.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// counter counts the bytes read through it.
type counter struct {
	r io.Reader
	n int64
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// tiled is a header (padded to 200 bytes) whose one tensor covers the
// rest of a huge-byte file exactly: consistent, so only the check of
// ReadFileFunc can refuse it before its data is read.
func tiled() []byte {
	n := (huge - 208) / 4
	h := fmt.Sprintf(`{"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[%d],"data_offsets":[0,%d]}}`, n, 4*n)
	return raw(h+strings.Repeat(" ", 200-len(h)), nil)
}

// Read checks the header length, the header and the check against the
// file's size before reading further: a huge file that is not a
// safetensors file, or whose tensors do not tile it, or that the caller
// refuses on its header, is refused having read at most its header.
func TestReadChecksHeaderFirst(t *testing.T) {
	over := binary.LittleEndian.AppendUint64(nil, MaxHeader+1)
	past := raw(`{"a":{"dtype":"F32","shape":[1000000000],"data_offsets":[0,4000000000]}}`, nil)
	refuse := func(h *File) error {
		if a := h.Get("a"); a == nil || a.Numel() != (huge-208)/4 || a.F32 != nil || h.Metadata["k"] != "v" {
			return fmt.Errorf("check got the header %+v", h)
		}
		return errors.New("refused on its header")
	}
	for _, c := range []struct {
		name  string
		head  []byte
		size  int64
		check func(*File) error
		want  string
	}{
		{"zeros (header length 0)", nil, huge, nil, "not a safetensors file"},
		{"header over the cap", over, huge, nil, "above the 104857600-byte limit"},
		{"header past the file", binary.LittleEndian.AppendUint64(nil, 1000), 100, nil, "header of 1000 bytes, 92 follow"},
		{"tensors short of the file", raw(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, nil), huge, nil, "cover 4 of the"},
		{"offsets past the file", past, 1 << 20, nil, "run past the"},
		{"refused by check", tiled(), huge, refuse, "refused on its header"},
	} {
		r := &counter{r: io.MultiReader(bytes.NewReader(c.head), zeros{})}
		_, err := Read(r, c.size, c.check)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %v, want one line containing %q", c.name, err, c.want)
		}
		if limit := max(8, int64(len(c.head))); r.n > limit {
			t.Errorf("%s: read %d bytes before refusing, want at most the %d of the header", c.name, r.n, limit)
		}
	}
}

// ReadFile refuses a huge sparse file on its first bytes, naming it,
// without reading it whole; ReadFileFunc's check sees the header first.
func TestReadFileHugeSparse(t *testing.T) {
	stop := time.AfterFunc(20*time.Second, func() { panic("a huge file is still being read after 20 s") })
	defer stop.Stop()
	dir := t.TempDir()
	for _, c := range []struct {
		head  []byte
		check func(*File) error
		want  string
	}{
		{nil, nil, "not a safetensors file"},
		{raw(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, nil), nil, "cover 4 of the"},
		{tiled(), func(*File) error { return errors.New("refused on its header") }, "refused on its header"},
	} {
		p := filepath.Join(dir, "huge.safetensors")
		hugefile.Make(t, p, c.head)
		var err error
		a := hugefile.Allocated(func() { _, err = ReadFileFunc(p, c.check) })
		if err == nil || !strings.Contains(err.Error(), c.want) || c.check == nil && !strings.Contains(err.Error(), p) {
			t.Errorf("error %v, want one naming %s and containing %q", err, p, c.want)
		}
		if a > 64<<20 {
			t.Errorf("%q: %d MiB allocated to refuse the file", c.want, a>>20)
		}
	}
}

// ReadFile refuses what Decode refuses, naming the file.
func TestReadFileErrorsAsDecode(t *testing.T) {
	dir := t.TempDir()
	for _, c := range decodeErrors {
		p := filepath.Join(dir, "bad.safetensors")
		if err := os.WriteFile(p, c.b, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := ReadFile(p)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), p) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %v, want one line naming %s and containing %q", c.name, err, p, c.want)
		}
	}
}
