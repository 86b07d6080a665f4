package train

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clinic-ml/clinic/internal/hugefile"
)

// A run's trainer state and metrics that are huge sparse files are
// refused at once, naming them: the state on its header (a file of
// zeros; a safetensors file of the right size but not a trainer state),
// the metrics on their size.
func TestHugeRunFilesRefused(t *testing.T) {
	stop := time.AfterFunc(20*time.Second, func() { panic("a huge file is still being read after 20 s") })
	defer stop.Stop()
	other := hugefile.Tiling(t, nil)
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
		hugefile.Make(t, path, c.head)
		var err error
		a := hugefile.Allocated(func() { err = c.read(path) })
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %v, want one line naming it and containing %q", c.name, err, c.want)
		}
		if a > 64<<20 {
			t.Errorf("%s: %d MiB allocated to refuse it", c.name, a>>20)
		}
	}
}
