package plot

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// On a full disk (a small tmpfs, when the test may mount one) Save
// fails and an earlier figure is left whole.
func TestSaveFullDiskKeepsOldFigure(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=8k"); err != nil {
		t.Skip("cannot mount a tmpfs:", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, 0) })
	old := []byte("old figure")
	os.WriteFile(filepath.Join(dir, "f.png"), old, 0o644)
	c := &LineChart{Title: "t", Series: []Series{{Label: "a", X: []float64{1, 2}, Y: []float64{1, 2}}}}
	if _, err := c.Save(dir, "f"); err == nil {
		t.Fatal("a figure larger than the disk was saved")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "f.png")); string(b) != string(old) {
		t.Errorf("the old figure was torn: %d bytes", len(b))
	}
}
