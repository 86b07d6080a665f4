// Package fileutil checks paths before they are opened, so that a wrong
// path fails at once with a one-line message instead of blocking (a
// FIFO waits for a writer, a device may never end) or replacing
// something that is not a file.
package fileutil

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// Kind describes a file mode for messages: "a directory", "a named pipe
// (FIFO)", ...
func Kind(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "a regular file"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "an irregular file"
}

// CheckRegular returns an error naming path unless st is a regular file
// of at most max bytes (max ≤ 0: no limit).
func CheckRegular(path string, st fs.FileInfo, max int64) error {
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s: is %s, not a regular file", path, Kind(st.Mode()))
	}
	if max > 0 && st.Size() > max {
		return fmt.Errorf("%s: %d bytes, over the limit of %s", path, st.Size(), sizeText(max))
	}
	return nil
}

func sizeText(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

// ReadRegular reads the file at path, refusing anything but a regular
// file of at most max bytes (max ≤ 0: no limit). It checks before
// opening, opens without blocking and checks that the opened file is the
// one examined, so neither a FIFO nor a file swapped in between can
// block. Errors are one line and name path.
func ReadRegular(path string, max int64) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, PathError(path, err)
	}
	if err := CheckRegular(path, st, max); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, PathError(path, err)
	}
	defer f.Close()
	fst, err := f.Stat()
	if err != nil {
		return nil, PathError(path, err)
	}
	if !os.SameFile(st, fst) {
		return nil, fmt.Errorf("%s: file changed while being opened", path)
	}
	if err := CheckRegular(path, fst, max); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.Grow(int(fst.Size()) + bytes.MinRead)
	r := io.Reader(f)
	if max > 0 {
		// One byte past the cap catches a file that grew since Stat.
		r = io.LimitReader(f, max+1)
	}
	if _, err := buf.ReadFrom(r); err != nil {
		return nil, PathError(path, err)
	}
	if max > 0 && int64(buf.Len()) > max {
		return nil, fmt.Errorf("%s: over the limit of %s", path, sizeText(max))
	}
	return buf.Bytes(), nil
}

// PathError is err as one line naming path, without Go's "open"/"stat"
// prefix.
func PathError(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("%s: %v", path, err)
}

// maxLinks bounds the symlinks Resolve follows.
const maxLinks = 40

// Resolve follows path while it is a symbolic link and returns the path
// of the final target, which need not exist (a dangling link resolves
// to the file it names). A path that is not a link is returned as is.
func Resolve(path string) (string, error) {
	for i := 0; i < maxLinks; i++ {
		st, err := os.Lstat(path)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return path, nil
			}
			return "", PathError(path, err)
		}
		if st.Mode()&fs.ModeSymlink == 0 {
			return path, nil
		}
		target, err := os.Readlink(path)
		if err != nil {
			return "", PathError(path, err)
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(path), target)
		}
		path = target
	}
	return "", fmt.Errorf("%s: too many levels of symbolic links", path)
}

// CheckOutput refuses an output path that exists and is not a regular
// file (a directory, a FIFO, a device), following symbolic links: a
// link is written through to its target, so the target is what must be
// a regular file or absent.
func CheckOutput(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // absent, or a dangling link: written anew
		}
		return PathError(path, err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s: is %s, not a regular file; refusing to write over it", path, Kind(st.Mode()))
	}
	return nil
}
