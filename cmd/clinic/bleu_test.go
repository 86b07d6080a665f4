package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The example of sacreBLEU's README ("Using SacreBLEU from Python"), which
// prints "BLEU = 48.53 82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944
// hyp_len = 17 ref_len = 18)" for two references.
const (
	readmeRef1 = "The dog bit the man.\nIt was not unexpected.\nThe man bit him first.\n"
	readmeRef2 = "The dog had bit the man.\nNo one was surprised.\nThe man had bitten the dog.\n"
	readmeHyp  = "The dog bit the man.\nIt wasn't surprising.\nThe man had just bitten him.\n"
	readmeLine = "BLEU|nrefs:2|case:mixed|eff:no|tok:13a|smooth:exp|version:2.x-compatible = 48.5 82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18)\n"
)

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// runStdin runs the CLI with text on standard input.
func runStdin(t *testing.T, text string, args ...string) (int, string, string) {
	t.Helper()
	old := stdin
	stdin = strings.NewReader(text)
	defer func() { stdin = old }()
	return runCLI(t, args...)
}

func TestBLEUCommand(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"r1": readmeRef1, "r2": readmeRef2, "h": readmeHyp,
		// CRLF line ends and a missing final newline do not change
		// anything, as with sacrebleu.
		"r1crlf": strings.ReplaceAll(readmeRef1, "\n", "\r\n"),
		"hnoeol": strings.TrimSuffix(readmeHyp, "\n"),
	})
	p := func(n string) string { return filepath.Join(dir, n) }
	for _, args := range [][]string{
		{"bleu", "--ref", p("r1"), "--ref", p("r2"), "--hyp", p("h")},
		{"bleu", "--ref", p("r1crlf"), "--ref", p("r2"), "--hyp", p("hnoeol")},
		// References after the flags, as sacrebleu takes them.
		{"bleu", "--hyp", p("h"), p("r1"), p("r2")},
		{"bleu", "--ref", p("r1"), p("r2"), "--hyp", p("h")},
	} {
		code, out, errOut := runCLI(t, args...)
		if code != 0 || out != readmeLine {
			t.Errorf("%v: exit %d\n got %q\nwant %q\nstderr %q", args, code, out, readmeLine, errOut)
		}
	}
	for _, hyp := range [][]string{nil, {"--hyp", "-"}} {
		args := append([]string{"bleu", "--ref", p("r1"), "--ref", p("r2")}, hyp...)
		if hyp == nil {
			args = []string{"bleu", p("r1"), p("r2")}
		}
		code, out, errOut := runStdin(t, readmeHyp, args...)
		if code != 0 || out != readmeLine {
			t.Errorf("%v from stdin: exit %d, %q (stderr %q)", args, code, out, errOut)
		}
	}

	code, out, _ := runCLI(t, "bleu", "--ref", p("r1"), "--ref", p("r2"), "--hyp", p("h"), "--width", "2")
	if code != 0 || !strings.Contains(out, " = 48.53 82.4/") {
		t.Errorf("--width 2: %q", out)
	}
	// Settings reach the signature.
	code, out, _ = runCLI(t, "bleu", "--ref", p("r1"), "--hyp", p("h"), "--tokenize", "none", "--smooth", "floor", "--smooth-value", "0.5", "--lowercase")
	if code != 0 || !strings.HasPrefix(out, "BLEU|nrefs:1|case:lc|eff:no|tok:none|smooth:floor[0.50]|version:2.x-compatible = ") {
		t.Errorf("options: exit %d, %q", code, out)
	}

	code, out, errOut := runCLI(t, "bleu", "--ref", p("r1"), "--ref", p("r2"), "--hyp", p("h"), "--json", "--width", "2")
	var j struct {
		Name         string
		Score        float64
		Signature    string
		VerboseScore string `json:"verbose_score"`
		NRefs        string
		Tok          string
		BLEU         float64
		Precisions   []float64
		BP           float64
		HypLen       int `json:"hyp_len"`
		RefLen       int `json:"ref_len"`
		Counts       []int
		Totals       []int
	}
	if err := json.Unmarshal([]byte(out), &j); code != 0 || err != nil {
		t.Fatalf("--json: exit %d, %v, %q %q", code, err, out, errOut)
	}
	if j.Name != "BLEU" || j.Score != 48.53 || j.NRefs != "2" || j.Tok != "13a" ||
		j.HypLen != 17 || j.RefLen != 18 || len(j.Precisions) != 4 || j.Counts[3] != 3 || j.Totals[3] != 8 ||
		j.BLEU < 48.5308270 || j.BLEU > 48.5308271 || !strings.HasPrefix(j.VerboseScore, "82.4/50.0/45.5/37.5 (BP = 0.943") {
		t.Errorf("--json: %+v", j)
	}
}

