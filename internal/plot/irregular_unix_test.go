//go:build unix

package plot

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A figure whose path is a FIFO or a link to /dev/full is refused at
// once, with nothing written (a FIFO used to swallow the figure, or
// block once the PNG outgrew the pipe's buffer; /dev/full was written
// to); a link to a regular file is written through, atomically.
func TestSaveRefusesIrregular(t *testing.T) {
	dir := t.TempDir()
	c := &LineChart{Title: "t", Series: []Series{{Label: "a", X: []float64{1, 2}, Y: []float64{1, 2}}}}
	fifo := filepath.Join(dir, "fifo.png")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skip("no FIFO:", err)
	}
	if err := os.Symlink("/dev/full", filepath.Join(dir, "full.svg")); err != nil {
		t.Skip("no symlinks:", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, base := range []string{"fifo", "full"} {
			names, err := c.Save(dir, base)
			if err == nil || !strings.Contains(err.Error(), "not a regular file") || strings.Contains(err.Error(), "\n") {
				t.Errorf("%s: got %v, %v; want a one-line refusal", base, names, err)
			}
			if _, err := os.Stat(filepath.Join(dir, base+".png")); base == "full" && err == nil {
				t.Errorf("%s.png written although %s.svg was refused", base, base)
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Save blocked on a FIFO")
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
	// A link to a regular file: the target is replaced, the link kept.
	os.WriteFile(filepath.Join(dir, "target.png"), []byte("old"), 0o644)
	os.Symlink("target.png", filepath.Join(dir, "linked.png"))
	if _, err := c.Save(dir, "linked"); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Lstat(filepath.Join(dir, "linked.png")); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Errorf("link replaced: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "target.png")); !strings.HasPrefix(string(b), "\x89PNG") {
		t.Errorf("target not written through the link: %.8q", b)
	}
}
