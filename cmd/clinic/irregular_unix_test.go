//go:build unix

package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runQuick runs the CLI and fails the test if it has not returned
// within a few seconds: a FIFO must be refused, not waited on.
func runQuick(t *testing.T, args ...string) (int, string) {
	t.Helper()
	type result struct {
		code int
		err  string
	}
	done := make(chan result, 1)
	go func() {
		code, _, e := runCLI(t, args...)
		done <- result{code, e}
	}()
	select {
	case r := <-done:
		return r.code, r.err
	case <-time.After(20 * time.Second):
		t.Fatalf("%v: still running after 20s (blocked on a non-regular file?)", args)
	}
	return 0, ""
}

// Checkpoints, Admin profiles, BPE codes, data and text inputs that are
// FIFOs, devices or directories are refused at once, naming the path.
func TestIrregularInputsRefused(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skip("no FIFO:", err)
	}
	_, lm := tinyTranslator(t, dir)
	out := filepath.Join(dir, "out")
	for _, bad := range []string{fifo, "/dev/zero", dir} {
		for _, args := range [][]string{
			{"sample", "--checkpoint", bad},
			{"logits", "--checkpoint", bad, "--text", "abc", "--out", filepath.Join(dir, "l.safetensors")},
			{"translate", "--checkpoint", bad},
			{"analyze", "grads", "--checkpoint", bad, "--out", out},
			{"analyze", "dependency", "--checkpoint", bad, "--out", out},
			{"average", "--out", filepath.Join(dir, "avg.safetensors"), lm, bad},
			{"train", "--norm", "admin", "--admin-profile", bad, "--out", out, "--layers", "2", "--d-model", "16", "--d-ff", "16", "--heads", "2", "--seq-len", "8"},
			{"train", "--data", bad, "--out", out},
			{"bpe", "encode", "--codes", bad},
			{"bpe", "learn", "--merges", "10", "--out", filepath.Join(dir, "c.bpe"), bad},
			{"translate", "--checkpoint", lm, "--input", bad},
		} {
			if bad == dir && args[1] == "--data" {
				continue // a folder of .txt files is valid data
			}
			code, e := runQuick(t, args...)
			if code != 1 || !strings.Contains(e, bad) || !strings.Contains(e, "not a regular file") || strings.Count(strings.TrimSpace(e), "\n") != 0 {
				t.Errorf("%v: exit %d, stderr %q; want exit 1 and one line saying %s is not a regular file", args, code, e, bad)
			}
		}
	}
}

// Outputs that exist and are not regular files are refused before any
// work; a symbolic link is written through to its target.
func TestIrregularOutputsRefused(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skip("no FIFO:", err)
	}
	ckpt, lm := tinyTranslator(t, dir)
	text := filepath.Join(dir, "t.txt")
	os.WriteFile(text, []byte("one two three\n"), 0o644)
	for _, bad := range []string{fifo, os.DevNull, dir} {
		for _, args := range [][]string{
			{"logits", "--checkpoint", lm, "--text", "abc", "--out", bad},
			{"average", "--out", bad, lm, lm},
			{"profile", "--free", "--layers", "2", "--out", bad},
			{"bpe", "learn", "--merges", "10", "--out", bad, text},
			{"translate", "--checkpoint", ckpt, "--input", text, "--output", bad},
			{"train", "--cpuprofile", bad, "--out", filepath.Join(dir, "run")},
		} {
			code, e := runQuick(t, args...)
			if code != 1 || !strings.Contains(e, "not a regular file") || strings.Count(strings.TrimSpace(e), "\n") != 0 {
				t.Errorf("%v: exit %d, stderr %q; want exit 1, not a regular file", args, code, e)
			}
		}
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		t.Fatal("directory replaced")
	}
	// A symlink as output: the target is written, the link stays.
	target := filepath.Join(dir, "target.json")
	link := filepath.Join(dir, "link.json")
	os.Symlink("target.json", link)
	if code, _, e := runCLI(t, "profile", "--free", "--layers", "2", "--out", link); code != 0 {
		t.Fatalf("profile --out link: exit %d: %s", code, e)
	}
	if st, err := os.Lstat(link); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced: %v", err)
	}
	if b, err := os.ReadFile(target); err != nil || !strings.Contains(string(b), "omega") {
		t.Errorf("target not written: %v", err)
	}
}
