package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/clinic-ml/clinic/internal/limits"
)

// commandLines are the commands whose flags TestFlagValuesAreUsageErrors
// tries, with the arguments that must come before the flags tried, and
// after them (bleu checks for a reference before its flags' values).
var commandLines = []struct{ pre, post []string }{
	{[]string{"train"}, nil},
	{[]string{"train", "--task", "translate"}, nil},
	{[]string{"profile"}, nil},
	{[]string{"sample"}, nil},
	{[]string{"logits"}, nil},
	{[]string{"average"}, nil},
	{[]string{"translate"}, nil},
	{[]string{"bleu"}, []string{"--smooth", "floor", "ref.txt"}},
	{[]string{"bpe", "learn"}, []string{"in.txt"}},
	{[]string{"analyze", "change"}, nil},
	{[]string{"analyze", "grads"}, nil},
	{[]string{"analyze", "dependency"}, nil},
	{[]string{"analyze", "change", "--task", "translate"}, nil},
	{[]string{"analyze", "grads", "--task", "translate"}, nil},
	{[]string{"analyze", "dependency", "--task", "translate"}, nil},
	{[]string{"analyze", "sweep"}, nil},
	{[]string{"analyze", "sweep", "--task", "translate"}, nil},
	{[]string{"analyze", "lr-range"}, []string{"a", "b"}},
}

// Flags whose huge values are legitimate: counts of steps and intervals
// (a run may be long), thresholds, and flags that take "all" for
// anything above what there is (top-k, eval-batches).
var hugeAllowed = []string{"steps", "warmup", "eval-every", "save-every", "keep-last", "check-every", "bleu-every", "max-epoch", "patience",
	"eval-batches", "min-frequency", "min-char-frequency", "top-k"}

// flagsOf lists the flags of a command, by type, from its --help.
func flagsOf(t *testing.T, pre []string) map[string]string {
	t.Helper()
	code, out, _ := runCLI(t, append(slices.Clone(pre), "--help")...)
	if code != 0 {
		t.Fatalf("%v --help: exit %d", pre, code)
	}
	flags := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^\s+--([a-z0-9-]+) (int|float|float32|uint)\s`).FindAllStringSubmatch(out, -1) {
		flags[m[1]] = m[2]
	}
	if len(pre) > 0 && pre[0] != "average" && pre[len(pre)-1] != "lr-range" && len(flags) == 0 {
		t.Fatalf("%v --help: no numeric flags found in %q", pre, out)
	}
	return flags
}

// Every numeric flag of every command refuses a value out of its range
// with exit status 2 and one line naming the flag, before any work: a
// negative or wrapped-around size, a huge size (issue 23: translate
// --beam 2^63-1 exited 1, --beam 2^62+1 with 4 sentences crashed in the
// beam search, profile and analyze --batch-size 2^62+1 crashed), NaN,
// and infinities.
func TestFlagValuesAreUsageErrors(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir) // a command that wrongly started would write here
	tried := map[string]bool{}
	for _, cl := range commandLines {
		for name, typ := range flagsOf(t, cl.pre) {
			var values []string
			switch typ {
			case "int":
				values = []string{"-9223372036854775808", "-1"}
				if !slices.Contains(hugeAllowed, name) {
					values = append(values, "9223372036854775807", "4611686018427387905", strconv.Itoa(1<<40))
				}
			case "uint":
				values = []string{"-1"}
			default:
				values = []string{"NaN", "-Inf", "+Inf", "-1e300", "1e300"}
			}
			for _, v := range values {
				if refusalAllowedToPass(cl.pre, name, v) {
					continue
				}
				tried[name] = true
				args := append(append(slices.Clone(cl.pre), "--"+name, v), cl.post...)
				code, _, e := runCLI(t, args...)
				if code != 2 || !namesFlag(e, name) || strings.Count(strings.TrimSpace(e), "\n") != 0 {
					t.Errorf("%s: exit %d, stderr %q; want exit 2 and one line naming %s", strings.Join(args, " "), code, e, name)
				}
			}
		}
	}
	for _, name := range []string{"beam", "batch-size", "max-len-a", "max-len-b", "max-tokens", "max-sentences", "bleu-beam",
		"length", "seeds", "avg-last", "merges", "seq-len", "lr", "clip", "threads", "width"} {
		if !tried[name] {
			t.Errorf("--%s was not tried", name)
		}
	}
	// A flag of profile that it ignored (it profiles Admin) is refused.
	if code, _, e := runCLI(t, "profile", "--norm", "preln"); code != 2 || !strings.Contains(e, "--norm") {
		t.Errorf("profile --norm preln: exit %d, %q", code, e)
	}
	if ents, _ := os.ReadDir(dir); len(ents) > 0 {
		t.Errorf("a refused command wrote %s", filepath.Join(dir, ents[0].Name()))
	}
}

// namesFlag says whether an error names the flag: as --name, or as the
// model's config does ("encoder layers"; --max-len is seq-len).
func namesFlag(e, name string) bool {
	return strings.Contains(e, name) || strings.Contains(e, strings.ReplaceAll(name, "-", " ")) ||
		name == "max-len" && strings.Contains(e, "seq-len")
}

// refusalAllowedToPass says which in-range values of the list above a
// flag accepts: -1 where it means "off" or "all", and values that are
// legitimate for a flag (a weight decay, a clip of +Inf is no clipping).
func refusalAllowedToPass(pre []string, name, v string) bool {
	switch {
	case name == "label-smoothing" || strings.HasSuffix(name, "dropout"):
		return false
	case v == "1e300" && (name == "lr" || name == "clip" || name == "weight-decay" || name == "adam-eps" ||
		name == "eps" || name == "stall-margin" || name == "lenpen" || name == "temperature" || name == "smooth-value"):
		return true
	case v == "-1e300" && name == "lenpen":
		return true
	}
	return false
}

// Issue 23's reproducer: with 4 sentences and --batch-size 4, a beam of
// 2^62+1 made 4·beam wrap around to 4 hypotheses, which passed the
// memory check and crashed the beam search (exit 3); 2^63-1 exited 1.
// Both are usage errors now, and the largest beam allowed still
// translates.
func TestTranslateHugeBeam(t *testing.T) {
	dir := t.TempDir()
	ckpt, _ := tinyTranslator(t, dir)
	in := filepath.Join(dir, "x")
	os.WriteFile(in, []byte("one two\nthree\nfour five\ntwo one\n"), 0o644)
	for _, beam := range []string{"4611686018427387905", "9223372036854775807", strconv.Itoa(limits.MaxBeam + 1)} {
		code, _, e := runCLI(t, "translate", "--checkpoint", ckpt, "--input", in, "--batch-size", "4", "--beam", beam)
		if code != 2 || !strings.Contains(e, "--beam") || strings.Count(strings.TrimSpace(e), "\n") != 0 {
			t.Errorf("--beam %s: exit %d, stderr %q; want exit 2 and one line naming --beam", beam, code, e)
		}
	}
	code, out, e := runCLI(t, "translate", "--checkpoint", ckpt, "--input", in, "--batch-size", "4",
		"--beam", strconv.Itoa(limits.MaxBeam), "--max-len-b", "1", "--threads", "1")
	if code != 0 || strings.Count(out, "\n") != 4 {
		t.Errorf("--beam %d: exit %d, %q, stderr %q", limits.MaxBeam, code, out, e)
	}
}
