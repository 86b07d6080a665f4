// Package atomicfile replaces files so that a crash or a full disk
// leaves either the old file or the new one, never a torn mix.
package atomicfile

import (
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/clinic-ml/clinic/internal/fileutil"
)

// Write creates path's new contents by calling fill on a temporary file
// in the same directory, then fsyncs it, renames it over path and fsyncs
// the directory. The file is made readable by everyone (0644), as a
// plain create would. On any error the temporary file is removed and
// path is untouched.
//
// If path is a symbolic link, the file it points to is replaced and the
// link is kept. If path (or the link's target) exists and is not a
// regular file — a directory, a FIFO, a device — Write refuses before
// creating anything.
func Write(path string, fill func(w io.Writer) error) error {
	path, err := fileutil.Resolve(path)
	if err != nil {
		return err
	}
	if err := fileutil.CheckOutput(path); err != nil {
		return err
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+tempInfix+"*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	err = fill(f)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	// The new file is in place; a failed directory sync only weakens
	// durability, so it is reported.
	if d, err := os.Open(dir); err == nil {
		err = d.Sync()
		d.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// WriteFile writes data to path atomically.
func WriteFile(path string, data []byte) error {
	return Write(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// tempInfix marks Write's temporary files: ".NAME.tmpDIGITS".
const tempInfix = ".tmp"

// IsTemp reports whether a file name is one of Write's temporary files,
// which a killed process leaves behind.
func IsTemp(name string) bool {
	i := strings.LastIndex(name, tempInfix)
	if !strings.HasPrefix(name, ".") || i < 2 || i+len(tempInfix) == len(name) {
		return false
	}
	for _, c := range name[i+len(tempInfix):] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
