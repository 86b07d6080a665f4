package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clinic-ml/clinic/internal/metrics"
	"github.com/clinic-ml/clinic/internal/stop"
	"github.com/clinic-ml/clinic/internal/train"
	"github.com/clinic-ml/clinic/model"
)

// lmArgs are a tiny language-model run on text into out.
func lmArgs(text, out string, steps string, extra ...string) []string {
	return append([]string{"train", "--data", text, "--out", out, "--layers", "2", "--d-model", "16", "--heads", "2",
		"--d-ff", "32", "--seq-len", "16", "--batch-size", "2", "--steps", steps, "--eval-every", "6", "--save-every", "6",
		"--warmup", "4", "--lr", "3e-3", "--norm", "admin", "--threads", "2", "--seed", "7", "--val-frac", "0.1"}, extra...)
}

func writeText(t *testing.T, dir string) string {
	t.Helper()
	text := filepath.Join(dir, "t.txt")
	if err := os.WriteFile(text, bytes.Repeat([]byte("the quick brown fox jumps over the lazy dog. "), 100), 0o644); err != nil {
		t.Fatal(err)
	}
	return text
}

// sameRun fails unless the runs in a and b ended with the same
// checkpoints (byte for byte) and the same metrics lines but for the
// measured throughput. (Their trainer states differ in the flags
// recorded: a resumed run records those it restored as given.)
func sameRun(t *testing.T, a, b string, files ...string) {
	t.Helper()
	for _, f := range append([]string{"model.safetensors"}, files...) {
		x, _ := os.ReadFile(filepath.Join(a, f))
		y, err := os.ReadFile(filepath.Join(b, f))
		if err != nil || len(x) == 0 || !bytes.Equal(x, y) {
			t.Errorf("%s differs between %s and %s (%v)", f, a, b, err)
		}
	}
	lines := func(dir string) string {
		recs, err := metrics.ReadAll(filepath.Join(dir, "metrics.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		var s []string
		for _, r := range recs {
			delete(r, "tokens_per_s")
			delete(r, "time")
			j, _ := json.Marshal(r)
			s = append(s, string(j))
		}
		return strings.Join(s, "\n")
	}
	if la, lb := lines(a), lines(b); la != lb {
		t.Errorf("metrics differ:\n%s\nwant\n%s", lb, la)
	}
}

// 'clinic train --resume DIR' continues a language-model and a
// translation run to a higher --steps, ending bit-identical to the run
// that was never stopped; conflicting flags, a directory without a run
// and a checkpoint that is not the state's are refused.
func TestResumeCLI(t *testing.T) {
	dir := t.TempDir()
	text := writeText(t, dir)
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	if code, _, e := runCLI(t, lmArgs(text, a, "24")...); code != 0 {
		t.Fatalf("train: exit %d: %s", code, e)
	}
	if code, _, e := runCLI(t, lmArgs(text, b, "12")...); code != 0 {
		t.Fatalf("train: exit %d: %s", code, e)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--lr", "1e-3"}, "--lr 0.001 conflicts with the run in " + b + ", trained with --lr 0.003"},
		{[]string{"--norm", "preln"}, "--norm preln conflicts"},
		{[]string{"--seed", "8"}, "--seed 8 conflicts"},
		{[]string{"--batch-size", "3"}, "--batch-size 3 conflicts"},
		{[]string{"--d-model", "32"}, "--d-model 32 conflicts"},
		{[]string{"--task", "translate"}, "--task translate conflicts"},
		{[]string{"--out", a}, "a run resumes in its own directory"},
		{[]string{"--steps", "6"}, "--steps 6 is below the step 12"},
	} {
		code, _, e := runCLI(t, append([]string{"train", "--resume", b}, c.args...)...)
		if code != 2 || !strings.Contains(e, c.want) || strings.Count(e, "\n") != 1 {
			t.Errorf("%v: exit %d, %q; want 2 and %q", c.args, code, e, c.want)
		}
	}
	if code, _, e := runCLI(t, "train", "--resume", dir); code != 2 || !strings.Contains(e, "no resumable run") {
		t.Errorf("no run: exit %d: %s", code, e)
	}
	code, out, e := runCLI(t, "train", "--resume", b, "--steps", "24", "--threads", "1", "--data", text)
	if code != 0 || !strings.Contains(out, "resuming the run in "+b+" at step 12 of 24") || !strings.Contains(out, "--threads 1 (was 2)") {
		t.Fatalf("resume: exit %d: %s %s", code, out, e)
	}
	sameRun(t, a, b)

	// A checkpoint that is not the one the state belongs to.
	c := filepath.Join(dir, "c")
	if code, _, e := runCLI(t, lmArgs(text, c, "6")...); code != 0 {
		t.Fatalf("train: exit %d: %s", code, e)
	}
	ck, _ := os.ReadFile(filepath.Join(a, "model.safetensors"))
	os.WriteFile(filepath.Join(c, "model.safetensors"), ck, 0o644)
	if code, _, e := runCLI(t, "train", "--resume", c, "--steps", "30"); code != 1 || !strings.Contains(e, "is not the checkpoint") {
		t.Errorf("mismatched pair: exit %d: %s", code, e)
	}

	// Translation, with validation BLEU and its best checkpoint.
	tsv, _, _ := writePairs(t, dir, 200)
	targs := func(out, steps string) []string {
		return []string{"train", "--task", "translate", "--out", out, "--data", tsv, "--columns", "2,3", "--bpe-merges", "30",
			"--encoder-layers", "1", "--layers", "1", "--d-model", "16", "--heads", "2", "--d-ff", "32", "--max-len", "16",
			"--max-tokens", "128", "--steps", steps, "--eval-every", "4", "--bleu-every", "4", "--save-every", "4",
			"--warmup", "4", "--lr", "3e-3", "--norm", "admin", "--threads", "2", "--val-frac", "0.05"}
	}
	ta, tb := filepath.Join(dir, "ta"), filepath.Join(dir, "tb")
	if code, _, e := runCLI(t, targs(ta, "16")...); code != 0 {
		t.Fatalf("translate: exit %d: %s", code, e)
	}
	if code, _, e := runCLI(t, targs(tb, "8")...); code != 0 {
		t.Fatalf("translate: exit %d: %s", code, e)
	}
	if code, _, e := runCLI(t, "train", "--resume", tb, "--steps", "16", "--max-tokens", "64"); code != 2 || !strings.Contains(e, "--max-tokens 64 conflicts") {
		t.Errorf("translate --max-tokens: exit %d: %s", code, e)
	}
	if code, out, e := runCLI(t, "train", "--resume", tb, "--steps", "16"); code != 0 {
		t.Fatalf("translate resume: exit %d: %s %s", code, out, e)
	}
	sameRun(t, ta, tb, "model_best.safetensors")
}

// The helper process of TestSignals: it runs the command line in
// CLINIC_SIGNAL_ARGS, one step every 20ms.
func TestSignalHelper(t *testing.T) {
	js := os.Getenv("CLINIC_SIGNAL_ARGS")
	if js == "" {
		t.Skip("helper process of TestSignals")
	}
	var args []string
	if err := json.Unmarshal([]byte(js), &args); err != nil {
		t.Fatal(err)
	}
	testBeforeStep = func(int) { time.Sleep(20 * time.Millisecond) }
	os.Exit(run(args, os.Stdout, os.Stderr))
}

// signalRun starts 'clinic train' with args in a child process, sends
// it sigs once its first checkpoint exists and returns its exit status
// and standard error.
func signalRun(t *testing.T, dir string, args []string, sigs ...syscall.Signal) (int, string) {
	t.Helper()
	js, _ := json.Marshal(args)
	cmd := exec.Command(os.Args[0], "-test.run=^TestSignalHelper$")
	cmd.Env = append(os.Environ(), "CLINIC_SIGNAL_ARGS="+string(js))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		// The state is written first: the checkpoint after it.
		if _, err := os.Stat(filepath.Join(dir, "model.safetensors")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no checkpoint after 2 minutes: %s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, s := range sigs {
		if err := cmd.Process.Signal(s); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), stderr.String()
}

// SIGINT, SIGTERM and SIGHUP stop 'clinic train' after the current
// step with the checkpoint, state and metrics saved, a message on how
// to resume and the status 128+signal; --resume then ends bit-identical
// to a run never stopped. A second signal exits at once, the last
// checkpoint intact.
func TestSignals(t *testing.T) {
	dir := t.TempDir()
	text := writeText(t, dir)
	ref := filepath.Join(dir, "ref")
	if code, _, e := runCLI(t, lmArgs(text, ref, "40", "--save-every", "5")...); code != 0 {
		t.Fatalf("train: exit %d: %s", code, e)
	}
	for _, c := range []struct {
		sigs []syscall.Signal
		code int
	}{{[]syscall.Signal{syscall.SIGINT}, 130}, {[]syscall.Signal{syscall.SIGHUP}, 129}, {[]syscall.Signal{syscall.SIGTERM, syscall.SIGTERM}, 143}} {
		out := filepath.Join(dir, stop.Name(c.sigs[0])+strings.Repeat("2", len(c.sigs)-1))
		code, e := signalRun(t, out, lmArgs(text, out, "40", "--save-every", "5"), c.sigs...)
		if code != c.code {
			t.Fatalf("%v: exit %d, want %d: %s", c.sigs, code, c.code, e)
		}
		if _, _, err := model.LoadCheckpoint(filepath.Join(out, "model.safetensors")); err != nil {
			t.Fatalf("%v: checkpoint: %v", c.sigs, err)
		}
		if len(c.sigs) > 1 {
			// The second signal exits at once; on a loaded machine the
			// first may already have finished saving before it arrives,
			// which is the clean stop. Either way the status and the
			// checkpoint are right.
			if !strings.Contains(e, "exiting at once") && !strings.Contains(e, "stopped by SIGTERM") {
				t.Errorf("second signal: %s", e)
			}
			continue
		}
		if !strings.Contains(e, "stopped by "+stop.Name(c.sigs[0])) || !strings.Contains(e, "continue with: clinic train --resume "+out) {
			t.Errorf("%v: stderr %s", c.sigs, e)
		}
		if recs, err := metrics.ReadAll(filepath.Join(out, "metrics.jsonl")); err != nil || len(recs) >= 40 || len(recs) < 5 {
			t.Fatalf("%v: stopped with %d metrics lines (%v), want a run stopped midway", c.sigs, len(recs), err)
		}
		if code, o, e := runCLI(t, "train", "--resume", out); code != 0 {
			t.Fatalf("resume: exit %d: %s %s", code, o, e)
		}
		sameRun(t, ref, out)
	}
}

// dirFiles returns the files of dir and their bytes.
func dirFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		m[e.Name()] = string(b)
	}
	return m
}

// sameFilesAs fails unless dir holds the files before did, unchanged.
func sameFilesAs(t *testing.T, what, dir string, before map[string]string) {
	t.Helper()
	after := dirFiles(t, dir)
	for name, b := range before {
		if name == ".lock" {
			continue
		}
		if a, ok := after[name]; !ok || a != b {
			t.Errorf("%s: %s changed or removed", what, name)
		}
	}
}

// A trainer state copied from another run is refused in one line,
// leaving the run as it was; so is a run whose data, Admin profile or
// subword codes are no longer those its state records.
func TestResumeRefusesAnotherRun(t *testing.T) {
	dir := t.TempDir()
	text := writeText(t, dir)
	other := filepath.Join(dir, "other.txt")
	os.WriteFile(other, bytes.Repeat([]byte("a stitch in time saves nine, they say. "), 100), 0o644)
	a := filepath.Join(dir, "a")
	if code, _, e := runCLI(t, lmArgs(text, a, "12")...); code != 0 {
		t.Fatalf("train: exit %d: %s", code, e)
	}
	own, _ := os.ReadFile(filepath.Join(a, train.StateFile))
	refused := func(what, want string, args ...string) {
		t.Helper()
		before := dirFiles(t, a)
		code, _, e := runCLI(t, append([]string{"train", "--resume", a, "--steps", "18"}, args...)...)
		if code != 1 || !strings.Contains(e, want) || strings.Count(e, "\n") != 1 {
			t.Errorf("%s: exit %d, %q; want 1 and %q", what, code, e, want)
		}
		sameFilesAs(t, what, a, before)
	}
	for _, c := range []struct {
		name string
		args []string
	}{{"another seed", []string{"--seed", "8"}}, {"other data", []string{"--data", other}}, {"same flags", []string{"--steps", "6"}}} {
		b := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-"))
		if code, _, e := runCLI(t, append(lmArgs(text, b, "12"), c.args...)...); code != 0 {
			t.Fatalf("train: exit %d: %s", code, e)
		}
		st, _ := os.ReadFile(filepath.Join(b, train.StateFile))
		os.WriteFile(filepath.Join(a, train.StateFile), st, 0o644)
		refused("the state of a run with "+c.name, "is not the checkpoint")
	}
	os.WriteFile(filepath.Join(a, train.StateFile), own, 0o644)

	// The run's Admin profile replaced by another's.
	pa, _ := os.ReadFile(filepath.Join(a, "admin_profile.json"))
	pb, _ := os.ReadFile(filepath.Join(dir, "another-seed", "admin_profile.json"))
	os.WriteFile(filepath.Join(a, "admin_profile.json"), pb, 0o644)
	refused("another Admin profile", "admin_profile is")
	os.WriteFile(filepath.Join(a, "admin_profile.json"), pa, 0o644)
	// The training text changed since.
	tb, _ := os.ReadFile(text)
	os.WriteFile(text, append(tb, "and again. "...), 0o644)
	refused("changed data", "data is")
	os.WriteFile(text, tb, 0o644)
	if code, _, e := runCLI(t, "train", "--resume", a, "--steps", "18"); code != 0 {
		t.Fatalf("the run itself: exit %d: %s", code, e)
	}

	// A translation run whose subword codes were replaced.
	tsv, _, _ := writePairs(t, dir, 100)
	targs := func(out string, merges string) []string {
		return []string{"train", "--task", "translate", "--out", out, "--data", tsv, "--columns", "2,3", "--bpe-merges", merges,
			"--encoder-layers", "1", "--layers", "1", "--d-model", "16", "--heads", "2", "--d-ff", "32", "--max-len", "16",
			"--max-tokens", "128", "--steps", "4", "--eval-every", "4", "--bleu-every", "0", "--norm", "preln", "--threads", "1"}
	}
	ta, tb2 := filepath.Join(dir, "ta"), filepath.Join(dir, "tb")
	for out, merges := range map[string]string{ta: "30", tb2: "20"} {
		if code, _, e := runCLI(t, targs(out, merges)...); code != 0 {
			t.Fatalf("translate: exit %d: %s", code, e)
		}
	}
	codes, _ := os.ReadFile(filepath.Join(tb2, "bpe.codes"))
	os.WriteFile(filepath.Join(ta, "bpe.codes"), codes, 0o644)
	a = ta
	refused("other codes", "bpe_codes is")
}

// --overwrite removes the previous run only once the new one is sure to
// start: a new run that fails on its data, its profile or its size
// leaves the old one's files as they were.
func TestOverwriteKeepsRunThatCannotStart(t *testing.T) {
	dir := t.TempDir()
	text := writeText(t, dir)
	a := filepath.Join(dir, "a")
	if code, _, e := runCLI(t, lmArgs(text, a, "6")...); code != 0 {
		t.Fatalf("train: exit %d: %s", code, e)
	}
	bad := filepath.Join(dir, "bad.txt")
	os.WriteFile(bad, []byte{0xff, 0xfe, 'a'}, 0o644)
	badProfile := filepath.Join(dir, "p.json")
	os.WriteFile(badProfile, []byte(`{"format":"clinic-admin-profile/1","layers":7,"omega":[1,2]}`), 0o644)
	_, src, tgt := writePairs(t, dir, 3)
	before := dirFiles(t, a)
	for _, c := range []struct {
		code int
		args []string
	}{
		{1, lmArgs(filepath.Join(dir, "missing.txt"), a, "6", "--overwrite")},
		{1, lmArgs(bad, a, "6", "--overwrite")},
		{1, lmArgs(text, a, "6", "--overwrite", "--admin-profile", badProfile)},
		{2, lmArgs(text, a, "6", "--overwrite", "--seq-len", "100000", "--d-model", "4096", "--heads", "8", "--d-ff", "16384")},
		{1, []string{"train", "--task", "translate", "--out", a, "--overwrite", "--src", src, "--tgt", tgt, "--val-frac", "0.5", "--max-len", "1"}},
	} {
		code, _, e := runCLI(t, c.args...)
		if code != c.code {
			t.Errorf("%v: exit %d, want %d: %s", c.args, code, c.code, e)
		}
		sameFilesAs(t, strings.Join(c.args, " "), a, before)
	}
	if code, _, e := runCLI(t, lmArgs(text, a, "3", "--overwrite")...); code != 0 {
		t.Fatalf("overwrite: exit %d: %s", code, e)
	}
	if recs, _ := metrics.ReadAll(filepath.Join(a, "metrics.jsonl")); len(recs) != 3 {
		t.Errorf("after --overwrite, %d metrics lines, want the new run's 3", len(recs))
	}
}

// Another translation run's model_best.safetensors (other subword codes)
// copied into a run is refused on --resume in one line naming it,
// whether it is of a step after the run's state or not, and nothing in
// the run changes; the run's own best resumes. A run stopped before its
// first save has no state: --resume says to start it again with
// --overwrite.
func TestResumeRefusesAnotherBest(t *testing.T) {
	dir := t.TempDir()
	tsv, _, _ := writePairs(t, dir, 100)
	targs := func(out, merges, steps string) []string {
		return []string{"train", "--task", "translate", "--out", out, "--data", tsv, "--columns", "2,3", "--bpe-merges", merges,
			"--encoder-layers", "1", "--layers", "1", "--d-model", "16", "--heads", "2", "--d-ff", "32", "--max-len", "16",
			"--max-tokens", "128", "--steps", steps, "--eval-every", "3", "--bleu-every", "3", "--norm", "preln", "--threads", "1"}
	}
	// ta's state and best are of step 2, tc's best of step 3 or 6.
	ta, tc := filepath.Join(dir, "ta"), filepath.Join(dir, "tc")
	if code, _, e := runCLI(t, targs(ta, "30", "2")...); code != 0 {
		t.Fatalf("translate: exit %d: %s", code, e)
	}
	if code, _, e := runCLI(t, targs(tc, "20", "6")...); code != 0 {
		t.Fatalf("translate: exit %d: %s", code, e)
	}
	for _, c := range []struct{ from, into, why string }{
		{tc, ta, "its bpe_codes differs from this run's"},
		{ta, tc, "its step is not after the state's"},
	} {
		best := filepath.Join(c.into, "model_best.safetensors")
		own, _ := os.ReadFile(best)
		theirs, err := os.ReadFile(filepath.Join(c.from, "model_best.safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(best, theirs, 0o644)
		before := dirFiles(t, c.into)
		code, _, e := runCLI(t, "train", "--resume", c.into, "--steps", "12", "--bleu-every", "100")
		if code != 1 || !strings.Contains(e, best+" (step ") || !strings.Contains(e, c.why) || strings.Count(e, "\n") != 1 {
			t.Errorf("%s's best in %s: exit %d, %q; want 1 and a line naming %s with %q", c.from, c.into, code, e, best, c.why)
		}
		sameFilesAs(t, "another run's best", c.into, before)
		os.WriteFile(best, own, 0o644)
	}
	if code, _, e := runCLI(t, "train", "--resume", ta, "--steps", "12", "--bleu-every", "100"); code != 0 {
		t.Fatalf("the run's own best: exit %d: %s", code, e)
	}

	// Killed before its first save: files, but no trainer state.
	os.Remove(filepath.Join(tc, train.StateFile))
	code, _, e := runCLI(t, "train", "--resume", tc)
	if code != 2 || !strings.Contains(e, "stopped before its first save") || !strings.Contains(e, "--out "+tc+" --overwrite") || strings.Count(e, "\n") != 1 {
		t.Errorf("no state: exit %d, %q", code, e)
	}
}
