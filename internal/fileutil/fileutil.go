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
		return fmt.Errorf("%s: %d bytes, over the %s limit", path, st.Size(), sizeText(max))
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
	return fmt.Sprintf("%d-byte", n)
}

// OpenRegular opens path for reading, refusing anything but a regular
// file of at most max bytes (max ≤ 0: no limit). It checks before
// opening, opens without blocking and checks that the opened file is the
// one examined, so neither a FIFO nor a file swapped in between can
// block. Errors are one line and name path. A caller that streams the
// file must still bound what it reads if the file may grow.
func OpenRegular(path string, max int64) (*os.File, error) {
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
	fst, err := f.Stat()
	if err == nil && !os.SameFile(st, fst) {
		err = fmt.Errorf("%s: file changed while being opened", path)
	} else if err == nil {
		err = CheckRegular(path, fst, max)
	} else {
		err = PathError(path, err)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// MaxText is the largest text clinic reads whole: a corpus, a
// translation input, references and hypotheses, BPE input, a metrics
// log. Text is held in memory, so the cap turns a mistaken path (a disk
// image, a dataset dump, a sparse file) into a one-line error before
// anything is read, instead of memory growing until the machine gives
// out.
const MaxText int64 = 2 << 30

// ReadRegular reads the file at path as OpenRegular opens it, stopping
// one byte past max so that a file that grew since it was checked is
// refused rather than read without bound.
func ReadRegular(path string, max int64) ([]byte, error) {
	f, err := OpenRegular(path, max)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadAll(f, path, max)
}

// ReadAll reads r to its end, refusing more than max bytes (max ≤ 0: no
// limit) in one line naming name. Where r is a regular file (standard
// input redirected from one), its size is checked first, so that a file
// over max is refused before it is read.
func ReadAll(r io.Reader, name string, max int64) ([]byte, error) {
	var buf bytes.Buffer
	if f, ok := r.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			if err := CheckRegular(name, st, max); err != nil {
				return nil, err
			}
			buf.Grow(int(st.Size()) + bytes.MinRead)
		}
	}
	if max > 0 {
		r = io.LimitReader(r, max+1)
	}
	if _, err := buf.ReadFrom(r); err != nil {
		return nil, PathError(name, err)
	}
	if max > 0 && int64(buf.Len()) > max {
		return nil, fmt.Errorf("%s: over the %s limit", name, sizeText(max))
	}
	return buf.Bytes(), nil
}

// OpenWrite opens path for writing with flag (os.O_WRONLY or os.O_RDWR,
// with os.O_CREATE, os.O_APPEND or os.O_TRUNC as wanted; a new file gets
// mode 0644). Like CheckOutput it follows symbolic links and refuses a
// path that exists and is not a regular file, and it opens without
// blocking and checks what it opened, so a FIFO swapped in after the
// check cannot block either. For files written in place (a log that is
// appended to, a lock); whole files are replaced with atomicfile.
func OpenWrite(path string, flag int) (*os.File, error) {
	if err := CheckOutput(path); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, flag|syscall.O_NONBLOCK, 0o644)
	if err != nil {
		return nil, PathError(path, err)
	}
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = fmt.Errorf("%s: is %s, not a regular file; refusing to write over it", path, Kind(st.Mode()))
	} else if err != nil {
		err = PathError(path, err)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// PathError is err as one line naming path, without Go's "open"/"stat"
// prefix. It wraps the cause, so errors.Is(err, fs.ErrNotExist) holds.
func PathError(path string, err error) error {
	return fmt.Errorf("%s: %w", path, Cause(err))
}

// Cause strips the operation and path that *fs.PathError, *os.LinkError
// and *os.SyscallError add to an error, for messages that name the file
// themselves.
func Cause(err error) error {
	switch e := err.(type) {
	case *fs.PathError:
		return e.Err
	case *os.LinkError:
		return e.Err
	case *os.SyscallError:
		return e.Err
	}
	return err
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

// SameAsAny returns the first of inputs that out would write over, and
// true; or "", false. Spellings do not matter: an out that exists is
// compared with each input by file identity (os.SameFile, after
// following symbolic links, so a hard link, a symbolic link, "../w/x" and
// an absolute path all match), and an out that does not exist yet by its
// resolved absolute path (a dangling link to an input's path matches).
// Empty names never match.
func SameAsAny(out string, inputs ...string) (string, bool) {
	if out == "" {
		return "", false
	}
	ost, oerr := os.Stat(out)
	ocanon := canonical(out)
	for _, in := range inputs {
		if in == "" {
			continue
		}
		if ist, err := os.Stat(in); oerr == nil && err == nil {
			if os.SameFile(ost, ist) {
				return in, true
			}
			continue
		}
		if ocanon != "" && ocanon == canonical(in) {
			return in, true
		}
	}
	return "", false
}

// canonical is path made absolute with its symbolic links resolved as
// far as they lead to existing directories and, for its last element,
// as far as Resolve follows them; "" if that fails.
func canonical(path string) string {
	r, err := Resolve(path)
	if err != nil {
		return ""
	}
	if r, err = filepath.Abs(r); err != nil {
		return ""
	}
	if d, err := filepath.EvalSymlinks(filepath.Dir(r)); err == nil {
		return filepath.Join(d, filepath.Base(r))
	}
	return r
}
