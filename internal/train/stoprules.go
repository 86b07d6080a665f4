package train

import (
	"cmp"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/clinic-ml/clinic/internal/limits"
	"github.com/clinic-ml/clinic/internal/optim"
)

// The values of --best-metric.
const (
	BestLoss = "loss" // the validation loss, val_loss: lower is better
	BestBLEU = "bleu" // validation BLEU, the score val_bleu: higher is better
)

// StopRules end a run before Options.Steps, as fairseq's --max-epoch,
// --patience and --stop-min-lr do; Steps stays the upper bound. The
// zero value has none. A run a rule ends is a normal end: its last
// step validates and scores as a last step does, its checkpoint and
// trainer state are saved, its last metrics line says why
// (Result.Stopped). What the rules count is in the trainer state, so a
// resumed run stops at the same step as one never stopped.
type StopRules struct {
	// MaxEpoch > 0 stops at the end of epoch MaxEpoch (Epocher).
	MaxEpoch int
	// Patience > 0 stops after Patience validations in a row without
	// a better BestMetric: BestLoss ("" too) or BestBLEU (the Score
	// named val_bleu).
	Patience   int
	BestMetric string
	// MinLR > 0 stops after the first step past warm-up (while the
	// learning rate rises it cannot fall) whose learning rate is at or
	// below MinLR.
	MinLR float64
}

// metric is the name in the metrics of what Patience watches.
func (r StopRules) metric() string {
	if r.BestMetric == BestBLEU {
		return "val_bleu"
	}
	return "val_loss"
}

// check refuses rules 'clinic train' cannot run, naming their flags:
// translate says whether the task has validation BLEU, lr is the peak
// learning rate.
func (r StopRules) check(translate bool, lr float64) error {
	switch {
	case r.MaxEpoch < 0:
		return limits.Usagef("--max-epoch must be ≥ 0, got %d", r.MaxEpoch)
	case r.Patience < 0:
		return limits.Usagef("--patience must be ≥ 0, got %d", r.Patience)
	case r.BestMetric != "" && r.BestMetric != BestLoss && r.BestMetric != BestBLEU:
		return limits.Usagef("--best-metric must be loss or bleu, got %q", r.BestMetric)
	case r.BestMetric == BestBLEU && !translate:
		return limits.Usagef("--best-metric bleu needs --task translate (validation BLEU)")
	case !(r.MinLR >= 0) || math.IsInf(r.MinLR, 0):
		return limits.Usagef("--stop-min-lr must be finite and ≥ 0, got %g", r.MinLR)
	case r.MinLR >= lr:
		return limits.Usagef("--stop-min-lr %g must be below --lr %g (the run would stop once warm-up ends)", r.MinLR, lr)
	}
	return nil
}

// An Epocher is a Task that knows how far its training batches have
// gone through its training data (StopRules.MaxEpoch).
type Epocher interface {
	// Epochs is the number of whole epochs the training batches drawn
	// so far complete; tokens is the number of training target tokens
	// of the steps so far (of the global batches), which the Trainer
	// counts.
	Epochs(tokens int64) int
}

// Epochs implements Epocher: the language model samples windows at
// random, so an epoch is as many target tokens (bytes) as the training
// text has; epoch N ends with the first step after which N times the
// text's length in bytes have been trained on.
func (l *LM) Epochs(tokens int64) int { return int(tokens / int64(len(l.cfg.Train))) }

// Epochs implements Epocher: the batcher's epochs, each a pass over the
// training pairs in a fresh order (the pairs too long for the model
// skipped).
func (t *Translate) Epochs(int64) int { return t.batcher.State().Epoch }

// Metadata keys of the stopping rules' counts in a trainer state: the
// training tokens so far, the best validation loss ("step value"; step
// 0: none yet) and, for val_loss and each Score, the validations since
// its best.
const (
	keyTokens   = "stop.tokens"
	keyBestLoss = "stop.best_val_loss"
	prefixSince = "stop.since."
	valLossName = "val_loss"
)

