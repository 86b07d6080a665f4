package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clinic-ml/clinic/internal/bpe"
	"github.com/clinic-ml/clinic/internal/metrics"
	"github.com/clinic-ml/clinic/model"
)

// writePairs writes a toy parallel corpus (number words → digits) as a
// TSV with an id column first, and as two aligned files.
func writePairs(t *testing.T, dir string, n int) (tsv, src, tgt string) {
	t.Helper()
	words := []string{"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"}
	var tb, sb, gb bytes.Buffer
	for i := 0; i < n; i++ {
		a, b, c := (i*7+3)%10, (i*3+1)%10, (i/10+i)%10
		s, g := fmt.Sprintf("%s %s %s", words[a], words[b], words[c]), fmt.Sprintf("%d %d %d", a, b, c)
		fmt.Fprintf(&tb, "id%d\t%s\t%s\n", i, s, g)
		fmt.Fprintln(&sb, s)
		fmt.Fprintln(&gb, g)
	}
	tsv, src, tgt = filepath.Join(dir, "pairs.tsv"), filepath.Join(dir, "src.txt"), filepath.Join(dir, "tgt.txt")
	for p, b := range map[string][]byte{tsv: tb.Bytes(), src: sb.Bytes(), tgt: gb.Bytes()} {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return tsv, src, tgt
}

// 'clinic train --task translate' on a user's TSV trains an
// encoder–decoder whose validation loss falls, writes the BPE codes and
// a checkpoint that carries them; the same seed repeats the run; two
// aligned files give the same run as the TSV.
func TestTrainTranslateCLI(t *testing.T) {
	dir := t.TempDir()
	tsv, src, tgt := writePairs(t, dir, 400)
	args := func(out string, extra ...string) []string {
		return append([]string{"train", "--task", "translate", "--out", out, "--encoder-layers", "2", "--layers", "2",
			"--d-model", "32", "--heads", "2", "--d-ff", "64", "--max-len", "16", "--max-tokens", "256",
			"--steps", "150", "--eval-every", "50", "--warmup", "20", "--lr", "3e-3", "--threads", "2", "--val-frac", "0.05"}, extra...)
	}
	a, b, c := filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "c")
	code, out, e := runCLI(t, args(a, "--data", tsv, "--columns", "2,3", "--bpe-merges", "40")...)
	if code != 0 {
		t.Fatalf("train: exit %d: %s", code, e)
	}
	if !strings.Contains(out, "learned 40 BPE merges") || !strings.Contains(out, "nats/target token") {
		t.Errorf("stdout: %s", out)
	}
	recs, err := metrics.ReadAll(filepath.Join(a, "metrics.jsonl"))
	if err != nil || len(recs) != 150 {
		t.Fatalf("metrics: %d lines, %v", len(recs), err)
	}
	if b, ok := recs[149]["val_bleu"].(float64); !ok || b < 0 || b > 100 || recs[148]["val_bleu"] != nil {
		t.Errorf("validation BLEU in the metrics: %v", recs[149]["val_bleu"])
	}
	if _, err := os.Stat(filepath.Join(a, "model_best.safetensors")); err != nil {
		t.Error(err)
	}
	v1, v3 := recs[49]["val_loss"].(float64), recs[149]["val_loss"].(float64)
	if !(v3 < v1-0.3) {
		t.Errorf("validation loss did not fall: %.3f → %.3f", v1, v3)
	}
	p, meta, err := model.LoadCheckpoint(filepath.Join(a, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	codes, err := bpe.Parse([]byte(meta["bpe_codes"]))
	if err != nil || codes.Size() != p.Cfg.Vocab || p.Cfg.EncoderLayers != 2 {
		t.Fatalf("checkpoint: codes %v, vocab %d, encoder layers %d", err, p.Cfg.Vocab, p.Cfg.EncoderLayers)
	}
	for _, cmd := range [][]string{{"sample", "--checkpoint", filepath.Join(a, "model.safetensors")},
		{"analyze", "grads", "--checkpoint", filepath.Join(a, "model.safetensors"), "--out", filepath.Join(dir, "g")}} {
		if code, _, e := runCLI(t, cmd...); code != 1 || !strings.Contains(e, "translator") {
			t.Errorf("%v on a translator: exit %d, %q", cmd, code, e)
		}
	}
	if fc, _ := os.ReadFile(filepath.Join(a, "bpe.codes")); string(fc) != meta["bpe_codes"] {
		t.Error("bpe.codes differs from the checkpoint's codes")
	}
	if code, _, e := runCLI(t, args(b, "--src", src, "--tgt", tgt, "--bpe-codes", filepath.Join(a, "bpe.codes"))...); code != 0 {
		t.Fatalf("train from aligned files: exit %d: %s", code, e)
	}
	// A header naming the languages picks the columns: the same pairs,
	// the same run.
	hdr := filepath.Join(dir, "header.tsv")
	body, _ := os.ReadFile(tsv)
	os.WriteFile(hdr, append([]byte("id\twords\tdigits\n"), body...), 0o644)
	if code, _, e := runCLI(t, args(c, "--data", hdr, "--src-lang", "words", "--tgt-lang", "digits", "--bpe-merges", "40")...); code != 0 {
		t.Fatalf("rerun: %s", e)
	}
	dd := filepath.Join(dir, "d")
	if code, _, e := runCLI(t, args(dd, "--data", tsv, "--columns", "2,3", "--bpe-merges", "40")...); code != 0 {
		t.Fatalf("rerun: %s", e)
	}
	ca, _ := os.ReadFile(filepath.Join(a, "model.safetensors"))
	cd, _ := os.ReadFile(filepath.Join(dd, "model.safetensors"))
	if !bytes.Equal(ca, cd) {
		t.Error("same seed, different checkpoints")
	}
	pc, _, _ := model.LoadCheckpoint(filepath.Join(c, "model.safetensors"))
	for i := range p.W {
		if p.W[i] != pc.W[i] {
			t.Fatal("the TSV with a language header trained a different model")
		}
	}
	// The aligned files hold the same pairs and the codes are the same,
	// so only the checkpoint metadata's language labels could differ.
	pb, _, _ := model.LoadCheckpoint(filepath.Join(b, "model.safetensors"))
	for i := range p.W {
		if p.W[i] != pb.W[i] {
			t.Fatal("aligned files trained a different model than the TSV with the same pairs")
		}
	}
}

// Bad translation input gets a one-line error and the right status.
func TestTrainTranslateBadInput(t *testing.T) {
	dir := t.TempDir()
	tsv, src, _ := writePairs(t, dir, 20)
	emptyTgt := filepath.Join(dir, "empty.tsv")
	os.WriteFile(emptyTgt, []byte("a\tb\nc\t\n"), 0o644)
	short := filepath.Join(dir, "short.txt")
	os.WriteFile(short, []byte("one\n"), 0o644)
	foreign := filepath.Join(dir, "de-en.tsv")
	os.WriteFile(foreign, []byte("de\ten\nHallo Welt\tHello world\nDanke\tThanks\n"), 0o644)
	garbage := filepath.Join(dir, "codes.bpe")
	os.WriteFile(garbage, []byte("not codes\n"), 0o644)
	out := filepath.Join(dir, "run")
	tr := func(a ...string) []string {
		return append([]string{"train", "--task", "translate", "--out", out}, a...)
	}
	for _, tc := range []struct {
		code int
		args []string
		want string
	}{
		{2, []string{"train", "--task", "bogus"}, "--task"},
		{2, []string{"train", "--max-tokens", "100"}, "--task translate"},
		{2, tr("--batch-size", "8"), "--max-tokens"},
		{2, tr("--src", src), "--src and --tgt"},
		{2, tr("--columns", "2,2", "--data", tsv), "--columns"},
		{2, tr("--columns", "x"), "--columns"},
		{2, tr("--src-lang", "fr"), "en or es"},
		{2, tr("--src-lang", "en", "--tgt-lang", "en"), "different"},
		{2, tr("--encoder-layers", "0"), "--encoder-layers"},
		{2, tr("--max-len", "20", "--seq-len", "30"), "same setting"},
		{2, tr("--max-len", "0"), "--max-len"},
		{2, tr("--bleu-beam", "0"), "--bleu-beam"},
		{2, tr("--bleu-every", "-1"), "--bleu-every"},
		{2, tr("--data", tsv, "--src", src, "--tgt", src), "not both"},
		{1, tr("--data", emptyTgt), "empty.tsv:2"},
		// A header naming other languages than --src-lang/--tgt-lang
		// would otherwise be trained on as a pair.
		{1, tr("--data", foreign), "de-en.tsv:1: the first line (de, en) looks like a header"},
		{1, tr("--src", src, "--tgt", short), "short.txt"},
		{1, tr("--data", tsv, "--columns", "2,3", "--bpe-codes", garbage), "codes.bpe"},
		{1, tr("--data", filepath.Join(dir, "missing.tsv")), "missing.tsv"},
		{1, tr("--data", dir), dir},
	} {
		code, _, errOut := runCLI(t, tc.args...)
		if code != tc.code {
			t.Errorf("%v: exit %d, want %d (stderr %q)", tc.args, code, tc.code, errOut)
		}
		first := strings.SplitN(errOut, "\n", 2)[0]
		if !strings.Contains(first, tc.want) || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
			t.Errorf("%v: stderr %q, want one line with %q", tc.args, errOut, tc.want)
		}
		if strings.Contains(errOut, "goroutine ") || strings.Contains(errOut, "panic") {
			t.Errorf("%v: panic trace: %s", tc.args, errOut)
		}
	}
}

// The translation sweep trains every (depth, norm), averages the kept
// checkpoints, scores the test pairs and writes its table and figures.
func TestTranslateSweep(t *testing.T) {
	dir := t.TempDir()
	tsv, _, _ := writePairs(t, dir, 300)
	test := filepath.Join(dir, "test.tsv")
	os.WriteFile(test, []byte("x\tfour two one\t4 2 1\ny\tnine nine zero\t9 9 0\nz\tone two three\t1 2 3\n"), 0o644)
	out := filepath.Join(dir, "sweep")
	code, stdout, e := runCLI(t, "analyze", "sweep", "--task", "translate", "--data", tsv, "--columns", "2,3", "--test-data", test,
		"--depths", "1,2", "--norms", "postln,admin", "--d-model", "32", "--heads", "2", "--d-ff", "64", "--max-len", "16",
		"--max-tokens", "256", "--bpe-merges", "40", "--steps", "40", "--save-every", "10", "--eval-every", "20",
		"--avg-last", "3", "--beam", "2", "--warmup", "10", "--lr", "3e-3", "--threads", "2", "--out", out)
	if code != 0 {
		t.Fatalf("sweep: exit %d: %s", code, e)
	}
	rows := readCSV(t, filepath.Join(out, "sweep.csv"))
	if len(rows) != 5 {
		t.Fatalf("sweep.csv has %d rows", len(rows))
	}
	for _, r := range rows[1:] {
		if r[6] != "trained" || r[5] != "3" || r[4] == "" {
			t.Errorf("row %v: want trained, 3 checkpoints averaged and a BLEU", r)
		}
	}
	for _, f := range []string{"report.md", "sweep_curves.png", "sweep_curves.svg", "bpe.codes", "runs/admin-L2/checkpoint40.safetensors"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	if !strings.Contains(stdout, "test BLEU") {
		t.Errorf("stdout: %s", stdout)
	}
	// --continue keeps finished runs and finishes the others: a run whose
	// result is gone resumes from its saved state to the same numbers.
	os.Remove(filepath.Join(out, "runs", "admin-L2", "result.json"))
	sweepArgs := []string{"analyze", "sweep", "--task", "translate", "--data", tsv, "--columns", "2,3", "--test-data", test,
		"--depths", "1,2", "--norms", "postln,admin", "--d-model", "32", "--heads", "2", "--d-ff", "64", "--max-len", "16",
		"--max-tokens", "256", "--bpe-merges", "40", "--steps", "40", "--save-every", "10", "--eval-every", "20",
		"--avg-last", "3", "--beam", "2", "--warmup", "10", "--lr", "3e-3", "--out", out, "--continue"}
	code, _, e = runCLI(t, append(sweepArgs, "--threads", "1")...)
	if code != 0 || strings.Count(e, "finished earlier, kept") != 3 || !strings.Contains(e, "resuming at step 40") {
		t.Fatalf("continue: exit %d: %s", code, e)
	}
	again := readCSV(t, filepath.Join(out, "sweep.csv"))
	for i := range rows {
		for j := 0; j < 6; j++ { // all but the timing
			if rows[i][j] != again[i][j] {
				t.Errorf("continued sweep row %v, first %v", again[i], rows[i])
			}
		}
	}
	if code, _, e := runCLI(t, append(sweepArgs[:len(sweepArgs)-1], "--lr", "1e-3", "--continue")...); code != 2 || !strings.Contains(e, "--lr") {
		t.Errorf("continue with another --lr: exit %d, %q", code, e)
	}
	for _, tc := range []struct{ args []string }{
		{[]string{"analyze", "sweep", "--task", "translate", "--data", tsv, "--out", out}},
		{[]string{"analyze", "sweep", "--task", "translate", "--avg-last", "0", "--out", out}},
		{[]string{"analyze", "sweep", "--task", "translate", "--layers", "3", "--out", out}},
	} {
		if code, _, _ := runCLI(t, tc.args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", tc.args, code)
		}
	}
}

// The sweep reads the same pairs from a TSV in --columns, from a TSV
// whose header names the languages, or from line-aligned files
// (--src/--tgt, --test-src/--test-tgt), and gives the same table from
// each.
func TestTranslateSweepInputs(t *testing.T) {
	dir := t.TempDir()
	tsv, src, tgt := writePairs(t, dir, 200)
	test := [][2]string{{"four two one", "4 2 1"}, {"nine nine zero", "9 9 0"}, {"one two three", "1 2 3"}}
	var tt, hdr, ts, tg strings.Builder
	hdr.WriteString("id\ten\tes\n")
	for i, p := range test {
		fmt.Fprintf(&tt, "t%d\t%s\t%s\n", i, p[0], p[1])
		fmt.Fprintln(&ts, p[0])
		fmt.Fprintln(&tg, p[1])
	}
	hdr.WriteString(tt.String())
	body, err := os.ReadFile(tsv)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"test.tsv": tt.String(), "test_hdr.tsv": hdr.String(), "test.src": ts.String(), "test.tgt": tg.String(),
		"pairs_hdr.tsv": "id\ten\tes\n" + string(body)}
	for name, s := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	at := func(name string) string { return filepath.Join(dir, name) }
	common := []string{"analyze", "sweep", "--task", "translate", "--depths", "1", "--norms", "admin", "--d-model", "32",
		"--heads", "2", "--d-ff", "64", "--max-len", "16", "--max-tokens", "256", "--bpe-merges", "40", "--steps", "20",
		"--save-every", "10", "--eval-every", "10", "--avg-last", "2", "--beam", "2", "--warmup", "5", "--lr", "3e-3",
		"--threads", "1", "--val-frac", "0.05"}
	var first [][]string
	for i, in := range [][]string{
		{"--data", tsv, "--columns", "2,3", "--test-data", at("test.tsv")},
		{"--data", at("pairs_hdr.tsv"), "--test-data", at("test_hdr.tsv")},
		{"--src", src, "--tgt", tgt, "--test-src", at("test.src"), "--test-tgt", at("test.tgt")},
	} {
		out := filepath.Join(dir, fmt.Sprintf("sweep%d", i))
		args := append(append(append([]string{}, common...), in...), "--out", out)
		if code, _, e := runCLI(t, args...); code != 0 {
			t.Fatalf("%v: exit %d: %s", in, code, e)
		}
		rows := readCSV(t, filepath.Join(out, "sweep.csv"))
		if len(rows) != 2 || rows[1][4] == "" {
			t.Fatalf("%v: sweep.csv %v", in, rows)
		}
		rep, err := os.ReadFile(filepath.Join(out, "report.md"))
		if err != nil || !strings.Contains(string(rep), ", 3 pairs)") {
			t.Errorf("%v: the report does not name a test set of 3 pairs (%v)", in, err)
		}
		if first == nil {
			first = rows
			continue
		}
		for j := 0; j < 6; j++ { // all but the timing
			if rows[1][j] != first[1][j] {
				t.Errorf("%v: row %v, from the TSV %v", in, rows[1], first[1])
			}
		}
	}
	// a test source longer than --max-len is cut, with a warning
	long := strings.Repeat("one two three ", 20)
	os.WriteFile(at("long.src"), []byte(long+"\nfour\n"), 0o644)
	os.WriteFile(at("long.tgt"), []byte("1 2 3\n4\n"), 0o644)
	args := append(append([]string{}, common...), "--src", src, "--tgt", tgt, "--test-src", at("long.src"), "--test-tgt", at("long.tgt"),
		"--out", filepath.Join(dir, "long"))
	if code, _, e := runCLI(t, args...); code != 0 || !strings.Contains(e, "warning: 1 of 2 test sources are longer") {
		t.Errorf("long test source: exit %d, stderr %q", code, e)
	}
	for _, bad := range [][]string{
		{"--src", src, "--tgt", tgt},
		{"--src", src, "--tgt", tgt, "--test-src", at("test.src")},
		{"--src", src, "--tgt", tgt, "--test-src", at("test.src"), "--test-tgt", at("test.tgt"), "--test-data", at("test.tsv")},
	} {
		args := append(append(append([]string{}, common...), bad...), "--out", filepath.Join(dir, "bad"))
		if code, _, e := runCLI(t, args...); code != 2 || strings.Count(strings.TrimSpace(e), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q; want 2 and one line", bad, code, e)
		}
	}
}
