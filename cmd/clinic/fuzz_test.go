package main

import (
	"errors"
	"io"
	"strings"
	"testing"
)

// FuzzTrainFlags: any command line for 'clinic train' is either accepted
// or refused with a usage error (exit 2 material), never a panic.
func FuzzTrainFlags(f *testing.F) {
	for _, s := range []string{
		"--layers 2 --d-model 16",
		"--task translate --encoder-layers 2 --max-tokens 512 --columns 2,3",
		"--task=translate --max-len 0",
		"--norm admin --admin-init free --admin-profile x.json",
		"--lr -1 --steps 0",
		"--task translate --src a --tgt b --data c",
		"--heads 3 --d-model 16",
		"--dropout 1 --label-smoothing 1",
		"--threads -1 --keep-last -3",
		"--bpe-merges 99999999999 --task translate",
	} {
		f.Add(s)
	}
	parseOnly = true
	defer func() { parseOnly = false }()
	f.Fuzz(func(t *testing.T, line string) {
		args := append([]string{}, strings.Fields(line)...)
		fs := commands()[0]
		if fs.name != "train" {
			t.Fatal("commands()[0] is not train")
		}
		err := fs.run(args, io.Discard, io.Discard)
		var ue usageError
		switch {
		case err == nil:
			t.Fatalf("%q: train ran past parsing", line)
		case errors.Is(err, errParsedOnly), errors.As(err, &ue):
		default:
			// --help prints usage and returns pflag.ErrHelp.
			if !strings.Contains(err.Error(), "help requested") {
				t.Fatalf("%q: not a usage error: %v", line, err)
			}
		}
	})
}
