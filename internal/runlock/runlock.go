// Package runlock keeps two clinic processes from writing one run
// directory: Acquire takes an exclusive lock on DIR/.lock, held until
// Release or the process ends (the operating system drops it even when
// the process is killed, so a stale lock file never blocks a new run).
// On systems without flock(2) the lock is a no-op.
package runlock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/clinic-ml/clinic/internal/fileutil"
)

// Name is the lock file's name inside the run directory.
const Name = ".lock"

// ErrLocked is wrapped by Acquire's error when another process (or
// another run in this one) holds the directory.
var ErrLocked = errors.New("run directory is in use")

// Lock is a held run-directory lock.
type Lock struct{ f *os.File }

// Acquire locks dir, which must exist, without waiting: if the lock is
// held, it fails at once with an error wrapping ErrLocked that names
// the holder's process id when known.
func Acquire(dir string) (*Lock, error) {
	path := filepath.Join(dir, Name)
	// A lock file that is not a regular file (a FIFO put there) is
	// refused rather than waited on.
	f, err := fileutil.OpenWrite(path, os.O_RDWR|os.O_CREATE)
	if err != nil {
		return nil, err
	}
	if err := lock(f); err != nil {
		holder := ""
		if b, rerr := fileutil.ReadRegular(path, 64); rerr == nil {
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil {
				holder = fmt.Sprintf(" (process %d)", pid)
			}
		}
		f.Close()
		if errors.Is(err, ErrLocked) {
			return nil, fmt.Errorf("%s is in use by another run%s: %w", dir, holder, ErrLocked)
		}
		return nil, fmt.Errorf("locking %s: %v", path, err)
	}
	// Record the holder, for the message above; best effort.
	if f.Truncate(0) == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Lock{f: f}, nil
}

// Release drops the lock. The lock file stays; it is harmless.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := unlock(l.f)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	return err
}
