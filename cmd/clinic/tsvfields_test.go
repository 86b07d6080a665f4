package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// twoColumnPairs writes a two-column TSV of n pairs; line stray (from 1)
// gets a third field, as from a stray tab inside its target.
func twoColumnPairs(t *testing.T, path, header string, n, stray int) {
	t.Helper()
	words := []string{"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"}
	var b strings.Builder
	b.WriteString(header)
	for i := 1; i <= n; i++ {
		a, c := (i*7+3)%10, (i*3+1)%10
		if i == stray {
			fmt.Fprintf(&b, "%s %s\t%d\t%d\n", words[a], words[c], a, c)
			continue
		}
		fmt.Fprintf(&b, "%s %s\t%d %d\n", words[a], words[c], a, c)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Issue 23: a line with an extra tab in a two-column --data file trained
// silently as (source, fragment). Without --columns every line must have
// the file's number of fields (a header's, or the first pair's); with
// --columns the columns named are read and extra fields are fine.
func TestTrainTSVStrayTab(t *testing.T) {
	dir := t.TempDir()
	plain, header := filepath.Join(dir, "pairs.tsv"), filepath.Join(dir, "header.tsv")
	twoColumnPairs(t, plain, "", 60, 7)
	twoColumnPairs(t, header, "en\tes\n", 60, 7)
	tr := func(out string, extra ...string) []string {
		return append([]string{"train", "--task", "translate", "--out", filepath.Join(dir, out), "--layers", "1", "--encoder-layers", "1",
			"--d-model", "16", "--heads", "2", "--d-ff", "16", "--seq-len", "16", "--max-tokens", "128", "--bpe-merges", "10",
			"--steps", "1", "--bleu-every", "0", "--threads", "1", "--val-frac", "0.1"}, extra...)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{tr("a", "--data", plain), "pairs.tsv:7: 3 tab-separated fields, line 1 has 2"},
		{tr("b", "--data", header), "header.tsv:8: 3 tab-separated fields, line 1 has 2"},
	} {
		code, _, e := runCLI(t, tc.args...)
		if code != 1 || !strings.Contains(e, tc.want) || !strings.Contains(e, "--columns") || strings.Count(strings.TrimSpace(e), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q; want exit 1 and one line with %q", tc.args, code, e, tc.want)
		}
	}
	if code, _, e := runCLI(t, tr("c", "--data", plain, "--columns", "1,2")...); code != 0 {
		t.Errorf("--columns 1,2: exit %d: %s", code, e)
	}
}

// --columns picks columns of a TSV file: given with --src and --tgt it
// had been silently ignored, and is refused now (issue 23). The
// translation sweep's --test-data is a TSV in --columns, so there it
// goes with --src and --tgt.
func TestColumnsWithSrcTgt(t *testing.T) {
	dir := t.TempDir()
	_, src, tgt := writePairs(t, dir, 20)
	// (small, so that a run that is wrongly not refused ends soon)
	small := []string{"--d-model", "16", "--heads", "2", "--d-ff", "16", "--max-len", "16",
		"--max-tokens", "128", "--bpe-merges", "10", "--steps", "1", "--threads", "1"}
	for _, args := range [][]string{
		{"train", "--task", "translate", "--src", src, "--tgt", tgt, "--columns", "1,2", "--layers", "1", "--encoder-layers", "1", "--out", filepath.Join(dir, "a")},
		{"train", "--task", "translate", "--src", src, "--tgt", tgt, "--columns=2,3", "--layers", "1", "--encoder-layers", "1", "--out", filepath.Join(dir, "a")},
		{"analyze", "sweep", "--task", "translate", "--src", src, "--tgt", tgt, "--test-src", src, "--test-tgt", tgt, "--columns", "1,2",
			"--depths", "1", "--norms", "preln", "--out", filepath.Join(dir, "s")},
	} {
		code, _, e := runCLI(t, append(args, small...)...)
		if code != 2 || !strings.Contains(e, "--columns") || strings.Count(strings.TrimSpace(e), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 naming --columns", args, code, e)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "a")); err == nil {
		t.Error("a refused run created its directory")
	}
}

// bpe learn --tsv follows the same rule as train's --data.
func TestBPELearnTSVStrayTab(t *testing.T) {
	dir := t.TempDir()
	tsv := filepath.Join(dir, "pairs.tsv")
	os.WriteFile(tsv, []byte("1\tone two\tuno dos\n2\tthree\ttres\n\n3\tfour five\tcuatro\tcinco\n"), 0o644)
	out := filepath.Join(dir, "c.bpe")
	code, _, e := runCLI(t, "bpe", "learn", "--merges", "5", "--out", out, "--tsv", tsv)
	if code != 1 || !strings.Contains(e, "pairs.tsv:4: 4 tab-separated fields, line 1 has 3") || !strings.Contains(e, "--columns") {
		t.Errorf("exit %d, stderr %q", code, e)
	}
	if code, _, e := runCLI(t, "bpe", "learn", "--merges", "5", "--out", out, "--tsv", tsv, "--columns", "2,3"); code != 0 {
		t.Errorf("--columns 2,3: exit %d: %s", code, e)
	}
}

// Every line of three fields, as 'clinic corpus --tsv' writes them
// (reference, English, Spanish), trained silently on columns 1 and 2 —
// the reference as the source — when --columns was not given: without a
// header naming the languages, a file wider than two columns needs
// --columns.
func TestTrainTSVWideNeedsColumns(t *testing.T) {
	dir := t.TempDir()
	wide := filepath.Join(dir, "wide.tsv")
	var b strings.Builder
	for i := 1; i <= 60; i++ {
		fmt.Fprintf(&b, "Book 1:%d\tword %d\tpalabra %d\n", i, i%10, i%10)
	}
	if err := os.WriteFile(wide, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	tr := func(out string, extra ...string) []string {
		return append([]string{"train", "--task", "translate", "--out", filepath.Join(dir, out), "--layers", "1", "--encoder-layers", "1",
			"--d-model", "16", "--heads", "2", "--d-ff", "16", "--seq-len", "16", "--max-tokens", "128", "--bpe-merges", "10",
			"--steps", "1", "--bleu-every", "0", "--threads", "1", "--val-frac", "0.1", "--data", wide}, extra...)
	}
	code, _, e := runCLI(t, tr("a")...)
	if code != 1 || !strings.Contains(e, "wide.tsv:1: 3 tab-separated fields") || !strings.Contains(e, "--columns") || strings.Count(strings.TrimSpace(e), "\n") != 0 {
		t.Errorf("no --columns: exit %d, stderr %q; want exit 1 and one line naming wide.tsv:1 and --columns", code, e)
	}
	if code, _, e := runCLI(t, tr("b", "--columns", "2,3")...); code != 0 {
		t.Errorf("--columns 2,3: exit %d: %s", code, e)
	}
}
