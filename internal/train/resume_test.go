package train

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/clinic-ml/clinic/admin"
	"github.com/clinic-ml/clinic/internal/metrics"
	"github.com/clinic-ml/clinic/internal/optim"
	"github.com/clinic-ml/clinic/internal/safetensors"
	"github.com/clinic-ml/clinic/model"
)

// resumeUpdateFreq is the Options.UpdateFreq of resumeRun's runs.
var resumeUpdateFreq int

// resumeRun trains a fresh task from newTask in dir to steps, stopping
// after step stopAt (0: never); with resume it first restores the run
// saved in dir. It returns Run's error.
func resumeRun(t *testing.T, newTask func() Resumable, dir string, steps, stopAt int, resume bool) error {
	t.Helper()
	task := newTask()
	mpath := filepath.Join(dir, "metrics.jsonl")
	ckpt, state := filepath.Join(dir, "model.safetensors"), filepath.Join(dir, "trainer_state.safetensors")
	var s *State
	if resume {
		var err error
		if s, err = ReadState(state); err != nil {
			t.Fatal(err)
		}
		if err := TruncateMetrics(mpath, s.CheckpointStep); err != nil {
			t.Fatal(err)
		}
	}
	open := metrics.Create
	if resume {
		open = metrics.Append
	}
	mw, err := open(mpath)
	if err != nil {
		t.Fatal(err)
	}
	defer mw.Close()
	stop := make(chan struct{})
	o := adam()
	o.LR = 3e-3
	tr, err := New(task, Options{Steps: steps, UpdateFreq: resumeUpdateFreq, EvalEvery: 3, SaveEvery: 4, Optim: o, Checkpoint: ckpt, State: state,
		Metrics: mw, Stop: stop, Run: map[string]string{"note": "kept"},
		Scores: []Score{{Name: "neg_val", Every: 2, Best: filepath.Join(dir, "best.safetensors"),
			Eval: func() (float64, error) { v, err := task.Evaluate(); return -v, err }}},
		BeforeStep: func(step int) {
			if step == stopAt {
				close(stop)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	if resume {
		if err := tr.Restore(s, ckpt); err != nil {
			t.Fatal(err)
		}
		if s.Run["note"] != "kept" {
			t.Errorf("Options.Run not saved: %v", s.Run)
		}
	}
	_, err = tr.Run()
	return err
}

// metricLines returns the metrics file's lines without the throughput,
// which is measured, not computed.
func metricLines(t *testing.T, path string) []string {
	t.Helper()
	recs, err := metrics.ReadAll(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range recs {
		delete(r, "tokens_per_s")
		delete(r, "time")
		b, _ := json.Marshal(r)
		out = append(out, string(b))
	}
	return out
}

// checkResume trains steps uninterrupted, then, for each k, stops after
// step k, resumes and trains on to steps: the checkpoints, the best
// checkpoints and the metrics must be identical.
func checkResume(t *testing.T, newTask func() Resumable, steps int, stops []int) {
	setTestThreads(2)
	defer setTestThreads(0)
	ref := t.TempDir()
	if err := resumeRun(t, newTask, ref, steps, 0, false); err != nil {
		t.Fatal(err)
	}
	want := metricLines(t, filepath.Join(ref, "metrics.jsonl"))
	if len(want) != steps {
		t.Fatalf("%d metrics lines, want %d", len(want), steps)
	}
	for _, k := range stops {
		dir := t.TempDir()
		err := resumeRun(t, newTask, dir, steps, k, false)
		var se *StoppedError
		if !errors.As(err, &se) || se.Step != k {
			t.Fatalf("stop at %d: %v", k, err)
		}
		// A run killed after the checkpoint of step k has written
		// further metrics lines, the last cut short: resuming drops them.
		f, _ := os.OpenFile(filepath.Join(dir, "metrics.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
		f.WriteString(`{"step":` + strconv.Itoa(k+1) + `,"loss":1}` + "\n" + `{"step":` + strconv.Itoa(k+2) + `,"lo`)
		f.Close()
		// The thread count may change on resume.
		setTestThreads(1)
		err = resumeRun(t, newTask, dir, steps, 0, true)
		setTestThreads(2)
		if err != nil {
			t.Fatalf("resume from %d: %v", k, err)
		}
		for _, name := range []string{"model.safetensors", "best.safetensors", "trainer_state.safetensors"} {
			a, b := comparable(t, filepath.Join(ref, name)), comparable(t, filepath.Join(dir, name))
			if len(a) == 0 || !bytes.Equal(a, b) {
				t.Errorf("stopped at %d and resumed: %s differs from the uninterrupted run's", k, name)
			}
		}
		got := metricLines(t, filepath.Join(dir, "metrics.jsonl"))
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("stopped at %d and resumed: metrics\n%s\nwant\n%s", k, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}

// comparable is the file at path, or for a trainer state the file
// without the digest of the checkpoint its save replaced: a run stopped
// between two save points saves once more than one never stopped.
func comparable(t *testing.T, path string) []byte {
	t.Helper()
	f, err := safetensors.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	delete(f.Metadata, keyPrevDigest)
	var b bytes.Buffer
	if err := safetensors.Encode(&b, f); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func adminLM(t *testing.T, seed uint64) func() Resumable {
	return func() Resumable {
		lm := tinyLM(t, model.Admin, seed)
		pr, err := lm.ProfileAdmin()
		if err != nil {
			t.Fatal(err)
		}
		if err := lm.SetAdminProfile(pr); err != nil {
			t.Fatal(err)
		}
		return lm
	}
}

// A language-model run stopped at a save point or between two, then
// resumed, ends bit-identical to the uninterrupted run.
func TestResumeLMExact(t *testing.T) {
	checkResume(t, adminLM(t, 1), 13, []int{4, 6, 12})
}

// A translation run stopped mid-epoch and resumed, across the epoch's
// end, ends bit-identical to the uninterrupted run.
func TestResumeTranslateExact(t *testing.T) {
	newTask := func() Resumable {
		task := toyTranslate(t, model.Admin, 1)
		if err := task.SetAdminProfile(mustProfile(t, task)); err != nil {
			t.Fatal(err)
		}
		return task
	}
	if n := toyTranslate(t, model.PreLN, 1).TrainStats().Batches; n >= 14 || n <= 5 {
		t.Fatalf("%d batches per epoch: the test wants a stop mid-epoch and a resumed run crossing its end", n)
	}
	checkResume(t, newTask, 14, []int{5})
}

func mustProfile(t *testing.T, task *Translate) *admin.Profile {
	pr, err := task.ProfileAdmin()
	if err != nil {
		t.Fatal(err)
	}
	return pr
}

// Resuming refuses a checkpoint that is not the one saved with the
// state, a task of another seed and other optimizer settings.
func TestResumeRefusesMismatch(t *testing.T) {
	setTestThreads(2)
	defer setTestThreads(0)
	dir, other := t.TempDir(), t.TempDir()
	if err := resumeRun(t, adminLM(t, 1), dir, 5, 2, false); err == nil {
		t.Fatal("no stop")
	}
	if err := resumeRun(t, adminLM(t, 1), other, 8, 0, false); err != nil {
		t.Fatal(err)
	}
	s, err := ReadState(filepath.Join(dir, "trainer_state.safetensors"))
	if err != nil || s.Step != 2 || s.CheckpointStep != 2 || s.MetricsStep != 2 {
		t.Fatalf("state %+v, %v", s, err)
	}
	try := func(task Resumable, lr float64, ckpt string) error {
		o := adam()
		o.LR = lr
		tr, err := New(task, Options{Steps: 5, EvalEvery: 3, Optim: o})
		if err != nil {
			t.Fatal(err)
		}
		return tr.Restore(s, ckpt)
	}
	ckpt := filepath.Join(dir, "model.safetensors")
	for _, c := range []struct {
		err  error
		want string
	}{
		{try(adminLM(t, 1)(), 3e-3, filepath.Join(other, "model.safetensors")), "is not the checkpoint"},
		{try(tinyLM(t, model.Admin, 2), 3e-3, ckpt), "seed is 1, this run's is 2"},
		{try(adminLM(t, 1)(), 1e-3, ckpt), "optimizer settings"},
		{try(tinyLM(t, model.PreLN, 1), 3e-3, ckpt), `config is …ropout":0.1,"norm":"admin"`},
	} {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("got %v, want an error with %q", c.err, c.want)
		}
	}
	if err := try(adminLM(t, 1)(), 3e-3, ckpt); err != nil {
		t.Errorf("the matching run: %v", err)
	}
	// A kill between the state and its checkpoint leaves the checkpoint
	// the state replaced, or none before the first: both resume.
	if err := try(adminLM(t, 1)(), 3e-3, filepath.Join(dir, "none.safetensors")); err != nil {
		t.Errorf("no checkpoint yet after the first state: %v", err)
	}
	s8, err := ReadState(filepath.Join(other, "trainer_state.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	restore := func(ckpt string) error {
		tr, _ := New(adminLM(t, 1)(), Options{Steps: 8, EvalEvery: 3, Optim: o3e3()})
		return tr.Restore(s8, ckpt)
	}
	if err := restore(filepath.Join(other, "none.safetensors")); err == nil || !strings.Contains(err.Error(), "none.safetensors") {
		t.Errorf("a missing checkpoint after the first save: %v", err)
	}
	// The checkpoint of step 4, which the state of step 8 replaced.
	prev := filepath.Join(t.TempDir(), "prev")
	if err := resumeRun(t, adminLM(t, 1), prev, 8, 5, false); err == nil {
		t.Fatal("no stop")
	}
	if err := restore(filepath.Join(prev, "model.safetensors")); err == nil || !strings.Contains(err.Error(), "is not the checkpoint") {
		t.Errorf("the checkpoint of step 5: %v", err)
	}
	os.Remove(filepath.Join(prev, "model.safetensors"))
	if err := resumeRun(t, adminLM(t, 1), prev, 4, 0, false); err != nil {
		t.Fatal(err)
	}
	if err := restore(filepath.Join(prev, "model.safetensors")); err != nil {
		t.Errorf("the checkpoint the state replaced: %v", err)
	}
	// A state whose weights are not those it names is refused.
	s.f.Tensors[0].F32[0]++
	if err := try(adminLM(t, 1)(), 3e-3, ckpt); err == nil || !strings.Contains(err.Error(), "is damaged") {
		t.Errorf("damaged state: %v", err)
	}
	if _, err := ReadState(filepath.Join(t.TempDir(), "trainer_state.safetensors")); !errors.Is(err, ErrNoState) {
		t.Errorf("no state: %v", err)
	}
}

// Resuming is exact for the stabilizers too: ReZero's α with its Adam
// moments, DeepNorm's and T-Fixup's scaled weights, for the language
// model and the translator.
func TestResumeStabilizersExact(t *testing.T) {
	for _, norm := range []string{model.DeepNorm, model.ReZero, model.TFixup} {
		t.Run(norm, func(t *testing.T) {
			checkResume(t, func() Resumable { return tinyLM(t, norm, 1) }, 9, []int{4})
			checkResume(t, func() Resumable { return toyTranslate(t, norm, 1) }, 8, []int{3})
		})
	}
}

func o3e3() optim.Config {
	o := adam()
	o.LR = 3e-3
	return o
}

// The identity a resumed task is checked against: every fingerprint of
// the run (config, seed, batching, the data, the subword codes, the
// languages, the Admin profile when the run has one) that differs from
// the saved one is refused, naming it.
func TestResumeRefusesEachFingerprint(t *testing.T) {
	check := func(newTask func() Resumable, keys ...string) {
		t.Helper()
		saved, err := newTask().State()
		if err != nil {
			t.Fatal(err)
		}
		if err := newTask().Restore(saved); err != nil {
			t.Fatalf("the same task: %v", err)
		}
		for _, k := range keys {
			if _, ok := saved[k]; !ok {
				t.Fatalf("the state has no %s: %v", k, saved)
			}
			other := maps.Clone(saved)
			other[k] += "x"
			if err := newTask().Restore(other); err == nil || !strings.Contains(err.Error(), "saved run's "+k+" is") {
				t.Errorf("%s differs: %v", k, err)
			}
		}
	}
	check(adminLM(t, 1), "task", "config", "seed", "batch", "eval_batches", "train_data", "val_data", "admin_profile")
	check(func() Resumable {
		task := toyTranslate(t, model.Admin, 1)
		if err := task.SetAdminProfile(mustProfile(t, task)); err != nil {
			t.Fatal(err)
		}
		return task
	}, "task", "config", "seed", "max_tokens", "max_sentences", "bpe_codes", "src_lang", "tgt_lang", "train_data", "val_data", "admin_profile")
	// Without a profile of its own, a task takes the saved one.
	saved, _ := adminLM(t, 1)().State()
	if err := tinyLM(t, model.Admin, 1).Restore(saved); err != nil {
		t.Errorf("restoring the profile: %v", err)
	}
}

// The best checkpoint a resumed run finds must be the one its state
// names, a later best of the same run (written after the state, before
// a kill), or absent; another run's, older than the state or of another
// identity, and a damaged file are refused.
func TestResumeChecksBest(t *testing.T) {
	setTestThreads(2)
	defer setTestThreads(0)
	root := t.TempDir()
	dir, later, other := filepath.Join(root, "dir"), filepath.Join(root, "later"), filepath.Join(root, "other")
	if err := resumeRun(t, adminLM(t, 1), dir, 12, 4, false); err == nil {
		t.Fatal("no stop")
	}
	if err := resumeRun(t, adminLM(t, 1), later, 12, 0, false); err != nil {
		t.Fatal(err)
	}
	if err := resumeRun(t, adminLM(t, 2), other, 12, 0, false); err != nil {
		t.Fatal(err)
	}
	s, err := ReadState(filepath.Join(dir, "trainer_state.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if s.f.Metadata[prefixBestCkp+"neg_val"] == "" {
		t.Fatalf("the state names no best checkpoint: %v", s.f.Metadata)
	}
	bestStep := func(path string) int {
		f, err := safetensors.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := strconv.Atoi(f.Metadata["step"])
		return n
	}
	for _, d := range []string{later, other} {
		if n := bestStep(filepath.Join(d, "best.safetensors")); n <= s.Step {
			t.Fatalf("the best of %s is of step %d, want one after the state's %d", d, n, s.Step)
		}
	}
	// An older best of another run: the state of step 4 of seed 2.
	older := filepath.Join(root, "older")
	if err := resumeRun(t, adminLM(t, 2), older, 12, 4, false); err == nil {
		t.Fatal("no stop")
	}
	best := filepath.Join(dir, "best.safetensors")
	own, _ := os.ReadFile(best)
	restore := func(from string) (*Trainer, error) {
		if from == "" {
			os.Remove(best)
		} else {
			b, err := os.ReadFile(from)
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(best, b, 0o644)
		}
		task := adminLM(t, 1)()
		tr, err := New(task, Options{Steps: 12, EvalEvery: 3, Optim: o3e3(), Scores: []Score{{Name: "neg_val", Every: 2, Best: best,
			Eval: func() (float64, error) { return 0, nil }}}})
		if err != nil {
			t.Fatal(err)
		}
		return tr, tr.Restore(s, filepath.Join(dir, "model.safetensors"))
	}
	ownCopy := filepath.Join(root, "own.safetensors")
	os.WriteFile(ownCopy, own, 0o644)
	damaged := filepath.Join(root, "damaged.safetensors")
	os.WriteFile(damaged, own[:len(own)/2], 0o644)
	for _, c := range []struct {
		name, from, want string
	}{
		{"the state's own", ownCopy, ""},
		{"none", "", ""},
		{"a later best of the run", filepath.Join(later, "best.safetensors"), ""},
		{"an older best of another run", filepath.Join(older, "best.safetensors"), "its step is not after the state's"},
		{"a later best of another run", filepath.Join(other, "best.safetensors"), "differs from this run's"},
		{"a damaged file", damaged, "best checkpoint"},
	} {
		tr, err := restore(c.from)
		if c.want == "" {
			if err != nil {
				t.Errorf("%s refused: %v", c.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), best) {
			t.Errorf("%s: got %v, want an error naming %s with %q", c.name, err, best, c.want)
		}
		if tr.bestCkpt["neg_val"].digest != "" {
			t.Errorf("%s: refused, yet the trainer took a best checkpoint", c.name)
		}
	}
	// The later best accepted, the next state names it: resuming from
	// that state accepts it again, even if the run never rewrites it.
	tr, err := restore(filepath.Join(later, "best.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if b := tr.bestCkpt["neg_val"]; b.step != bestStep(best) {
		t.Errorf("the trainer names the best of step %d, want the later best's %d", b.step, bestStep(best))
	}
}
