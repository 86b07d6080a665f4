package train

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// A run's trainer state and metrics that are huge sparse files are
// refused at once, naming them: the state on its header (a file of
// zeros; a safetensors file of the right size but not a trainer state),
// the metrics on their size.
func TestHugeRunFilesRefused(t *testing.T) {
	const huge = 3 << 30
	stop := time.AfterFunc(20*time.Second, func() { panic("a huge file is still being read after 20 s") })
	defer stop.Stop()
	k := (huge - 136) / 4
	h := fmt.Sprintf(`{"a":{"dtype":"F32","shape":[%d],"data_offsets":[0,%d]}}`, k, 4*k)
	other := append(binary.LittleEndian.AppendUint64(nil, 128), h+strings.Repeat(" ", 128-len(h))...)
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		head []byte
		read func(string) error
		want string
	}{
		{"trainer_state.safetensors", nil, func(p string) error { _, err := ReadState(p); return err }, "not a safetensors file"},
		{"trainer_state.safetensors", other, func(p string) error { _, err := ReadState(p); return err }, `format "", want`},
		{"metrics.jsonl", nil, func(p string) error { return TruncateMetrics(p, 1) }, "over the 2 GiB limit"},
	} {
		path := filepath.Join(dir, c.name)
		if err := os.WriteFile(path, c.head, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(path, huge); err != nil {
			t.Fatal(err)
		}
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		err := c.read(path)
		runtime.ReadMemStats(&m1)
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %v, want one line naming it and containing %q", c.name, err, c.want)
		}
		if a := m1.TotalAlloc - m0.TotalAlloc; a > 64<<20 {
			t.Errorf("%s: %d MiB allocated to refuse it", c.name, a>>20)
		}
	}
}
