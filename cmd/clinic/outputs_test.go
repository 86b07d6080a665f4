package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/clinic-ml/clinic/internal/rundir"
)

// snapshot holds files' contents; check fails unless each file still
// holds what it held.
type snapshot map[string][]byte

func snap(t *testing.T, paths ...string) snapshot {
	t.Helper()
	s := snapshot{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		s[p] = b
	}
	return s
}

func (s snapshot) check(t *testing.T, what string) {
	t.Helper()
	for p, b := range s {
		if got, err := os.ReadFile(p); err != nil || !bytes.Equal(got, b) {
			t.Errorf("%s: %s was changed (%v)", what, p, err)
		}
	}
}

// runRefused runs args and fails unless they exit 2 with one line
// containing want.
func runRefused(t *testing.T, want string, args ...string) {
	t.Helper()
	code, _, e := runCLI(t, args...)
	if code != 2 || !strings.Contains(e, want) || strings.Count(strings.TrimSpace(e), "\n") != 0 {
		t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q", args, code, e, want)
	}
}

// Every command that writes an output refuses one that is one of its
// inputs, however it is spelled: an absolute path, ../dir/name, a
// symbolic link, a hard link (the average guard used to compare
// spellings and wrote over c15).
func TestOutputIsInputRefused(t *testing.T) {
	dir := t.TempDir()
	w := filepath.Join(dir, "w")
	os.Mkdir(w, 0o755)
	ckpt, lm := tinyTranslator(t, w)
	c10, c15 := filepath.Join(w, "c10.st"), filepath.Join(w, "c15.st")
	b, _ := os.ReadFile(lm)
	os.WriteFile(c10, b, 0o644)
	os.WriteFile(c15, b, 0o644)
	text := filepath.Join(w, "t.txt")
	os.WriteFile(text, bytes.Repeat([]byte("one two three four five. "), 40), 0o644)
	if err := os.Symlink("c15.st", filepath.Join(w, "link")); err != nil {
		t.Skip("no symlinks:", err)
	}
	os.Link(c15, filepath.Join(w, "hard"))
	os.Symlink("t.txt", filepath.Join(w, "tlink"))
	os.Symlink("mt.safetensors", filepath.Join(w, "mtlink"))
	all := snap(t, ckpt, lm, c10, c15, text)
	t.Chdir(w)

	for _, out := range []string{c15, "../w/c15.st", "link", "hard"} {
		runRefused(t, "one of the checkpoints being averaged", "average", "--out", out, "c10.st", "c15.st")
	}
	runRefused(t, "is the input", "translate", "--checkpoint", "mt.safetensors", "--input", "t.txt", "--output", "../w/tlink")
	runRefused(t, "is the input", "translate", "--checkpoint", "mt.safetensors", "--input", "t.txt", "--output", "mtlink")
	runRefused(t, "is the input", "bpe", "learn", "--merges", "10", "--out", "tlink", "t.txt")
	runRefused(t, "is the input", "bpe", "learn", "--merges", "10", "--out", filepath.Join(dir, "w", "t.txt"), "--tsv", "t.txt")
	runRefused(t, "is the input", "logits", "--checkpoint", "lm.safetensors", "--text", "abc", "--out", "../w/lm.safetensors")
	runRefused(t, "is the input", "profile", "--layers", "2", "--d-model", "16", "--heads", "2", "--d-ff", "16", "--data", "t.txt", "--out", "tlink")
	// A file in a --data folder is an input too.
	runRefused(t, "is the input", "profile", "--layers", "2", "--d-model", "16", "--heads", "2", "--d-ff", "16", "--data", ".", "--out", "t.txt")
	runRefused(t, "is the input", "train", "--data", "t.txt", "--cpuprofile", "tlink", "--steps", "1", "--out", filepath.Join(dir, "r"))
	// A run's files: --data being the run's metrics would be removed by
	// --overwrite and replaced by the new run's.
	rd := filepath.Join(dir, "run")
	os.Mkdir(rd, 0o755)
	met := filepath.Join(rd, "metrics.jsonl")
	os.WriteFile(met, bytes.Repeat([]byte("some text to train on. "), 40), 0o644)
	all = snap(t, append([]string{met}, keys(all)...)...)
	runRefused(t, "is the input", "train", "--data", met, "--out", rd, "--overwrite", "--steps", "1")
	// Analyses: --out is the --data folder, or a report file is an input.
	runRefused(t, "is the input", "analyze", "change", "--data", ".", "--out", "../w")
	out := filepath.Join(dir, "grads")
	os.Mkdir(out, 0o755)
	os.Symlink(lm, filepath.Join(out, "grads.csv"))
	runRefused(t, "is the input", "analyze", "grads", "--checkpoint", "lm.safetensors", "--out", out, "--overwrite")
	runRefused(t, "is the input", "analyze", "sweep", "--data", ".", "--out", w, "--steps", "1")

	// Standard output redirected onto an input ('>> codes.bpe').
	codes := filepath.Join(w, "codes.bpe")
	if code, _, e := runCLI(t, "bpe", "learn", "--merges", "10", "--out", codes, "t.txt"); code != 0 {
		t.Fatal(e)
	}
	all = snap(t, append([]string{codes}, keys(all)...)...)
	for _, args := range [][]string{
		{"bpe", "encode", "--codes", codes},
		{"bpe", "decode", "--codes", codes},
		{"translate", "--checkpoint", ckpt, "--input", "t.txt"},
		{"sample", "--checkpoint", lm, "--length", "2"},
		{"bleu", "--ref", "t.txt", "--hyp", text},
	} {
		f, err := os.OpenFile(args[len(args)-1], os.O_WRONLY|os.O_APPEND, 0)
		if args[0] == "sample" || args[0] == "translate" {
			f, err = os.OpenFile(args[2], os.O_WRONLY|os.O_APPEND, 0)
		}
		if err != nil {
			t.Fatal(err)
		}
		var e bytes.Buffer
		withStdin(t, "", func() {
			if code := run(args, f, &e); code != 2 || !strings.Contains(e.String(), "standard output is the input") {
				t.Errorf("%v >> input: exit %d, stderr %q", args, code, e.String())
			}
		})
		f.Close()
	}
	all.check(t, "after the refusals")
}

