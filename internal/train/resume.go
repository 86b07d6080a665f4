package train

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/clinic-ml/clinic/internal/atomicfile"
	"github.com/clinic-ml/clinic/internal/fileutil"
	"github.com/clinic-ml/clinic/internal/safetensors"
)

// Resumable is a Task whose run can be stopped and resumed exactly: a
// resumed run ends bit-identical to one that was never stopped.
type Resumable interface {
	Task
	// State returns what resuming needs besides the weights and the
	// optimizer: the positions of the data stream and of the dropout
	// stream, the Admin profile, and the identity of the task (config,
	// seed, batching, data fingerprints) a resumed run must share.
	State() (map[string]string, error)
	// Restore moves the task to the positions of a State saved from a
	// task of the same identity; it refuses any other.
	Restore(state map[string]string) error
	// CheckpointMeta is the metadata SaveCheckpoint writes for step:
	// a best checkpoint newer than a state is checked against it.
	CheckpointMeta(step int) map[string]string
}

// StateFormat is the "format" metadata of a trainer state file. Format
// 1 held no weights: it needed its checkpoint, which a kill could leave
// a step ahead of it.
const StateFormat = "clinic-trainer-state/2"

// Metadata keys of a trainer state file; the task's State is stored
// under "task.", Options.Run under "run.", each Score's best value
// under "best." and its best checkpoint's step and digest under
// "best_checkpoint."; the tensors are the weights ("w."), Adam's moments
// ("m.", "v.").
const (
	keyFormat     = "format"
	keyStep       = "step"
	keyCheckpoint = "checkpoint_step"
	keyMetrics    = "metrics_step"
	keyOptimSteps = "optim_steps"
	keyOptim      = "optim"
	keyDigest     = "checkpoint_sha256"
	keyPrevDigest = "previous_checkpoint_sha256"
	prefixTask    = "task."
	prefixRun     = "run."
	prefixBest    = "best."
	prefixBestCkp = "best_checkpoint."
	prefixWeights = "w."
)

// State is a trainer state file read back (see Trainer.saveState).
type State struct {
	Path           string
	Step           int               // the trainer's step
	CheckpointStep int               // the step of the checkpoint saved with it
	MetricsStep    int               // the last step written to the metrics
	Run            map[string]string // Options.Run of the saved run
	f              *safetensors.File
}

// ErrNoState is returned (wrapped) by ReadState when there is no state
// file.
var ErrNoState = errors.New("no trainer state")

// StoppedError reports a run stopped on request (Options.Stop) after
// Step; its checkpoint and trainer state were saved.
type StoppedError struct {
	Step int
	Path string // the checkpoint
}

func (e *StoppedError) Error() string {
	return fmt.Sprintf("training stopped after step %d; checkpoint and trainer state saved with %s", e.Step, e.Path)
}

// Saves are crash-consistent as a unit: the trainer state is written
// first and holds everything resuming needs, the weights included, so
// it alone is the commit point; the checkpoints written after it are
// copies of its weights, which Restore checks and Run rewrites. A kill
// at any moment leaves the last state whole (atomicfile) and a
// checkpoint that is either the one it names or the one that one
// replaced.

// digest names a checkpoint in a trainer state: a SHA-256 of its step
// and of its tensors (name, type, shape, bits) in name order. It is the
// same computed from the weights before the checkpoint is written and
// from the file read back, whatever the current task's shapes.
func digest(step string, ts []*safetensors.Tensor) string {
	ts = slices.Clone(ts)
	slices.SortFunc(ts, func(a, b *safetensors.Tensor) int { return strings.Compare(a.Name, b.Name) })
	h := sha256.New()
	fmt.Fprintf(h, "step %q\n", step)
	buf := make([]byte, 0, 1<<16)
	for _, t := range ts {
		fmt.Fprintf(h, "%q %s %v %d\n", t.Name, t.DType, t.Shape, len(t.F32))
		for _, x := range t.F32 {
			if buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(x)); len(buf) == cap(buf) {
				h.Write(buf)
				buf = buf[:0]
			}
		}
		h.Write(buf)
		buf = buf[:0]
	}
	return hex.EncodeToString(h.Sum(nil))
}

// digestAt is the digest of the weights as the checkpoint of step,
// computed once per step: a new best and a state saved at one step
// share it.
func (t *Trainer) digestAt(step int) string {
	if t.digested.step != step || t.digested.d == "" {
		t.digested.step, t.digested.d = step, digest(strconv.Itoa(step), t.task.Params().Tensors())
	}
	return t.digested.d
}