// sawValLoss counts a validation loss for --patience.
func (t *Trainer) sawValLoss(step int, v float64) {
	if v < t.bestLoss.Value { // NaN is never better
		t.bestLoss = ScorePoint{step, v}
		t.since[valLossName] = 0
	} else {
		t.since[valLossName]++
	}
}

// stopAfterStep is why the rules known once a step is taken end the run
// after the current step ("": they do not): max-epoch, and stop-min-lr
// on lr, the learning rate of the step.
func (t *Trainer) stopAfterStep(lr float64) string {
	r := t.o.Rules
	if e, ok := t.task.(Epocher); ok && r.MaxEpoch > 0 && e.Epochs(t.tokens) >= r.MaxEpoch {
		return fmt.Sprintf("max-epoch %d (epoch %d ended at step %d)", r.MaxEpoch, r.MaxEpoch, t.step)
	}
	if r.MinLR > 0 && t.opt.Steps() > t.o.Optim.Warmup && lr <= r.MinLR {
		return fmt.Sprintf("stop-min-lr %g (learning rate %.4g at step %d)", r.MinLR, lr, t.step)
	}
	return ""
}

// patience is why --patience ends the run ("": it does not).
func (t *Trainer) patience() string {
	r := t.o.Rules
	name := r.metric()
	if r.Patience == 0 || t.since[name] < r.Patience {
		return ""
	}
	best := t.bestLoss.Step
	if name != valLossName {
		best = t.best[name].Step
	}
	return fmt.Sprintf("patience %d (no better %s since step %d)", r.Patience, name, best)
}

// stopRestored is why a restored run ends before its first step: it
// had already stopped by a rule (the rules cannot change on --resume).
func (t *Trainer) stopRestored() string {
	lr := math.Inf(1)
	if n := t.opt.Steps(); n > 0 {
		lr = optim.LR(t.opt.Config(), n)
	}
	return cmp.Or(t.stopAfterStep(lr), t.patience())
}

// saveStop adds the rules' counts to a trainer state's metadata.
func (t *Trainer) saveStop(md map[string]string) {
	md[keyTokens] = strconv.FormatInt(t.tokens, 10)
	md[keyBestLoss] = fmt.Sprintf("%d %s", t.bestLoss.Step, strconv.FormatFloat(t.bestLoss.Value, 'g', -1, 64))
	for name, n := range t.since {
		md[prefixSince+name] = strconv.Itoa(n)
	}
}

// restoreStop reads the rules' counts from a trainer state's metadata.
// A state saved before the rules existed has none: it resumes without
// --max-epoch and --patience only, as what they count is unknown.
func (t *Trainer) restoreStop(path string, md map[string]string) error {
	t.tokens, t.bestLoss, t.since = 0, ScorePoint{0, math.Inf(1)}, map[string]int{}
	tok, ok := md[keyTokens]
	if !ok {
		if t.o.Rules.MaxEpoch > 0 || t.o.Rules.Patience > 0 {
			return fmt.Errorf("%s was saved by a version of clinic without --max-epoch and --patience, which cannot count on from it: resume without them", path)
		}
		return nil
	}
	var err error
	bad := func(k, v string) error { return fmt.Errorf("%s: bad %s %q", path, k, v) }
	if t.tokens, err = strconv.ParseInt(tok, 10, 64); err != nil || t.tokens < 0 {
		return bad(keyTokens, tok)
	}
	step, val, _ := strings.Cut(md[keyBestLoss], " ")
	if t.bestLoss.Step, err = strconv.Atoi(step); err != nil {
		return bad(keyBestLoss, md[keyBestLoss])
	}
	if t.bestLoss.Value, err = strconv.ParseFloat(val, 64); err != nil {
		return bad(keyBestLoss, md[keyBestLoss])
	}
	for k, v := range md {
		if name, ok := strings.CutPrefix(k, prefixSince); ok {
			if t.since[name], err = strconv.Atoi(v); err != nil || t.since[name] < 0 {
				return bad(k, v)
			}
		}
	}
	return nil
}
