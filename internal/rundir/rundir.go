// Package rundir keeps the directories clinic writes: a training run's
// (prepared and locked for the run's whole length, a previous run's
// files removed only with --overwrite and only once the new run is sure
// to start) and a sweep's folder (its runs, and the flags a continued
// sweep must repeat). It says which files are results, so that no
// command writes over another's.
package rundir

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/clinic-ml/clinic/internal/atomicfile"
	"github.com/clinic-ml/clinic/internal/fileutil"
	"github.com/clinic-ml/clinic/internal/limits"
	"github.com/clinic-ml/clinic/internal/runlock"
	"github.com/clinic-ml/clinic/internal/train"
)

// SweepFlagsFile records the flags of a sweep, which --continue must
// repeat.
const SweepFlagsFile = "sweep_flags.json"

// maxSmallFile bounds the flags file read back.
const maxSmallFile = 64 << 20

// RunFile matches the files a training run writes in its directory;
// --overwrite removes them all, so that a directory never mixes runs.
var RunFile = regexp.MustCompile(`^(model\.safetensors|model_best\.safetensors|checkpoint[0-9]*\.safetensors|metrics\.jsonl|admin_profile\.json|bpe\.codes|trainer_state.*|result\.json)$`)

// HeldRun matches the files whose presence means the directory holds a
// run (admin_profile.json and bpe.codes may be inputs put there).
var HeldRun = regexp.MustCompile(`^(model\.safetensors|model_best\.safetensors|checkpoint[0-9]*\.safetensors|metrics\.jsonl|trainer_state.*)$`)

// ResultFile matches what a run leaves in its directory: an analysis's
// report and its data and figures, a sweep's runs and flags, a training
// run's checkpoints and metrics.
var ResultFile = regexp.MustCompile(`^(report\.md|runs|sweep_flags\.json|result\.json|(change|grads|dependency|lr_range|scaling|sweep|sweep_curves)(_[^/]*)?\.(csv|png|svg))$`)

// IsResult is whether a file named name is a result (ResultFile) or
// holds a run (HeldRun).
func IsResult(name string) bool { return ResultFile.MatchString(name) || HeldRun.MatchString(name) }

// Prepare makes dir ready for one run and locks it for the run's
// whole length: a second run into it fails at once. Without overwrite a
// directory that already holds a run is a usage error; with it the
// previous run's files (except the paths in keep, which are this run's
// inputs) are removed by the returned clear, which the run calls only
// once it is sure to start (its data loaded, its config valid, its
// memory checked): a run that fails before loses nothing. Temporary
// files of killed saves are removed, and the directory is checked
// writable now rather than at the first save. The returned release
// releases the lock.
func Prepare(dir string, overwrite bool, keep ...string) (release func(), clear func() error, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("run directory: %v", err)
	}
	if !overwrite {
		// Nor another command's results: a run written into a sweep's
		// or an analysis's folder mixed with it (analyses refuse a run's
		// folder likewise). runs/ is allowed: it is the default parent
		// of run directories.
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if ResultFile.MatchString(e.Name()) && e.Name() != "runs" {
				return nil, nil, limits.Usagef("%s already holds results (%s); pass --overwrite to write the run there anyway, or --out to start it elsewhere", dir, e.Name())
			}
		}
	}
	release, err = lockDir(dir, func() error { return clean(dir, overwrite, HeldRun, nil, keep) })
	if err != nil {
		return nil, nil, err
	}
	cleared := !overwrite
	return release, func() error {
		if cleared {
			return nil
		}
		cleared = true
		return clean(dir, true, nil, RunFile, keep)
	}, nil
}

// Lock takes the lock of a run directory whose run resumes (or a
// sweep that continues): its files stay, only the temporary files of
// killed saves go.
func Lock(dir string) (func(), error) {
	return lockDir(dir, func() error { return clean(dir, false, nil, RunFile, nil) })
}

// lockDir locks dir, then runs clean; it returns the function that
// releases the lock, or releases it at once if clean fails.
func lockDir(dir string, clean func() error) (func(), error) {
	l, err := runlock.Acquire(dir)
	if err != nil {
		return nil, err
	}
	release := func() { l.Release() }
	if err := clean(); err != nil {
		release()
		return nil, err
	}
	return release, nil
}

// clean refuses (without overwrite) a directory with a file
// matching held (if not nil), removes (with overwrite) the files matching
// remove (if not nil) and always the temporary files of killed saves,
// then checks that dir and its checkpoint path are writable.
func clean(dir string, overwrite bool, held, remove *regexp.Regexp, keep []string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("run directory: %v", err)
	}
	if !overwrite && held != nil {
		for _, e := range ents {
			if held.MatchString(e.Name()) {
				return limits.Usagef("%s already holds a run (%s); pass --overwrite to replace it, or --out to start another", dir, e.Name())
			}
		}
	}
	// The trainer state first: a kill while removing the run leaves no
	// state, so nothing resumes a run that is half gone.
	later := func(e os.DirEntry) int {
		if strings.HasPrefix(e.Name(), train.StateFile) {
			return 0
		}
		return 1
	}
	slices.SortStableFunc(ents, func(a, b os.DirEntry) int { return later(a) - later(b) })
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		if !(atomicfile.IsTemp(e.Name()) || overwrite && remove != nil && remove.MatchString(e.Name())) || isOneOf(p, keep) {
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing the previous run's %v", fileutil.PathError(p, err))
		}
	}
	return checkWritable(dir)
}

