package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/clinic-ml/clinic/internal/fileutil"
	"github.com/clinic-ml/clinic/model"
)

// metaMustAgree are the checkpoint metadata that averaged checkpoints
// must share: what the weights mean.
var metaMustAgree = []string{"task", "bpe_codes", "src_lang", "tgt_lang"}

func runAverage(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("average", "Average the weights of checkpoints of one model (the paper evaluates the\naverage of the last 10; 'clinic train --keep-last N' keeps them):\n\n  clinic average --out avg.safetensors runs/x/checkpoint900.safetensors runs/x/checkpoint1000.safetensors ...", stdout)
	out := fs.String("out", "", "where to write the averaged checkpoint (required)")
	if err := parseFiles(fs, args); err != nil {
		return err
	}
	paths := fs.Args()
	if *out != "" {
		if err := fileutil.CheckOutput(*out); err != nil {
			return err
		}
	}
	switch {
	case *out == "":
		return usagef("--out must name the averaged checkpoint")
	case len(paths) == 0:
		return usagef("name the checkpoints to average")
	}
	// Files, not spellings: an absolute path or a link to an input is
	// the input.
	if in, ok := fileutil.SameAsAny(*out, paths...); ok {
		return usagef("--out %s is %s, one of the checkpoints being averaged", *out, in)
	}
	var ps []*model.Params
	var first, last map[string]string
	for i, path := range paths {
		p, meta, err := model.LoadCheckpoint(path)
		if err != nil {
			return err
		}
		if i == 0 {
			first = meta
		} else {
			if p.Cfg != ps[0].Cfg {
				return fmt.Errorf("%s: a different model (%s) from %s (%s)", path, p.Cfg.JSON(), paths[0], ps[0].Cfg.JSON())
			}
			for _, k := range metaMustAgree {
				if meta[k] != first[k] {
					return fmt.Errorf("%s: its %q differs from %s's", path, k, paths[0])
				}
			}
		}
		ps, last = append(ps, p), meta
	}
	avg, err := model.Average(ps)
	if err != nil {
		return err
	}
	meta := map[string]string{}
	for k, v := range last {
		if k != "format" && k != "config" {
			meta[k] = v
		}
	}
	var names []string
	for _, p := range paths {
		names = append(names, filepath.Base(p))
	}
	meta["averaged_from"] = strings.Join(names, ",")
	if err := model.SaveCheckpoint(*out, avg, meta); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "averaged %d checkpoints into %s\n", len(paths), *out)
	return nil
}
