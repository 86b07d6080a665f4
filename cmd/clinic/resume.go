package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/clinic-ml/clinic/internal/rundir"
	"github.com/clinic-ml/clinic/internal/train"
	"github.com/spf13/pflag"
)

// resumeMayChange are the flags a resumed run may set anew: none of
// them changes the result of a step. resumeNotSaved are not settings of
// the run.
var (
	resumeMayChange = []string{"steps", "eval-every", "save-every", "keep-last", "threads", "pin-threads", "bleu-every", "check-every", "overlap", "bucket-mb", "specialized"}
	resumeNotSaved  = []string{"out", "overwrite", "cpuprofile", "resume", "help"}
)

// savedFlag is one flag of a run, as saved in its trainer state.
type savedFlag struct {
	Value   string `json:"value"`
	Changed bool   `json:"changed,omitempty"`
}

// runFlags returns the flags of a run for its trainer state.
func runFlags(fs *pflag.FlagSet) map[string]string {
	m := map[string]savedFlag{}
	fs.VisitAll(func(f *pflag.Flag) {
		if !slices.Contains(resumeNotSaved, f.Name) {
			m[f.Name] = savedFlag{f.Value.String(), f.Changed}
		}
	})
	b, _ := json.Marshal(m)
	return map[string]string{"flags": string(b)}
}

// argValue finds --name's value in args before the flags are parsed.
func argValue(args []string, name string) string {
	for i, a := range args {
		if a == "--" {
			break
		}
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v
		}
		if a == "--"+name && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// readResume reads the trainer state of the run in dir and its flags.
func readResume(dir string) (*train.State, map[string]savedFlag, error) {
	s, err := train.ReadState(filepath.Join(dir, train.StateFile))
	if errors.Is(err, train.ErrNoState) {
		// A run killed before its first save left files (metrics, a best
		// checkpoint) but nothing to resume from, and a fresh start into
		// the directory is refused without --overwrite.
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if rundir.HeldRun.MatchString(e.Name()) {
				return nil, nil, usagef("--resume %s: the run there stopped before its first save (no %s), so it cannot be resumed; start it again with --out %s --overwrite", dir, train.StateFile, dir)
			}
		}
		return nil, nil, usagef("--resume %s: no resumable run there (no %s; 'clinic train' writes it with each checkpoint)", dir, train.StateFile)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("--resume %s: %v", dir, err)
	}
	var flags map[string]savedFlag
	if err := json.Unmarshal([]byte(s.Run["flags"]), &flags); err != nil || flags["task"].Value == "" {
		return nil, nil, fmt.Errorf("--resume %s: %s does not record the run's flags", dir, train.StateFile)
	}
	return s, flags, nil
}

// applyResume gives every flag not on the command line the resumed
// run's value, refuses flags that conflict with the run and logs those
// that change.
func applyResume(fs *pflag.FlagSet, dir string, saved map[string]savedFlag, quiet bool, stdout io.Writer) error {
	if fs.Changed("overwrite") {
		return usagef("--overwrite does not go with --resume")
	}
	if fs.Changed("out") && filepath.Clean(fs.Lookup("out").Value.String()) != filepath.Clean(dir) {
		return usagef("--out %s differs from --resume %s: a run resumes in its own directory", fs.Lookup("out").Value, dir)
	}
	if err := fs.Set("out", dir); err != nil {
		return err
	}
	names := make([]string, 0, len(saved))
	for n := range saved {
		names = append(names, n)
	}
	// --task first: with another task, every difference follows from it.
	slices.SortFunc(names, func(a, b string) int {
		if (a == "task") != (b == "task") {
			if a == "task" {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	var changed []string
	for _, n := range names {
		sf, f := saved[n], fs.Lookup(n)
		if f == nil {
			return fmt.Errorf("--resume %s: the run was trained with --%s, which this version does not know", dir, n)
		}
		cur := f.Value.String()
		switch {
		case f.Changed && cur != sf.Value && slices.Contains(resumeMayChange, n):
			changed = append(changed, fmt.Sprintf("--%s %s (was %s)", n, cur, sf.Value))
		case f.Changed && cur != sf.Value:
			return usagef("--%s %s conflicts with the run in %s, trained with --%s %s (on --resume only --%s may change)",
				n, cur, dir, n, sf.Value, strings.Join(resumeMayChange, ", --"))
		case !f.Changed && sf.Changed:
			if err := fs.Set(n, sf.Value); err != nil {
				return fmt.Errorf("--resume %s: --%s %s: %v", dir, n, sf.Value, err)
			}
		}
	}
	if !quiet && len(changed) > 0 {
		fmt.Fprintf(stdout, "clinic: resuming with %s\n", strings.Join(changed, ", "))
	}
	return nil
}