// saveState writes, atomically, what resuming the run at the current
// step needs: the weights, the optimizer's moments and step count, the
// task's State, the metrics position, each Score's best value and best
// checkpoint, what the stopping rules count, and Options.Run. It names the checkpoint of the current
// step, which save writes next, by its digest own, and the checkpoint
// that one replaces.
func (t *Trainer) saveState(path, own string) error {
	rt, ok := t.task.(Resumable)
	if !ok {
		return fmt.Errorf("train: this task cannot be resumed")
	}
	ts, err := rt.State()
	if err != nil {
		return err
	}
	oc, err := json.Marshal(t.o.Optim)
	if err != nil {
		return err
	}
	f := &safetensors.File{Metadata: map[string]string{
		keyFormat: StateFormat, keyStep: strconv.Itoa(t.step), keyCheckpoint: strconv.Itoa(t.step),
		keyMetrics: strconv.Itoa(t.step), keyOptim: string(oc), keyDigest: own, keyPrevDigest: t.ckptDigest,
	}}
	m, v, n := t.opt.State()
	f.Metadata[keyOptimSteps] = strconv.Itoa(n)
	for k, s := range ts {
		f.Metadata[prefixTask+k] = s
	}
	for k, s := range t.o.Run {
		f.Metadata[prefixRun+k] = s
	}
	for name, b := range t.best {
		f.Metadata[prefixBest+name] = fmt.Sprintf("%d %s", b.Step, strconv.FormatFloat(b.Value, 'g', -1, 64))
	}
	for name, b := range t.bestCkpt {
		f.Metadata[prefixBestCkp+name] = fmt.Sprintf("%d %s", b.step, b.digest)
	}
	t.saveStop(f.Metadata)
	for i, q := range t.task.Params().List {
		f.Tensors = append(f.Tensors, safetensors.NewF32(prefixWeights+q.Name, q.Shape, q.W),
			safetensors.NewF32("m."+q.Name, q.Shape, m[i]), safetensors.NewF32("v."+q.Name, q.Shape, v[i]))
	}
	if err := safetensors.WriteFile(path, f); err != nil {
		return fmt.Errorf("writing trainer state: %v", err)
	}
	return nil
}

// ReadState reads a trainer state file written by SaveState.
func ReadState(path string) (*State, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", path, ErrNoState)
	}
	// The format is checked on the header, before the data is read: a
	// checkpoint or another safetensors file put in its place is
	// refused without being read whole.
	var bad error
	f, err := safetensors.ReadFileFunc(path, func(h *safetensors.File) error {
		if h.Metadata[keyFormat] != StateFormat {
			bad = fmt.Errorf("trainer state %s: format %q, want %q", path, h.Metadata[keyFormat], StateFormat)
		}
		return bad
	})
	switch {
	case bad != nil:
		return nil, bad
	case err != nil:
		return nil, fmt.Errorf("trainer state: %v", err)
	}
	md := f.Metadata
	s := &State{Path: path, Run: map[string]string{}, f: f}
	for _, kv := range []struct {
		key string
		dst *int
	}{{keyStep, &s.Step}, {keyCheckpoint, &s.CheckpointStep}, {keyMetrics, &s.MetricsStep}} {
		n, err := strconv.Atoi(md[kv.key])
		if err != nil || n < 0 {
			return nil, fmt.Errorf("trainer state %s: bad %s %q", path, kv.key, md[kv.key])
		}
		*kv.dst = n
	}
	for k, v := range md {
		if r, ok := strings.CutPrefix(k, prefixRun); ok {
			s.Run[r] = v
		}
	}
	return s, nil
}

