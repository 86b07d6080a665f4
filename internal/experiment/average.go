package experiment

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/clinic-ml/clinic/model"
)

// metaMustAgree are the checkpoint metadata that averaged checkpoints
// must share: what the weights mean.
var metaMustAgree = []string{"task", "bpe_codes", "src_lang", "tgt_lang"}

// Average loads the checkpoints at paths, which must be of one model
// (the same config, and the same metaMustAgree), and returns the
// average of their weights and the metadata of the last.
func Average(paths []string) (*model.Params, map[string]string, error) {
	var ps []*model.Params
	var first, last map[string]string
	for i, path := range paths {
		p, meta, err := model.LoadCheckpoint(path)
		if err != nil {
			return nil, nil, err
		}
		if i == 0 {
			first = meta
		} else {
			if p.Cfg != ps[0].Cfg {
				return nil, nil, fmt.Errorf("%s: a different model (%s) from %s (%s)", path, p.Cfg.JSON(), paths[0], ps[0].Cfg.JSON())
			}
			for _, k := range metaMustAgree {
				if meta[k] != first[k] {
					return nil, nil, fmt.Errorf("%s: its %q differs from %s's", path, k, paths[0])
				}
			}
		}
		ps, last = append(ps, p), meta
	}
	avg, err := model.Average(ps)
	return avg, last, err
}

// AverageFiles is Average with the metadata 'clinic average' saves:
// the last checkpoint's (but its format and config, which the save
// writes) and averaged_from, the files' names.
func AverageFiles(paths []string) (*model.Params, map[string]string, error) {
	avg, last, err := Average(paths)
	if err != nil {
		return nil, nil, err
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
	return avg, meta, nil
}
