package model

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clinic-ml/clinic/internal/hugefile"
)

// A huge sparse file given as a checkpoint is refused on its header,
// without its data being read: a file of zeros (header length 0), and a
// well-formed checkpoint whose header adds a tensor its model does not
// have, covering the rest of the file.
func TestLoadCheckpointHugeSparse(t *testing.T) {
	const huge = hugefile.Size
	stop := time.AfterFunc(20*time.Second, func() { panic("a huge checkpoint is still being read after 20 s") })
	defer stop.Stop()
	_, dir, ok := savedCheckpoint(t)
	b, err := os.ReadFile(ok)
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(b)
	data := b[8+n:]
	var hdr map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &hdr); err != nil {
		t.Fatal(err)
	}
	// The extra tensor's sizes have as many digits whatever the header's
	// length, so the header's length is known before they are.
	extra := func(k int) []byte {
		hdr["zzz"] = json.RawMessage(fmt.Sprintf(`{"dtype":"F32","shape":[%d],"data_offsets":[%d,%d]}`, k, len(data), len(data)+4*k))
		h, _ := json.Marshal(hdr)
		return h
	}
	h := len(extra(huge/4)) + 8
	h -= h % 8
	crafted := binary.LittleEndian.AppendUint64(nil, uint64(h))
	crafted = append(append(crafted, extra((huge-8-h-len(data))/4)...), strings.Repeat(" ", 8)...)[:8+h]
	crafted = append(crafted, data...)

	for _, c := range []struct {
		head []byte
		want string
	}{
		{nil, "not a safetensors file"},
		{crafted, `unexpected tensor "zzz"`},
	} {
		path := filepath.Join(dir, "huge.safetensors")
		hugefile.Make(t, path, c.head)
		var err error
		a := hugefile.Allocated(func() { _, _, err = LoadCheckpoint(path) })
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("error %v, want one line naming %s and containing %s", err, path, c.want)
		}
		if a > 64<<20 {
			t.Errorf("%s: %d MiB allocated to refuse the file", c.want, a>>20)
		}
	}
}