// Restore puts the trainer and its task where the saved run was: the
// weights, the optimizer's moments and step count, the task's positions,
// the step, the best Score values and what the stopping rules count,
// all from the state. The task and
// the optimizer settings must be those of the saved run. checkpoint (""
// : not checked) must be the checkpoint the state names or the one that
// one replaced (a kill between the two writes), so that a state copied
// from another run is refused; Run then rewrites the checkpoints of the
// restored step. Each Score's best checkpoint must be the one the state
// names, a later best of this run, or absent (see checkBest).
func (t *Trainer) Restore(s *State, checkpoint string) error {
	rt, ok := t.task.(Resumable)
	if !ok {
		return fmt.Errorf("train: this task cannot be resumed")
	}
	md := s.f.Metadata
	var ws []*safetensors.Tensor
	for _, w := range s.f.Tensors {
		if name, ok := strings.CutPrefix(w.Name, prefixWeights); ok {
			ws = append(ws, &safetensors.Tensor{Name: name, DType: w.DType, Shape: w.Shape, F32: w.F32})
		}
	}
	own := md[keyDigest]
	if own == "" || digest(md[keyStep], ws) != own {
		return fmt.Errorf("%s is damaged: its weights are not the checkpoint it names", s.Path)
	}
	if checkpoint != "" {
		if err := checkCheckpoint(s, checkpoint); err != nil {
			return err
		}
	}
	p := t.task.Params()
	oc, err := json.Marshal(t.o.Optim)
	if err != nil {
		return err
	}
	if md[keyOptim] != string(oc) {
		return fmt.Errorf("%s: optimizer settings %s differ from this run's %s", s.Path, md[keyOptim], oc)
	}
	if err := t.restoreStop(s.Path, md); err != nil {
		return err
	}
	ts := map[string]string{}
	for k, v := range md {
		if r, ok := strings.CutPrefix(k, prefixTask); ok {
			ts[r] = v
		}
	}
	// The task first (it compares the config, the seed and the data):
	// restoring Admin's profile sets ω, which the saved weights then
	// overwrite with the same values.
	if err := rt.Restore(ts); err != nil {
		return fmt.Errorf("%s: %v", s.Path, err)
	}
	// After the task's Restore: its checkpoint metadata then holds the
	// saved Admin profile.
	bestCkpt := map[string]bestCheckpoint{}
	for k, val := range md {
		if name, ok := strings.CutPrefix(k, prefixBestCkp); ok {
			var b bestCheckpoint
			if _, err := fmt.Sscanf(val, "%d %s", &b.step, &b.digest); err != nil {
				return fmt.Errorf("%s: bad best checkpoint %s %q", s.Path, name, val)
			}
			bestCkpt[name] = b
		}
	}
	for _, sc := range t.o.Scores {
		if sc.Best == "" {
			continue
		}
		b, ok, err := checkBest(s, sc.Best, bestCkpt[sc.Name], rt.CheckpointMeta(s.Step))
		if err != nil {
			return err
		}
		if ok {
			bestCkpt[sc.Name] = b
		}
	}
	if err := p.LoadTensors(s.f, prefixWeights); err != nil {
		return fmt.Errorf("%s: %v", s.Path, err)
	}
	var m, v [][]float32
	for _, q := range p.List {
		tm, tv := s.f.Get("m."+q.Name), s.f.Get("v."+q.Name)
		if tm == nil || tv == nil || tm.DType != safetensors.F32 || tv.DType != safetensors.F32 {
			return fmt.Errorf("%s: no F32 moments for %s", s.Path, q.Name)
		}
		m, v = append(m, tm.F32), append(v, tv.F32)
	}
	n, err := strconv.Atoi(md[keyOptimSteps])
	if err != nil {
		return fmt.Errorf("%s: bad %s %q", s.Path, keyOptimSteps, md[keyOptimSteps])
	}
	if err := t.opt.SetState(m, v, n); err != nil {
		return fmt.Errorf("%s: %v", s.Path, err)
	}
	t.best = map[string]ScorePoint{}
	for k, val := range md {
		name, ok := strings.CutPrefix(k, prefixBest)
		if !ok {
			continue
		}
		var sp ScorePoint
		if _, err := fmt.Sscanf(val, "%d %g", &sp.Step, &sp.Value); err != nil {
			return fmt.Errorf("%s: bad best %s %q", s.Path, name, val)
		}
		t.best[name] = sp
	}
	t.step, t.ckptDigest, t.restored, t.bestCkpt = s.Step, own, true, bestCkpt
	copy(t.prev, p.W)
	return nil
}

// checkCheckpoint accepts the checkpoint at path if it is the one s
// names or the one that one replaced (or, before the first checkpoint
// landed, none).
func checkCheckpoint(s *State, path string) error {
	own, prev := s.f.Metadata[keyDigest], s.f.Metadata[keyPrevDigest]
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) && prev == "" {
		return nil
	}
	notIt := func(step string) error {
		return fmt.Errorf("%s (step %s) is not the checkpoint %s (step %d) was saved with, nor the one before it: the two files come from different runs, or the run diverged after its last save, so the run cannot be resumed exactly",
			path, short(step), s.Path, s.Step)
	}
	// A checkpoint of other tensors than the state's weights cannot
	// have their digest: it is refused on its header, before its data
	// is read.
	var bad error
	ck, err := safetensors.ReadFileFunc(path, func(h *safetensors.File) error {
		if !slices.Equal(layout(h.Tensors, ""), layout(s.f.Tensors, prefixWeights)) {
			bad = notIt(h.Metadata["step"])
		}
		return bad
	})
	switch {
	case bad != nil:
		return bad
	case err != nil:
		return fmt.Errorf("checkpoint: %v", err)
	}
	if d := digest(ck.Metadata["step"], ck.Tensors); d != own && d != prev {
		return notIt(ck.Metadata["step"])
	}
	return nil
}

