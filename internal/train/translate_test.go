package train

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/clinic-ml/clinic/admin"
	"github.com/clinic-ml/clinic/internal/bpe"
	"github.com/clinic-ml/clinic/internal/data"
	"github.com/clinic-ml/clinic/model"
)

// toyPairs is a tiny "translation" task: three random number words to
// their digits.
func toyPairs(n int, seed uint64) []data.Pair {
	words := []string{"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"}
	r := rand.New(rand.NewPCG(seed, 1))
	var ps []data.Pair
	for i := 0; i < n; i++ {
		a, b, c := r.IntN(10), r.IntN(10), r.IntN(10)
		ps = append(ps, data.Pair{Src: fmt.Sprintf("%s %s %s", words[a], words[b], words[c]), Tgt: fmt.Sprintf("%d %d %d", a, b, c)})
	}
	return ps
}

// toyCodes is a joint BPE of 30 merges learned on pairs.
func toyCodes(t *testing.T, pairs []data.Pair) *bpe.Codes {
	t.Helper()
	var lines []string
	for _, p := range pairs {
		lines = append(lines, p.Src, p.Tgt)
	}
	codes, err := bpe.Learn(lines, 30, bpe.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	return codes
}

func toyTranslate(t *testing.T, norm string, seed uint64) *Translate {
	t.Helper()
	return toyTranslateWith(t, norm, seed, 0.1)
}

// toyTranslateWith is toyTranslate with the given dropout.
func toyTranslateWith(t *testing.T, norm string, seed uint64, dropout float32) *Translate {
	t.Helper()
	train, val := toyPairs(300, 1), toyPairs(30, 2)
	codes := toyCodes(t, train)
	cfg := model.Config{EncoderLayers: 2, Layers: 2, DModel: 32, Heads: 2, DFF: 64, SeqLen: 16, Vocab: codes.Size(),
		Dropout: dropout, AttnDropout: dropout, ActDropout: dropout, Norm: norm, Activation: "relu", LNEps: 1e-5, LabelSmoothing: 0.1}
	tr, err := NewTranslate(TranslateConfig{Pool: testPool(), Model: cfg, Codes: codes, Train: train, Val: val, MaxTokens: 256, Seed: seed,
		SrcLang: "words", TgtLang: "digits"})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// A small encoder–decoder learns the toy task under the same Trainer as
// the language model, its step allocates nothing, the same seed repeats
// the run bit for bit, and the checkpoint carries the vocabulary.
func TestTranslateTask(t *testing.T) {
	setTestThreads(2)
	defer setTestThreads(0)
	var initial float64
	run := func(seed uint64, steps int, ckpt string) (*Translate, *Result) {
		task := toyTranslate(t, model.Admin, seed)
		var err error
		if initial, err = task.Evaluate(); err != nil {
			t.Fatal(err)
		}
		pr, err := task.ProfileAdmin()
		if err != nil {
			t.Fatal(err)
		}
		if len(pr.EncoderOmega) != 4 || len(pr.Omega) != 6 {
			t.Fatalf("profile %v / %v", pr.EncoderOmega, pr.Omega)
		}
		if err := task.SetAdminProfile(pr); err != nil {
			t.Fatal(err)
		}
		o := adam()
		o.LR, o.Warmup = 3e-3, 10
		tr, err := New(task, Options{Steps: steps, EvalEvery: steps / 2, Optim: o, Checkpoint: ckpt})
		if err != nil {
			t.Fatal(err)
		}
		res, err := tr.Run()
		if err != nil {
			t.Fatal(err)
		}
		return task, res
	}
	dir := t.TempDir()
	a, res := run(1, 200, filepath.Join(dir, "a.safetensors"))
	first := a.TrainStats()
	if first.Examples != 300 || first.Batches < 2 {
		t.Errorf("batching: %+v", first)
	}
	if !(res.Curve[1].ValLoss < res.Curve[0].ValLoss && res.Final.ValLoss < initial-2) {
		t.Errorf("validation loss %.3f at the start, then %v: not learning", initial, res.Curve)
	}
	bleu1, err := a.ValidBLEU(1, 8)
	if err != nil {
		t.Fatal(err)
	}
	bleu1again, err := a.ValidBLEU(1, 32)
	if err != nil {
		t.Fatal(err)
	}
	// in lanes: several validation batches at once, the same score
	a.cfg.BLEULanes, a.dec = 4, nil
	bleuLanes, err := a.ValidBLEU(1, 8)
	if err != nil || bleuLanes != bleu1 {
		t.Errorf("validation BLEU in lanes %v (%v), in one %v", bleuLanes, err, bleu1)
	}
	bleu3, _ := a.ValidBLEU(3, 8)
	t.Logf("validation BLEU greedy %.2f, beam 3 %.2f", bleu1, bleu3)
	if !(bleu1 > 20) || bleu1 != bleu1again || !(bleu3 >= 0 && bleu3 <= 100) {
		t.Errorf("validation BLEU %v (again, other batch size: %v), beam 3 %v", bleu1, bleu1again, bleu3)
	}
	b, _ := run(1, 200, filepath.Join(dir, "b.safetensors"))
	for i := range a.P.W {
		if a.P.W[i] != b.P.W[i] {
			t.Fatal("same seed, different weights")
		}
	}
	p, meta, err := model.LoadCheckpoint(filepath.Join(dir, "a.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	codes, err := bpe.Parse([]byte(meta["bpe_codes"]))
	if err != nil || codes.Size() != p.Cfg.Vocab || meta["task"] != "translate" || meta["src_lang"] != "words" {
		t.Fatalf("checkpoint metadata: %v, %v", err, meta["task"])
	}
	if _, err := admin.Load(filepath.Join(dir, "nothing.json")); err == nil {
		t.Fatal("loading a missing profile succeeded")
	}
	tr, _ := New(a, Options{Steps: 10, EvalEvery: 10, Optim: adam()})
	if n := testing.AllocsPerRun(3, func() { tr.Step() }); n != 0 {
		t.Errorf("a translation step allocates %v times", n)
	}
}

// Validation BLEU is computed with the weights of the moment: a task
// that translated the validation set before training (keeping its
// translator) scores the trained weights exactly as a translator built
// afresh does. It had packed the decoder once and scored the untrained
// weights for the rest of the run, choosing model_best on that score.
func TestValidBLEUSeesTraining(t *testing.T) {
	setTestThreads(1)
	defer setTestThreads(0)
	task := toyTranslate(t, model.Admin, 1)
	pr, err := task.ProfileAdmin()
	if err != nil {
		t.Fatal(err)
	}
	if err := task.SetAdminProfile(pr); err != nil {
		t.Fatal(err)
	}
	before, err := task.ValidBLEU(1, 8)
	if err != nil {
		t.Fatal(err)
	}
	o := adam()
	o.LR, o.Warmup = 3e-3, 10
	tr, err := New(task, Options{Steps: 200, EvalEvery: 200, Optim: o})
	if err != nil {
		t.Fatal(err)
	}
	res, err := tr.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("validation loss %v", res.Final.ValLoss)
	kept, err := task.ValidBLEU(1, 8)
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := task.ValidBLEU(1, 7) // another batch size: a new translator
	if err != nil {
		t.Fatal(err)
	}
	if kept != fresh || !(fresh > before+10) {
		t.Fatalf("validation BLEU %.2f before training; after it %.2f with the kept translator, %.2f with a fresh one", before, kept, fresh)
	}
}
