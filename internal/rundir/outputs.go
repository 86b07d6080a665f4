package rundir

import (
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/clinic-ml/clinic/internal/fileutil"
	"github.com/clinic-ml/clinic/internal/limits"
)

// Outputs that would replace a command's inputs or another run's
// results are refused before any work. Files are compared, not
// spellings (fileutil.SameAsAny): an absolute path, "../w/x", a
// symbolic or a hard link to an input are all the input.

// NotInput refuses --flag out when it is one of inputs.
func NotInput(flag, out string, inputs ...string) error {
	if in, ok := fileutil.SameAsAny(out, inputs...); ok {
		return limits.Usagef("--%s %s is the input %s; refusing to write over it", flag, out, in)
	}
	return nil
}

// StdoutNotInput refuses standard output redirected onto one of inputs
// ('clinic bpe encode --codes c.bpe >> c.bpe' would append to the
// codes it reads).
func StdoutNotInput(stdout io.Writer, inputs ...string) error {
	f, ok := stdout.(*os.File)
	if !ok {
		return nil
	}
	if in, ok := fileutil.SameAsAny(f.Name(), inputs...); ok {
		return limits.Usagef("standard output is the input %s; refusing to write over it", in)
	}
	return nil
}

// OutputNotInput is NotInput for a command whose output is --flag out,
// or standard output when out is empty or "-".
func OutputNotInput(flag, out string, stdout io.Writer, inputs ...string) error {
	if out == "" || out == "-" {
		return StdoutNotInput(stdout, inputs...)
	}
	return NotInput(flag, out, inputs...)
}

// WithTxt is inputs and, for each that is a directory (a --data folder),
// the .txt files in it, which data.Load reads.
func WithTxt(inputs ...string) []string {
	out := slices.Clone(inputs)
	for _, in := range inputs {
		if st, err := os.Stat(in); err != nil || !st.IsDir() {
			continue
		}
		ents, _ := os.ReadDir(in)
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), ".txt") {
				out = append(out, filepath.Join(in, e.Name()))
			}
		}
	}
	return out
}

// OutputsNotInputs refuses a directory dir whose files matching names
// (what the command writes there) include one of inputs: writing the
// output would replace the input.
func OutputsNotInputs(flag, dir string, names *regexp.Regexp, inputs ...string) error {
	inputs = WithTxt(inputs...)
	if err := NotInput(flag, dir, inputs...); err != nil {
		return err
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		if !names.MatchString(e.Name()) {
			continue
		}
		if in, ok := fileutil.SameAsAny(p, inputs...); ok {
			return limits.Usagef("--%s %s: its %s is the input %s; refusing to write over it", flag, dir, e.Name(), in)
		}
	}
	return nil
}

// CheckReportDir is the check of a command that writes a report into
// dir: dir and the files it would write there are none of inputs, and,
// unless overwrite, dir holds no other run's results (the sweep's
// rule: an earlier report, sweep or training run is replaced only with
// --overwrite).
func CheckReportDir(dir string, overwrite bool, inputs ...string) error {
	if err := OutputsNotInputs("out", dir, ResultFile, inputs...); err != nil {
		return err
	}
	ents, _ := os.ReadDir(dir)
	// An output that is a FIFO, a device link or a directory is refused
	// now, --overwrite or not, rather than after the work (a sweep's runs
	// folder is a directory).
	for _, e := range ents {
		if ResultFile.MatchString(e.Name()) && e.Name() != "runs" {
			if err := fileutil.CheckOutput(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	if overwrite {
		return nil
	}
	for _, e := range ents {
		if IsResult(e.Name()) {
			return limits.Usagef("%s already holds results (%s); pass --overwrite to replace them, or --out to write elsewhere", dir, e.Name())
		}
	}
	return nil
}
