package train

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
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
}

// StateFormat is the "format" metadata of a trainer state file.
const StateFormat = "clinic-trainer-state/1"

// Metadata keys of a trainer state file; the task's State is stored
// under "task.", Options.Run under "run.", each Score's best value
// under "best.".
const (
	keyFormat     = "format"
	keyStep       = "step"
	keyCheckpoint = "checkpoint_step"
	keyMetrics    = "metrics_step"
	keyOptimSteps = "optim_steps"
	keyOptim      = "optim"
	prefixTask    = "task."
	prefixRun     = "run."
	prefixBest    = "best."
)

// State is a trainer state file read back (see Trainer.SaveState).
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

// SaveState writes, atomically, what resuming the run at the current
// step needs: the optimizer's moments and step count, the task's State,
// the metrics position, each Score's best value and Options.Run. It
// records that it belongs to the checkpoint of the current step.
func (t *Trainer) SaveState(path string) error {
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
		keyMetrics: strconv.Itoa(t.step), keyOptim: string(oc),
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
	for i, q := range t.task.Params().List {
		f.Tensors = append(f.Tensors, safetensors.NewF32("m."+q.Name, q.Shape, m[i]), safetensors.NewF32("v."+q.Name, q.Shape, v[i]))
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
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("trainer state: %v", err)
	}
	md := f.Metadata
	if md[keyFormat] != StateFormat {
		return nil, fmt.Errorf("trainer state %s: format %q, want %q", path, md[keyFormat], StateFormat)
	}
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
// weights from checkpoint (which must be the checkpoint saved with s),
// the optimizer's moments and step count, the task's positions, the
// step and the best Score values. The task and the optimizer settings
// must be those of the saved run.
func (t *Trainer) Restore(s *State, checkpoint string) error {
	rt, ok := t.task.(Resumable)
	if !ok {
		return fmt.Errorf("train: this task cannot be resumed")
	}
	md := s.f.Metadata
	ck, err := safetensors.ReadFile(checkpoint)
	if err != nil {
		return fmt.Errorf("checkpoint: %v", err)
	}
	if cs := ck.Metadata["step"]; cs != strconv.Itoa(s.CheckpointStep) {
		return fmt.Errorf("%s holds the weights of step %s but %s belongs to the checkpoint of step %d: they were not written together (the run was killed between the two writes, or diverged), so the run cannot be resumed exactly",
			checkpoint, cs, s.Path, s.CheckpointStep)
	}
	p := t.task.Params()
	if got, want := ck.Metadata["config"], p.Cfg.JSON(); got != want {
		return fmt.Errorf("%s: model config %s differs from this run's %s", checkpoint, got, want)
	}
	oc, err := json.Marshal(t.o.Optim)
	if err != nil {
		return err
	}
	if md[keyOptim] != string(oc) {
		return fmt.Errorf("%s: optimizer settings %s differ from this run's %s", s.Path, md[keyOptim], oc)
	}
	ts := map[string]string{}
	for k, v := range md {
		if r, ok := strings.CutPrefix(k, prefixTask); ok {
			ts[r] = v
		}
	}
	// The task first: restoring Admin's profile sets ω, which the
	// checkpoint's weights then overwrite with the same values.
	if err := rt.Restore(ts); err != nil {
		return fmt.Errorf("%s: %v", s.Path, err)
	}
	if err := p.LoadTensors(ck, ""); err != nil {
		return fmt.Errorf("checkpoint %s: %v", checkpoint, err)
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
	t.step = s.Step
	copy(t.prev, p.W)
	return nil
}

// TruncateMetrics rewrites the metrics file at path, atomically, without
// the lines of steps after step (written after the checkpoint a run
// resumes from) and without lines that are not JSON objects with a step
// (a line cut short by a kill). A missing file is not an error.
func TruncateMetrics(path string, step int) error {
	b, err := fileutil.ReadRegular(path, 0)
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
// differs between a saved task state and the current task's.
func sameIdentity(saved, cur map[string]string, positional ...string) error {
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
		if slices.Contains(positional, k) || saved[k] == cur[k] {
			continue
		}
		return fmt.Errorf("the saved run's %s is %s, this run's is %s", k, short(saved[k]), short(cur[k]))
	}
	return nil
}

func short(s string) string {
	if s == "" {
		return "(none)"
	}
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}