func keys(s snapshot) []string {
	var k []string
	for p := range s {
		k = append(k, p)
	}
	return k
}

// fakeSweep makes dir look like a finished 'analyze sweep' at learning
// rate lr and returns its report.md's contents.
func fakeSweep(t *testing.T, dir, lr string) []byte {
	t.Helper()
	os.MkdirAll(filepath.Join(dir, "runs", "preln-L1"), 0o755)
	report := []byte("# Depth sweep at " + lr + "\n")
	for name, body := range map[string][]byte{
		"report.md":        report,
		"sweep.csv":        []byte("depth,norm,final_val_loss,status,lr\n1,preln,2,trained," + lr + "\n"),
		"sweep_flags.json": []byte("{}\n"),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return report
}

// A command that writes a report refuses a folder holding another run's
// results (a sweep's, an analysis's, a training run's) unless
// --overwrite, and never writes into one of its inputs.
func TestReportDirHoldsResults(t *testing.T) {
	dir := t.TempDir()
	text := tinyText(t, dir)
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	ra, rb := fakeSweep(t, a, "1e-3"), fakeSweep(t, b, "3e-3")
	other := filepath.Join(dir, "other")
	ro := fakeSweep(t, other, "1e-2")
	run := filepath.Join(dir, "run")
	if code, _, e := runCLI(t, append([]string{"train"}, tiny(text, "--layers", "1", "--steps", "2", "--out", run)...)...); code != 0 {
		t.Fatal(e)
	}
	files := snap(t, filepath.Join(a, "report.md"), filepath.Join(b, "report.md"), filepath.Join(other, "report.md"), filepath.Join(run, "model.safetensors"))

	for _, out := range []string{other, run} {
		runRefused(t, "already holds results", "analyze", "lr-range", "--out", out, a, b)
		runRefused(t, "already holds results", append([]string{"analyze", "change"}, tiny(text, "--depths", "1", "--seeds", "1", "--out", out)...)...)
		runRefused(t, "already holds results", append([]string{"analyze", "grads"}, tiny(text, "--layers", "1", "--seeds", "1", "--out", out)...)...)
		runRefused(t, "already holds results", append([]string{"analyze", "dependency"}, tiny(text, "--layers", "1", "--out", out)...)...)
	}
	// A sweep refuses an analysis's folder, an analysis its own earlier
	// report.
	rng := filepath.Join(dir, "range")
	if code, _, e := runCLI(t, "analyze", "lr-range", "--out", rng, a, b); code != 0 {
		t.Fatal(e)
	}
	runRefused(t, "already holds results", append([]string{"analyze", "sweep"}, tiny(text, "--depths", "1", "--norms", "preln", "--steps", "2", "--out", rng)...)...)
	runRefused(t, "already holds results", "analyze", "lr-range", "--out", rng, a, b)
	// --out is one of the inputs: refused even with --overwrite.
	for _, out := range []string{a, b + "/", filepath.Join(dir, "a", "runs", "..")} {
		runRefused(t, "is the input", "analyze", "lr-range", "--overwrite", "--out", out, a, b)
	}
	files.check(t, "after the refusals")
	if !bytes.Equal(ra, files[filepath.Join(a, "report.md")]) || !bytes.Equal(rb, files[filepath.Join(b, "report.md")]) || !bytes.Equal(ro, files[filepath.Join(other, "report.md")]) {
		t.Fatal("snapshot mismatch")
	}
	// With --overwrite the report is replaced.
	if code, _, e := runCLI(t, "analyze", "lr-range", "--overwrite", "--out", other, a, b); code != 0 {
		t.Fatalf("lr-range --overwrite: %s", e)
	}
	if got, _ := os.ReadFile(filepath.Join(other, "report.md")); !strings.Contains(string(got), "Stable learning-rate range") {
		t.Errorf("--overwrite did not write the report: %q", got)
	}
	if code, _, e := runCLI(t, "analyze", "lr-range", "--overwrite", "--out", rng, a, b); code != 0 {
		t.Fatalf("lr-range --overwrite into its own report: %s", e)
	}
}

// train --out into a sweep's or an analysis's folder ran and mixed a
// training run with the report, while the analyses refuse a run's
// folder: train refuses it too, unless --overwrite.
func TestTrainRefusesReportDir(t *testing.T) {
	dir := t.TempDir()
	text := tinyText(t, dir)
	sweep := filepath.Join(dir, "sweep")
	report := fakeSweep(t, sweep, "1e-3")
	runRefused(t, "already holds results", append([]string{"train"}, tiny(text, "--layers", "1", "--steps", "2", "--out", sweep)...)...)
	if ents, _ := os.ReadDir(sweep); slices.ContainsFunc(ents, func(e os.DirEntry) bool { return rundir.HeldRun.MatchString(e.Name()) }) {
		t.Errorf("the refused run left files in %s", sweep)
	}
	if got, _ := os.ReadFile(filepath.Join(sweep, "report.md")); !bytes.Equal(got, report) {
		t.Error("report.md changed")
	}
	if code, _, e := runCLI(t, append([]string{"train"}, tiny(text, "--layers", "1", "--steps", "2", "--overwrite", "--out", sweep)...)...); code != 0 {
		t.Errorf("--overwrite: %s", e)
	}
}