func TestBLEUBadInput(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"ref.txt":   "a b c\nd e f\n",
		"hyp.txt":   "a b c\n",
		"ok.txt":    "a b c\nd e f\n",
		"bad.txt":   "fine\nbad \xff byte\n",
		"empty.txt": "",
	})
	p := func(n string) string { return filepath.Join(dir, n) }
	fifo := p("fifo")
	if err := exec.Command("mkfifo", fifo).Run(); err != nil {
		fifo = ""
	}
	type bleuCase struct {
		code  int
		args  []string
		wants []string
	}
	cases := []bleuCase{
		{1, []string{"bleu", "--ref", p("ref.txt"), "--hyp", p("hyp.txt")}, []string{"line count mismatch", "hyp.txt has 1, ", "ref.txt has 2"}},
		{1, []string{"bleu", "--ref", p("ok.txt"), "--ref", p("ref.txt"), "--ref", p("hyp.txt"), "--hyp", p("ok.txt")}, []string{"ok.txt has 2, ", "hyp.txt has 1"}},
		{1, []string{"bleu", "--ref", p("missing.txt"), "--hyp", p("ok.txt")}, []string{"missing.txt", "no such file"}},
		{1, []string{"bleu", "--ref", p("ok.txt"), "--hyp", p("missing.txt")}, []string{"missing.txt"}},
		{1, []string{"bleu", "--ref", p("bad.txt"), "--hyp", p("ok.txt")}, []string{"bad.txt:2: invalid UTF-8"}},
		{1, []string{"bleu", "--ref", dir, "--hyp", p("ok.txt")}, []string{dir, "not a regular file"}},
		{1, []string{"bleu", "--ref", p("ok.txt"), "--hyp", dir}, []string{"not a regular file"}},
		{1, []string{"bleu", "--ref", p("empty.txt"), "--hyp", p("empty.txt")}, []string{"empty.txt: no lines"}},
		{2, []string{"bleu", "--hyp", p("ok.txt")}, []string{"a reference is required"}},
		// A missing reference is reported without reading stdin.
		{1, []string{"bleu", "--ref", p("missing.txt")}, []string{"missing.txt"}},
		{2, []string{"bleu", "--ref", p("ok.txt"), "--tokenize", "intl"}, []string{"tokenizer"}},
		{2, []string{"bleu", "--ref", p("ok.txt"), "--smooth", "add-one"}, []string{"smoothing"}},
		{2, []string{"bleu", "--ref", p("ok.txt"), "--smooth-value", "0.5"}, []string{"exp takes no value"}},
		{2, []string{"bleu", "--ref", p("ok.txt"), "--smooth", "floor", "--smooth-value", "-1"}, []string{"non-negative"}},
		{2, []string{"bleu", "--ref", p("ok.txt"), "--width", "-1"}, []string{"--width"}},
		{2, []string{"bleu", "--ref", "-"}, []string{"--ref must name a file"}},
		{2, []string{"bleu", "--ref", p("ok.txt"), "--bogus"}, []string{"unknown flag"}},
		// An argument after the flags is a reference, and must exist.
		{1, []string{"bleu", "--ref", p("ok.txt"), p("stray")}, []string{"stray"}},
		{2, []string{"bleu", "--hyp", p("ok.txt"), "-"}, []string{"--ref must name a file"}},
	}
	if fifo != "" {
		cases = append(cases,
			bleuCase{1, []string{"bleu", "--ref", fifo, "--hyp", p("ok.txt")}, []string{"fifo: is a named pipe (FIFO), not a regular file"}},
			bleuCase{1, []string{"bleu", "--ref", p("ok.txt"), "--hyp", fifo}, []string{"fifo: is a named pipe (FIFO), not a regular file"}})
	}
	for _, tc := range cases {
		done := make(chan struct{})
		var code int
		var errOut string
		go func() {
			defer close(done)
			code, _, errOut = runStdin(t, "", tc.args...)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("%v: still running after 10s (blocked on a FIFO?)", tc.args)
		}
		if code != tc.code {
			t.Errorf("%v: exit %d, want %d (stderr %q)", tc.args, code, tc.code, errOut)
		}
		if n := strings.Count(strings.TrimSpace(errOut), "\n"); n != 0 {
			t.Errorf("%v: %d lines on stderr, want one: %q", tc.args, n+1, errOut)
		}
		for _, w := range tc.wants {
			if !strings.Contains(errOut, w) {
				t.Errorf("%v: stderr %q lacks %q", tc.args, errOut, w)
			}
		}
	}
}

func TestBLEUHelp(t *testing.T) {
	code, out, _ := runCLI(t, "bleu", "--help")
	for _, f := range []string{"Usage: clinic bleu", "--ref", "--hyp", "--tokenize", "--lowercase", "--smooth", "--json"} {
		if code != 0 || !strings.Contains(out, f) {
			t.Errorf("bleu --help: exit %d, lacks %s", code, f)
		}
	}
}