// checkWritable creates and removes a probe file in dir and checks that
// the checkpoint path is not something a save cannot replace.
func checkWritable(dir string) error {
	f, err := os.CreateTemp(dir, ".probe.tmp")
	if err != nil {
		return fmt.Errorf("run directory %s is not writable: %v", dir, fileutil.Cause(err))
	}
	name := f.Name()
	f.Close()
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("run directory %s: %v", dir, fileutil.Cause(err))
	}
	return fileutil.CheckOutput(filepath.Join(dir, "model.safetensors"))
}

func isOneOf(p string, paths []string) bool {
	st, err := os.Stat(p)
	if err != nil {
		return false
	}
	for _, q := range paths {
		if q == "" {
			continue
		}
		if qs, err := os.Stat(q); err == nil && os.SameFile(st, qs) {
			return true
		}
	}
	return false
}

// sweepFile matches what 'clinic analyze sweep' writes at the top of its
// directory.
var sweepFile = regexp.MustCompile(`^(report\.md|sweep\.csv|sweep_curves\.(csv|png|svg)|bpe\.codes|sweep_flags\.json)$`)

// prepareSweep is Prepare for a sweep: an earlier sweep
// (report.md or runs/) is refused without overwrite and removed with
// it, run by run.
func prepareSweep(dir string, overwrite bool, keep ...string) (func(), error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("sweep directory: %v", err)
	}
	return lockDir(dir, func() error { return cleanSweep(dir, overwrite, keep) })
}

func cleanSweep(dir string, overwrite bool, keep []string) error {
	held := regexp.MustCompile(`^(report\.md|runs)$`)
	if err := clean(dir, overwrite, held, sweepFile, keep); err != nil {
		return err
	}
	runs := filepath.Join(dir, "runs")
	ents, err := os.ReadDir(runs)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sweep directory: %v", err)
	}
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		sub := filepath.Join(runs, e.Name())
		if err := clean(sub, true, HeldRun, RunFile, keep); err != nil {
			return err
		}
		os.Remove(filepath.Join(sub, runlock.Name))
		os.Remove(sub) // only if now empty
	}
	os.Remove(runs) // only if now empty
	return nil
}

func saveFlags(dir string, flags map[string]string) error {
	b, err := json.MarshalIndent(flags, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, SweepFlagsFile), append(b, '\n'))
}

// OpenSweep locks the sweep directory dir: with cont, an earlier sweep
// there run with the same flags (by name, their values) continues;
// else a new sweep (an earlier one only with overwrite), whose flags it
// records. keep lists input files that may lie in dir.
func OpenSweep(dir string, flags map[string]string, cont, overwrite bool, keep ...string) (func(), error) {
	if cont {
		if overwrite {
			return nil, limits.Usagef("--continue keeps the earlier sweep, --overwrite replaces it: give one")
		}
		return continueSweep(dir, flags)
	}
	release, err := prepareSweep(dir, overwrite, keep...)
	if err != nil {
		return nil, err
	}
	if err := saveFlags(dir, flags); err != nil {
		release()
		return nil, err
	}
	return release, nil
}

// continueSweep locks the sweep in dir and checks that flags repeats its
// flags.
func continueSweep(dir string, flags map[string]string) (func(), error) {
	b, err := fileutil.ReadRegular(filepath.Join(dir, SweepFlagsFile), maxSmallFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil, limits.Usagef("--continue: %s holds no sweep to continue (%v)", dir, errors.Unwrap(err))
	}
	if err != nil {
		return nil, fmt.Errorf("--continue: %v", err)
	}
	var saved map[string]string
	if err := json.Unmarshal(b, &saved); err != nil {
		return nil, fmt.Errorf("--continue: %s: %v", filepath.Join(dir, SweepFlagsFile), err)
	}
	for n, v := range flags {
		if sv, ok := saved[n]; ok && sv != v {
			return nil, limits.Usagef("--%s %s differs from the sweep in %s, run with --%s %s (on --continue only --threads may change)", n, v, dir, n, sv)
		}
	}
	release, err := Lock(dir)
	if err != nil {
		return nil, err
	}
	// The runs' temporary files of saves a kill cut short go too.
	runs, _ := filepath.Glob(filepath.Join(dir, "runs", "*"))
	for _, sub := range runs {
		if st, err := os.Lstat(sub); err != nil || !st.IsDir() {
			continue
		}
		if err := clean(sub, false, nil, nil, nil); err != nil {
			release()
			return nil, err
		}
	}
	return release, nil
}

// Flag is one flag of a run, as saved in its trainer state.
type Flag struct {
	Value   string `json:"value"`
	Changed bool   `json:"changed,omitempty"`
}

// ReadResume reads the trainer state of the run in dir ('clinic train
// --resume dir') and its flags.
func ReadResume(dir string) (*train.State, map[string]Flag, error) {
	s, err := train.ReadState(filepath.Join(dir, train.StateFile))
	if errors.Is(err, train.ErrNoState) {
		// A run killed before its first save left files (metrics, a best
		// checkpoint) but nothing to resume from, and a fresh start into
		// the directory is refused without --overwrite.
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if HeldRun.MatchString(e.Name()) {
				return nil, nil, limits.Usagef("--resume %s: the run there stopped before its first save (no %s), so it cannot be resumed; start it again with --out %s --overwrite", dir, train.StateFile, dir)
			}
		}
		return nil, nil, limits.Usagef("--resume %s: no resumable run there (no %s; 'clinic train' writes it with each checkpoint)", dir, train.StateFile)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("--resume %s: %v", dir, err)
	}
	var flags map[string]Flag
	if err := json.Unmarshal([]byte(s.Run["flags"]), &flags); err != nil || flags["task"].Value == "" {
		return nil, nil, fmt.Errorf("--resume %s: %s does not record the run's flags", dir, train.StateFile)
	}
	return s, flags, nil
}
