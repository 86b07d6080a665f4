package main

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"github.com/clinic-ml/clinic/internal/rundir"
	"github.com/spf13/pflag"
)

// resumeMayChange are the flags a resumed run may set anew: none of
// them changes the result of a step. resumeNotSaved are not settings of
// the run.
var (
	resumeMayChange = []string{"steps", "eval-every", "save-every", "keep-last", "threads", "pin-threads", "bleu-every", "check-every", "overlap", "bucket-mb", "specialized", "precision", "update-freq"}
	resumeNotSaved  = []string{"out", "overwrite", "cpuprofile", "resume", "help"}
)

// runFlags returns the flags of a run for its trainer state.
func runFlags(fs *pflag.FlagSet) map[string]string {
	m := map[string]rundir.Flag{}
	fs.VisitAll(func(f *pflag.Flag) {
		if !slices.Contains(resumeNotSaved, f.Name) {
			m[f.Name] = rundir.Flag{Value: f.Value.String(), Changed: f.Changed}
		}
	})
	b, _ := json.Marshal(m)
	return map[string]string{"flags": string(b)}
}

// applyResume gives every flag not on the command line the resumed
// run's value, refuses flags that conflict with the run and logs those
// that change.
func applyResume(fs *pflag.FlagSet, dir string, saved map[string]rundir.Flag, quiet bool, stdout io.Writer) error {
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