// bestCheckpoint is a Score's best checkpoint as a trainer state names
// it: its step and digest.
type bestCheckpoint struct {
	step   int
	digest string
}

// checkBest accepts the best checkpoint at path if it is absent, the one
// s names (saved), or a later best of this run: written after s (a step
// after s.Step) with the metadata of this run's checkpoints (want: the
// config, the seed, the codes, the profile), which the resumed run
// writes again when it reaches that step. Anything else, another run's
// best copied in, is refused. It returns the later best (ok), which the
// next state names, so that it is accepted again should the resumed run
// not rewrite it (another --bleu-every). An absent file keeps saved:
// the file put back is accepted.
func checkBest(s *State, path string, saved bestCheckpoint, want map[string]string) (b bestCheckpoint, ok bool, err error) {
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return b, false, nil
	}
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return b, false, fmt.Errorf("best checkpoint: %v", err)
	}
	step := f.Metadata["step"]
	d := digest(step, f.Tensors)
	if saved.digest != "" && d == saved.digest {
		return b, false, nil
	}
	n, err := strconv.Atoi(step)
	why := "its step is not after the state's"
	if err == nil && n > s.Step {
		if k := firstDiff(f.Metadata, want, "step"); k != "" {
			why = "its " + k + " differs from this run's"
		} else {
			return bestCheckpoint{n, d}, true, nil
		}
	}
	return b, false, fmt.Errorf("%s (step %s) is not the best checkpoint %s (step %d) was saved with, nor a later best of this run (%s): it comes from another run; move it away to resume",
		path, short(step), s.Path, s.Step, why)
}

// layout lists the name (without prefix), dtype and shape of each
// tensor of ts whose name has prefix, in name order.
func layout(ts []*safetensors.Tensor, prefix string) []string {
	var l []string
	for _, t := range ts {
		if name, ok := strings.CutPrefix(t.Name, prefix); ok {
			l = append(l, fmt.Sprintf("%q %s %v", name, t.DType, t.Shape))
		}
	}
	slices.Sort(l)
	return l
}

// TruncateMetrics rewrites the metrics file at path, atomically, without
// the lines of steps after step (written after the checkpoint a run
// resumes from) and without lines that are not JSON objects with a step
// (a line cut short by a kill). A missing file is not an error.
func TruncateMetrics(path string, step int) error {
	b, err := fileutil.ReadRegular(path, fileutil.MaxText)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var out bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<26)
	for sc.Scan() {
		var rec struct {
			Step *int `json:"step"`
		}
		if json.Unmarshal(sc.Bytes(), &rec) != nil || rec.Step == nil || *rec.Step > step {
			continue
		}
		out.Write(sc.Bytes())
		out.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("metrics %s: %v", path, err)
	}
	if bytes.Equal(out.Bytes(), b) {
		return nil
	}
	return atomicfile.WriteFile(path, out.Bytes())
}

// sameIdentity reports the first key, outside positional, whose value
// differs between a saved task state and the current task's. The Admin
// profile is compared when the current task has one (a resumed run sets
// the one in its directory); without one it is restored, not compared.
func sameIdentity(saved, cur map[string]string, positional ...string) error {
	if k := firstDiff(saved, cur, positional...); k != "" {
		return errors.New(differ(k, saved[k], cur[k]))
	}
	return nil
}

// firstDiff is the first key, in sorted order and outside skip, whose
// value differs between saved and cur ("": none), the Admin profile
// excepted when cur has none (see sameIdentity).
func firstDiff(saved, cur map[string]string, skip ...string) string {
	var keys []string
	for k := range saved {
		keys = append(keys, k)
	}
	for k := range cur {
		if _, ok := saved[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !slices.Contains(skip, k) && saved[k] != cur[k] && !(k == stateAdmin && cur[k] == "") {
			return k
		}
	}
	return ""
}

func short(s string) string {
	if s == "" {
		return "(none)"
	}
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// differ says how two values of a state key differ: both whole when
// short, else from a little before their first difference (a config or
// a profile is long and differs in one field).
func differ(key, saved, cur string) string {
	if len(saved) <= 80 && len(cur) <= 80 {
		return fmt.Sprintf("the saved run's %s is %s, this run's is %s", key, short(saved), short(cur))
	}
	i := 0
	for i < len(saved) && i < len(cur) && saved[i] == cur[i] {
		i++
	}
	from := max(0, i-20)
	return fmt.Sprintf("the saved run's %s is …%s, this run's is …%s", key, short(saved[from:]), short(cur[from:]))
}
