package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCorpus(t *testing.T) {
	lines := func(s string) []string { return strings.Split(strings.TrimSuffix(s, "\n"), "\n") }
	_, en, _ := runCLI(t, "corpus", "--split", "test", "--lang", "en")
	_, es, _ := runCLI(t, "corpus", "--split", "test", "--lang", "es")
	if n, m := len(lines(en)), len(lines(es)); n != 1003 || m != 1003 {
		t.Fatalf("test split: %d English and %d Spanish lines, want 1003 (Acts)", n, m)
	}
	if !strings.HasPrefix(en, "The first book I wrote, Theophilus") || !strings.HasPrefix(es, "EN el primer tratado") {
		t.Errorf("Acts 1:1: %.40q / %.40q", en, es)
	}
	_, tsv, _ := runCLI(t, "corpus", "--split", "valid", "--tsv")
	v := lines(tsv)
	if len(v) != 344 || !strings.HasPrefix(v[0], "Ruth 1:1\t") || strings.Count(v[0], "\t") != 2 {
		t.Errorf("validation TSV: %d lines, first %q", len(v), v[0])
	}
	_, tr, _ := runCLI(t, "corpus", "--split", "train")
	if n := len(lines(tr)); n != 29730 {
		t.Errorf("training split: %d lines, want 29730", n)
	}
	out := filepath.Join(t.TempDir(), "sotu.txt")
	if code, _, e := runCLI(t, "corpus", "--sotu", "--output", out); code != 0 {
		t.Fatalf("--sotu: exit %d: %s", code, e)
	}
	if b, _ := os.ReadFile(out); len(b) < 10<<20 {
		t.Errorf("sotu.txt has %d bytes, want the whole 10.8 MB", len(b))
	}
	for _, bad := range [][]string{{"--split", "dev"}, {"--lang", "fr"}, {"--tsv", "--lang", "es"}, {"--sotu", "--split", "test"}, {"extra"}} {
		if code, _, e := runCLI(t, append([]string{"corpus"}, bad...)...); code != 2 || strings.Count(strings.TrimSpace(e), "\n") > 0 {
			t.Errorf("%v: exit %d, %q", bad, code, e)
		}
	}
}
