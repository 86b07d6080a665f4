package main

import (
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/clinic-ml/clinic/internal/bpe"
	"github.com/clinic-ml/clinic/internal/experiment"
)

// Both sweeps call a run diverged when its final validation loss is not
// finite or above ln V, V the vocabulary size: a uniform guess's loss.
func TestLossDiverged(t *testing.T) {
	for _, c := range []struct {
		loss  float64
		vocab int
		want  bool
	}{
		{2.5, 256, false},
		{math.Log(256), 256, false},
		{math.Nextafter(math.Log(256), 10), 256, true},
		{2970, 256, true}, // blown up, still finite
		{1.6e8, 8000, true},
		{8.9, 8000, false}, // ln 8000 = 8.987
		{9.0, 8000, true},
		{math.NaN(), 8000, true},
		{math.Inf(1), 8000, true},
		{math.Inf(-1), 8000, true},
		{0, 2, false},
	} {
		if got := experiment.LossDiverged(c.loss, c.vocab); got != c.want {
			t.Errorf("experiment.LossDiverged(%g, %d) = %v, want %v", c.loss, c.vocab, got, c.want)
		}
	}
}

// Issue 23: the translation sweep called a run "trained" (and tested it)
// whose validation loss blew up to 1.6e8 without becoming NaN. With
// --lr 1e4 and no clipping every run blows up so; it is diverged, not
// tested, and the report says why.
func TestTranslateSweepBlownUpIsDiverged(t *testing.T) {
	dir := t.TempDir()
	tsv, _, _ := writePairs(t, dir, 300)
	out := filepath.Join(dir, "sweep")
	code, _, e := runCLI(t, "analyze", "sweep", "--task", "translate", "--data", tsv, "--columns", "2,3", "--test-data", tsv,
		"--depths", "1", "--norms", "postln", "--d-model", "16", "--heads", "2", "--d-ff", "32", "--max-len", "16",
		"--max-tokens", "256", "--bpe-merges", "20", "--steps", "20", "--save-every", "10", "--eval-every", "10",
		"--avg-last", "1", "--beam", "1", "--warmup", "1", "--lr", "1e4", "--clip", "0", "--threads", "1", "--out", out)
	if code != 0 {
		t.Fatalf("sweep: exit %d: %s", code, e)
	}
	codes, err := bpe.ReadFile(filepath.Join(out, "bpe.codes"))
	if err != nil {
		t.Fatal(err)
	}
	rows := readCSV(t, filepath.Join(out, "sweep.csv"))
	if len(rows) != 2 {
		t.Fatalf("sweep.csv: %q", rows)
	}
	r := rows[1] // depth,norm,steps,final_val_loss,test_bleu,averaged,status,...
	v, err := strconv.ParseFloat(r[3], 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v <= math.Log(float64(codes.Size())) {
		t.Fatalf("final validation loss %q: this test wants a finite blow-up above ln %d", r[3], codes.Size())
	}
	if r[6] != experiment.StatusDiverged || r[4] != "" {
		t.Errorf("row %q: want diverged and no test BLEU", r)
	}
	rep, _ := os.ReadFile(filepath.Join(out, "report.md"))
	if !strings.Contains(string(rep), "above ln "+strconv.Itoa(codes.Size())) {
		t.Errorf("report.md does not state the rule:\n%s", rep)
	}
}
