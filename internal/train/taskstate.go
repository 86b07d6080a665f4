package train

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"strconv"

	"github.com/clinic-ml/clinic/admin"
	"github.com/clinic-ml/clinic/internal/data"
	"github.com/clinic-ml/clinic/internal/translate"
)

// The keys of a task's State that are positions (restored) rather than
// identity (compared), and the Admin profile (both: see sameIdentity).
const (
	stateDraws   = "draws"
	stateSampler = "sampler"
	stateBatcher = "batcher"
	stateAdmin   = "admin_profile"
)

func fingerprint(parts ...[]byte) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:", len(p))
		h.Write(p)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func pairsFingerprint(ps []data.Pair) string {
	var b []byte
	for _, p := range ps {
		b = fmt.Appendf(b, "%d:%s%d:%s", len(p.Src), p.Src, len(p.Tgt), p.Tgt)
	}
	return fingerprint(b)
}

// restoreAdmin sets the saved Admin profile, if any, through set.
func restoreAdmin(s map[string]string, set func(*admin.Profile) error) error {
	js, ok := s[stateAdmin]
	if !ok {
		return nil
	}
	var pr admin.Profile
	if err := json.Unmarshal([]byte(js), &pr); err != nil {
		return fmt.Errorf("admin profile: %v", err)
	}
	return set(&pr)
}

// State implements Resumable: the sampler's and the dropout stream's
// positions, the Admin profile, and the config, seed, batch and
// fingerprints of the training and validation text.
func (l *LM) State() (map[string]string, error) {
	if l.identity == nil {
		// Hashing the text once: every checkpoint saves a state.
		l.identity = map[string]string{
			"task": LMTask, "config": l.cfg.Model.JSON(), "seed": strconv.FormatUint(l.cfg.Seed, 10),
			"batch": strconv.Itoa(l.cfg.Batch), "eval_batches": strconv.Itoa(l.cfg.EvalBatches),
			"train_data": fingerprint(l.cfg.Train), "val_data": fingerprint(l.cfg.Val),
		}
	}
	s := maps.Clone(l.identity)
	s[stateSampler] = strconv.FormatUint(l.sampler.State(), 10)
	s[stateDraws] = strconv.FormatUint(l.M.Draws(), 10)
	if pr, ok := l.meta["admin_profile"]; ok {
		s[stateAdmin] = pr
	}
	return s, nil
}

// Restore implements Resumable.
func (l *LM) Restore(s map[string]string) error {
	cur, err := l.State()
	if err != nil {
		return err
	}
	if err := sameIdentity(s, cur, stateSampler, stateDraws); err != nil {
		return err
	}
	sm, err1 := strconv.ParseUint(s[stateSampler], 10, 64)
	dr, err2 := strconv.ParseUint(s[stateDraws], 10, 64)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("bad sampler %q or draws %q", s[stateSampler], s[stateDraws])
	}
	if err := restoreAdmin(s, l.SetAdminProfile); err != nil {
		return err
	}
	l.sampler.SetState(sm)
	l.M.SetDraws(dr)
	return nil
}

// State implements Resumable: the batcher's and the dropout stream's
// positions, the Admin profile, and the config, seed, batching, subword
// codes and fingerprints of the training and validation pairs.
func (t *Translate) State() (map[string]string, error) {
	bs, err := t.batcher.State().MarshalText()
	if err != nil {
		return nil, err
	}
	if t.identity == nil {
		// Hashing the corpus once: every checkpoint saves a state.
		t.identity = map[string]string{
			"task": translate.Task, "config": t.cfg.Model.JSON(), "seed": strconv.FormatUint(t.cfg.Seed, 10),
			"max_tokens": strconv.Itoa(t.cfg.MaxTokens), "max_sentences": strconv.Itoa(t.cfg.MaxSentences),
			"bpe_codes": fingerprint([]byte(t.meta["bpe_codes"])), "src_lang": t.cfg.SrcLang, "tgt_lang": t.cfg.TgtLang,
			"train_data": pairsFingerprint(t.cfg.Train), "val_data": pairsFingerprint(t.cfg.Val),
		}
	}
	s := maps.Clone(t.identity)
	s[stateBatcher], s[stateDraws] = string(bs), strconv.FormatUint(t.M.Draws(), 10)
	if pr, ok := t.meta["admin_profile"]; ok {
		s[stateAdmin] = pr
	}
	return s, nil
}

// Restore implements Resumable.
func (t *Translate) Restore(s map[string]string) error {
	cur, err := t.State()
	if err != nil {
		return err
	}
	if err := sameIdentity(s, cur, stateBatcher, stateDraws); err != nil {
		return err
	}
	var ps data.PairState
	if err := ps.UnmarshalText([]byte(s[stateBatcher])); err != nil {
		return err
	}
	dr, err := strconv.ParseUint(s[stateDraws], 10, 64)
	if err != nil {
		return fmt.Errorf("bad draws %q", s[stateDraws])
	}
	if err := restoreAdmin(s, t.SetAdminProfile); err != nil {
		return err
	}
	if err := t.batcher.SetState(ps); err != nil {
		return err
	}
	t.M.SetDraws(dr)
	return nil
}
