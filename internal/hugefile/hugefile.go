// Package hugefile makes the huge sparse files the tests of refusals
// read: a disk image or a dump given by mistake, or a file of zeros,
// costing no disk. Test support only; no command imports it.
package hugefile

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/clinic-ml/clinic/internal/fileutil"
)

// Size is the size of the files: over the 2 GiB cap on text, more than
// any checkpoint of the tests, and far more than a refusal should read.
const Size = 3 << 30

// Make replaces path with a sparse file of Size bytes that begins with
// head (nil: all zeros).
func Make(t testing.TB, path string, head []byte) {
	t.Helper()
	f, err := fileutil.OpenWrite(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err == nil {
		_, err = f.Write(head)
		if err == nil {
			err = f.Truncate(Size)
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		t.Fatal(err)
	}
}

// Tiling is the head of a well-formed safetensors file of Size bytes
// with metadata meta (nil: none) and one tensor "a" covering all its
// data: a file only its header can tell is not the one wanted.
func Tiling(t testing.TB, meta map[string]string) []byte {
	t.Helper()
	m := ""
	if meta != nil {
		b, err := json.Marshal(meta)
		if err != nil {
			t.Fatal(err)
		}
		m = `"__metadata__":` + string(b) + ","
	}
	h := fmt.Sprintf(`{%s"a":{"dtype":"F32","shape":[%d],"data_offsets":[0,%d]}}`, m, Size/4, Size)
	n := (len(h) + 7) / 8 * 8
	k := (Size - 8 - n) / 4 // as many digits as Size/4
	h = fmt.Sprintf(`{%s"a":{"dtype":"F32","shape":[%d],"data_offsets":[0,%d]}}`, m, k, 4*k)
	return append(binary.LittleEndian.AppendUint64(nil, uint64(n)), h+strings.Repeat(" ", n-len(h))...)
}

// Allocated runs f and returns the bytes the process allocated
// meanwhile.
func Allocated(f func()) uint64 {
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	f()
	runtime.ReadMemStats(&m1)
	return m1.TotalAlloc - m0.TotalAlloc
}
