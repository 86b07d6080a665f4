package bpe

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Segmentation is in line with sentencepiece's BPE trained on the same
// text with the same vocabulary size (byte fallback on both sides, no
// normalization): a bug that merges too little or too eagerly shows up
// as a different number of tokens per sentence. Needs Debian's
// sentencepiece (spm_train, spm_encode) on PATH, and is skipped without.
func TestCompareSentencePiece(t *testing.T) {
	train, err1 := exec.LookPath("spm_train")
	encode, err2 := exec.LookPath("spm_encode")
	if err1 != nil || err2 != nil {
		t.Skip("spm_train or spm_encode not on PATH (Debian package sentencepiece)")
	}
	lines := excerpt(t)
	c := codes(t)
	dir := t.TempDir()
	input := filepath.Join(dir, "train.txt")
	if err := os.WriteFile(input, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	prefix := filepath.Join(dir, "spm")
	cmd := exec.Command(train, "--input="+input, "--model_prefix="+prefix, "--model_type=bpe",
		"--vocab_size="+strconv.Itoa(c.Size()), "--byte_fallback=true", "--character_coverage=1.0",
		"--normalization_rule_name=identity", "--num_threads=1", "--minloglevel=2")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("spm_train: %v\n%s", err, out)
	}
	cmd = exec.Command(encode, "--model="+prefix+".model", "--output_format=piece", "--input="+input)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("spm_encode: %v", err)
	}
	spmLines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(spmLines) != len(lines) {
		t.Fatalf("spm_encode gave %d lines for %d", len(spmLines), len(lines))
	}
	var spmTokens, ourTokens int
	for i, l := range lines {
		spmTokens += len(strings.Fields(spmLines[i]))
		ourTokens += len(c.Encode(l))
	}
	n := float64(len(lines))
	ours, theirs := float64(ourTokens)/n, float64(spmTokens)/n
	t.Logf("vocabulary %d: clinic %.2f tokens/sentence, sentencepiece BPE %.2f (ratio %.3f) on %d sentences",
		c.Size(), ours, theirs, ours/theirs, len(lines))
	if r := ours / theirs; r < 0.85 || r > 1.15 {
		t.Errorf("clinic's %.2f tokens per sentence is not within 15%% of sentencepiece's %.2f", ours, theirs)
	}
}
