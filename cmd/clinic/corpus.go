package main

import (
	"bytes"
	"io"

	"github.com/clinic-ml/clinic/internal/atomicfile"
	"github.com/clinic-ml/clinic/internal/corpus"
	"github.com/clinic-ml/clinic/internal/fileutil"
)

// runCorpus writes the built-in corpora, so that what clinic trains and
// tests on can be read, scored against and fed to other tools.
func runCorpus(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("corpus", "Write a built-in corpus: the English–Spanish Bible's splits (by whole books: test\nActs, validation Ruth, Jonah, Philippians and James, training the rest), one verse\nper line, or the State of the Union text the language model trains on:\n\n  clinic corpus --split test --lang en > acts.en\n  clinic corpus --split test --lang es > acts.es\n  clinic corpus --split valid --tsv > valid.tsv\n  clinic corpus --sotu > sotu.txt", stdout)
	split := fs.String("split", "test", "the Bible's part: train, valid or test")
	lang := fs.String("lang", "en", "the side: en (World English Bible) or es (Reina-Valera 1909)")
	tsv := fs.Bool("tsv", false, "write reference<TAB>English<TAB>Spanish lines instead of one side")
	sotu := fs.Bool("sotu", false, "write the State of the Union text instead")
	output := fs.String("output", "", "write to this file (atomically) instead of standard output")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *output != "" {
		if err := fileutil.CheckOutput(*output); err != nil {
			return err
		}
	}
	var buf bytes.Buffer
	if *sotu {
		if fs.Changed("split") || fs.Changed("lang") || *tsv {
			return usagef("--sotu writes the whole text: no --split, --lang or --tsv")
		}
		buf.Write(corpus.SOTU())
	} else {
		pairs, ok := corpus.Split(*split)
		if !ok {
			return usagef("--split must be train, valid or test, got %q", *split)
		}
		if *lang != "en" && *lang != "es" {
			return usagef("--lang must be en or es, got %q", *lang)
		}
		if *tsv && fs.Changed("lang") {
			return usagef("--tsv writes both sides: no --lang")
		}
		buf.Write(corpus.Lines(pairs, *lang, *tsv))
	}
	if *output != "" {
		return atomicfile.WriteFile(*output, buf.Bytes())
	}
	_, err := stdout.Write(buf.Bytes())
	return err
}
