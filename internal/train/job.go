package train

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"

	"github.com/clinic-ml/clinic/admin"
	"github.com/clinic-ml/clinic/asm"
	"github.com/clinic-ml/clinic/internal/dist"
	"github.com/clinic-ml/clinic/internal/limits"
	"github.com/clinic-ml/clinic/internal/metrics"
	"github.com/clinic-ml/clinic/internal/optim"
	"github.com/clinic-ml/clinic/internal/progress"
	"github.com/clinic-ml/clinic/model"
	"github.com/spf13/pflag"
)

// The files a Job writes in its directory (besides its checkpoints):
// StateFile, the trainer state saved beside each checkpoint, for
// resuming; MetricsFile, a record per step (internal/metrics);
// ProfileFile, Admin's ω profile.
const (
	StateFile   = "trainer_state.safetensors"
	MetricsFile = "metrics.jsonl"
	ProfileFile = "admin_profile.json"
)

// A Job is one training run as 'clinic train' and the sweeps run it:
// everything it depends on, as a value. A Go program fills one in and
// calls its task's run (internal/task); the run writes its
// metrics, checkpoints and trainer state in Dir.
type Job struct {
	Model                             model.Config
	Steps, Batch                      int
	UpdateFreq                        int // batches per optimizer step (Options.UpdateFreq)
	EvalEvery, EvalBatches, SaveEvery int
	KeepLast                          int
	Optim                             optim.Config
	ValFrac                           float64
	Seed                              uint64
	// Data is the training data (a file or folder; "": the task's
	// built-in corpus); Dir the run directory.
	Data, Dir string
	// AdminProfile, when set, is the ω profile to load; AdminInit is
	// "profile" (one batch) or "free".
	AdminProfile, AdminInit string
	// Rules may end the run before Steps (--max-epoch, --patience,
	// --stop-min-lr).
	Rules StopRules
	// TensorBoard, when set, is a log directory: the run also writes
	// its metrics as TensorBoard events in a folder of it named as Dir
	// is (filepath.Base), a new event file each time the run starts.
	TensorBoard string

	// Pool, when set (by a sweep), runs the job; else the job starts a
	// pool of Threads workers, pinned to CPUs if Pin.
	Pool        *asm.Pool
	Threads     int
	Pin         bool
	Specialized bool
	// Precision is --precision (fp32, bf16 or auto) until
	// ChoosePrecision resolves it to fp32 or bf16 and sets Model.BF16;
	// a job that never calls it trains as Model.BF16 says (the sweeps:
	// fp32).
	Precision string

	// Data-parallel training (Options).
	Comm         dist.Comm
	CheckEvery   int
	SerialReduce bool
	BucketBytes  int

	// Quiet: no progress and no summary. Stdout gets the run's summary
	// lines, Stderr its progress bar (nil: nowhere).
	Quiet          bool
	Stdout, Stderr io.Writer

	// BeforeStep, when set, runs before each step's forward pass (tests
	// use it to make a run diverge).
	BeforeStep func(step int)
	// Resume, when set, is the trainer state of the run in Dir to
	// continue; RunInfo is saved in the trainer state (the flags).
	Resume  *State
	RunInfo map[string]string
	// ClearOld, when set, removes the previous run's files from Dir
	// (--overwrite); see Begin.
	ClearOld func() error
	// Watch, when set, is called as the run starts: stop stops the run
	// (Options.Stop), stopped(step) is the error the run returns when it
	// did, and done ends the watch.
	Watch func(dir string, stderr io.Writer) (stop <-chan struct{}, stopped func(step int) error, done func())
}

// MaxUpdateFreq bounds --update-freq: far more batches per step than
// any run could take.
const MaxUpdateFreq = 1 << 20

// StepBatches says what one step of the job trains on, for summaries
// and reports, given what one batch is: batch itself, or under
// --update-freq 4 "4 batches of " batch.
func (j *Job) StepBatches(batch string) string {
	if j.UpdateFreq > 1 {
		return fmt.Sprintf("%d batches of %s", j.UpdateFreq, batch)
	}
	return batch
}

// Rank0 is whether this process writes the run's files: one process,
// or rank 0 of a job.
func (j *Job) Rank0() bool { return j.Comm == nil || j.Comm.Rank() == 0 }

// Ranks is the number of ranks of the job (1: one process).
func (j *Job) Ranks() int {
	if j.Comm == nil {
		return 1
	}
	return j.Comm.Size()
}

// Rank is this process's rank (0 for one process).
func (j *Job) Rank() int {
	if j.Comm == nil {
		return 0
	}
	return j.Comm.Rank()
}

// Begin is called once the run is sure to start (its data loaded, its
// config valid, its memory checked), before it writes into Dir: with
// ClearOld it removes the previous run's files only then, so that a
// run that cannot start leaves the old one intact.
func (j *Job) Begin() error {
	if j.ClearOld == nil {
		return nil
	}
	return j.ClearOld()
}

// Workers is the job's pool and what ends it: j.Pool, or a pool of
// j.Threads started for the job.
func (j *Job) Workers() (*asm.Pool, func(), error) {
	if j.Pool != nil {
		return j.Pool, func() {}, nil
	}
	p, err := asm.NewPoolOnCPUs(j.Threads, j.Pin)
	if err != nil {
		return nil, nil, err
	}
	return p, p.Close, nil
}

// Out is where the run's summary lines go: Stdout, or nowhere.
func (j *Job) Out() io.Writer {
	if j.Stdout == nil {
		return io.Discard
	}
	return j.Stdout
}

func (j *Job) stderr() io.Writer {
	if j.Stderr == nil {
		return io.Discard
	}
	return j.Stderr
}

// MkDir creates the run directory (rank 0 alone writes it).
func (j *Job) MkDir() error {
	if !j.Rank0() {
		return nil
	}
	if err := os.MkdirAll(j.Dir, 0o755); err != nil {
		return fmt.Errorf("run directory: %v", err)
	}
	return nil
}

// AdminTask is a task whose ω Admin can set.
type AdminTask interface {
	Task
	ProfileAdmin() (*admin.Profile, error)
	SetAdminProfile(*admin.Profile) error
}

// SetAdmin sets the task's ω as the job says (a saved profile, the
// profiling-free values or profiling) and saves the profile in the run
// directory. In a data-parallel job rank 0 profiles (the global batch,
// as one process would) and the others take its profile: one
// profiling pass, one ω.
func (j *Job) SetAdmin(task AdminTask) error {
	if j.Resume != nil {
		// The profile is restored with the trainer state, which must
		// hold the one the run saved in its directory (if still there).
		path := filepath.Join(j.Dir, ProfileFile)
		if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		pr, err := admin.Load(path)
		if err != nil {
			return err
		}
		return task.SetAdminProfile(pr)
	}
	var pr *admin.Profile
	var err error
	if j.Rank0() {
		switch {
		case j.AdminProfile != "":
			pr, err = admin.Load(j.AdminProfile)
		case j.AdminInit == "free":
			pr = admin.Free(j.Model)
		default:
			pr, err = task.ProfileAdmin()
		}
	}
	if j.Ranks() > 1 {
		var js []byte
		if err == nil && j.Rank0() {
			js, err = json.Marshal(pr)
		}
		if js, err = FromRank0(j.Comm, js, err); err != nil {
			return fmt.Errorf("admin profile: %v", err)
		}
		pr = new(admin.Profile)
		if err := json.Unmarshal(js, pr); err != nil {
			return fmt.Errorf("admin profile from rank 0: %v", err)
		}
	}
	if err != nil {
		return err
	}
	if err := task.SetAdminProfile(pr); err != nil {
		return err
	}
	if !j.Rank0() {
		return nil
	}
	if err := j.Begin(); err != nil {
		return err
	}
	if err := pr.Save(filepath.Join(j.Dir, ProfileFile)); err != nil {
		return fmt.Errorf("saving admin profile: %v", err)
	}
	return nil
}

// FromRank0 gives every rank rank 0's b, or rank 0's error (err on the
// other ranks is ignored: they only wait for rank 0's result).
func FromRank0(c dist.Comm, b []byte, err error) ([]byte, error) {
	if c.Rank() == 0 {
		if err != nil {
			b = append([]byte{0}, err.Error()...)
		} else {
			b = append([]byte{1}, b...)
		}
	}
	b, berr := c.BroadcastBytes(b)
	switch {
	case berr != nil:
		return nil, berr
	case len(b) == 0 || b[0] == 0:
		return nil, fmt.Errorf("on rank 0: %s", b[min(1, len(b)):])
	}
	return b[1:], nil
}

// options is the trainer's Options for the job, the same on every rank
// but for what rank 0 alone writes.
func (j *Job) options(scores []Score, stop <-chan struct{}) Options {
	o := Options{Steps: j.Steps, UpdateFreq: j.UpdateFreq, EvalEvery: j.EvalEvery, SaveEvery: j.SaveEvery, Optim: j.Optim,
		BeforeStep: j.BeforeStep, Scores: scores, Stop: stop, Comm: j.Comm, CheckEvery: j.CheckEvery,
		SerialReduce: j.SerialReduce, BucketBytes: j.BucketBytes, BF16: j.Model.BF16}
	o.Rules = j.Rules
	if j.Rank0() {
		o.Checkpoint, o.KeepLast = filepath.Join(j.Dir, "model.safetensors"), j.KeepLast
		o.State, o.Run = filepath.Join(j.Dir, StateFile), j.RunInfo
	} else {
		// The other ranks run the scores too, which are collectives
		// (validation BLEU sums its statistics over the ranks), and so
		// keep the best values rank 0 keeps, without writing the best
		// checkpoints.
		o.Scores = slices.Clone(scores)
		for i := range o.Scores {
			o.Scores[i].Best = ""
		}
	}
	return o
}

// Run trains task as j says, with metrics and checkpoints in j.Dir, a
// progress bar on Stderr unless Quiet, and, at the end, a summary line
// on Stdout that says what the losses are per (unit). On a rank other
// than 0 it runs the same steps and writes nothing; it restores the same
// checkpoint and state as rank 0 (the run directory must be on a file
// system every rank sees).
func (j *Job) Run(task Task, unit string, scores []Score) (*Result, error) {
	stderr := j.stderr()
	if !j.Rank0() {
		stderr = io.Discard
	}
	stop, stopped, unwatch := (<-chan struct{})(nil), func(int) error { return nil }, func() {}
	if j.Watch != nil {
		stop, stopped, unwatch = j.Watch(j.Dir, stderr)
	}
	defer unwatch()
	opts := j.options(scores, stop)
	var bar *progress.Bar
	if j.Rank0() && !j.Quiet {
		bar = j.progress(&opts)
	}
	tr, err := New(task, opts)
	if err != nil {
		return nil, limits.UsageError{Msg: err.Error()}
	}
	if j.Rank0() {
		mw, err := j.metrics(tr, opts.Checkpoint)
		if err != nil {
			return nil, err
		}
		defer mw.Close()
		tr.SetMetrics(mw)
	} else if j.Resume != nil {
		// Rank 0 checks the checkpoint (and then rewrites it).
		if err := tr.Restore(j.Resume, ""); err != nil {
			return nil, fmt.Errorf("--resume %s: %v", j.Dir, err)
		}
	}
	res, err := tr.Run()
	if bar != nil {
		bar.Finish()
	}
	var se *StoppedError
	switch {
	case errors.As(err, &se) && !j.Rank0():
		return res, nil // rank 0 reports the stop
	case errors.As(err, &se):
		return res, stopped(se.Step)
	case err != nil:
		return res, err
	}
	if !j.Quiet && j.Rank0() {
		step, why := j.Steps, ""
		if res.Stopped != "" {
			step, why = res.Final.Step, "; stopped: "+res.Stopped
		}
		fmt.Fprintf(j.Out(), "clinic: step %d: train loss %.4f, validation loss %.4f nats/%s; checkpoint %s%s\n",
			step, res.Final.Loss, res.Final.ValLoss, unit, opts.Checkpoint, why)
	}
	return res, nil
}

// metrics restores a resumed run into tr (rank 0) and opens its
// metrics: created, or appended to after the checkpoint's step.
func (j *Job) metrics(tr *Trainer, ckpt string) (*metrics.Writer, error) {
	mpath := filepath.Join(j.Dir, MetricsFile)
	open := metrics.Create
	if j.Resume != nil {
		if err := tr.Restore(j.Resume, ckpt); err != nil {
			return nil, fmt.Errorf("--resume %s: %v", j.Dir, err)
		}
		// Lines written after the checkpoint would be written again.
		if err := TruncateMetrics(mpath, j.Resume.CheckpointStep); err != nil {
			return nil, err
		}
		open = metrics.Append
	}
	mw, err := open(mpath)
	if err != nil || j.TensorBoard == "" {
		return mw, err
	}
	ev, err := metrics.CreateEvents(j.TensorBoardDir())
	if err != nil {
		mw.Close()
		return nil, err
	}
	mw.Tee(ev)
	return mw, nil
}

// TensorBoardDir is the folder of TensorBoard's log directory the run
// writes its events in.
func (j *Job) TensorBoardDir() string {
	return filepath.Join(j.TensorBoard, filepath.Base(filepath.Clean(j.Dir)))
}

// progress sets opts to draw a progress bar on Stderr that shows the
// loss and each score's latest value.
func (j *Job) progress(opts *Options) *progress.Bar {
	lastScore := map[string]float64{}
	scores := opts.Scores
	for i, sc := range scores {
		eval := sc.Eval
		scores[i].Eval = func() (float64, error) {
			v, err := eval()
			lastScore[sc.Name] = v
			return v, err
		}
	}
	stderr := j.stderr()
	f, ok := stderr.(*os.File)
	bar := progress.New(stderr, j.Steps, ok && progress.IsTerminal(f))
	bar.Every = max(1, j.EvalEvery/4)
	opts.OnStep = func(pr Progress) {
		st := fmt.Sprintf("loss %.3f", pr.Loss)
		if n := j.Ranks(); n > 1 {
			st = fmt.Sprintf("%d ranks %s", n, st)
		}
		if !math.IsNaN(pr.ValLoss) {
			st += fmt.Sprintf(" val %.3f", pr.ValLoss)
		}
		if pr.TokensPerSec > 0 {
			st += fmt.Sprintf(" %.0f tok/s", pr.TokensPerSec)
		}
		for _, sc := range scores {
			if v, ok := lastScore[sc.Name]; ok {
				st += fmt.Sprintf(" %s %.2f", sc.Name, v)
			}
		}
		bar.Update(pr.Step, st)
	}
	return bar
}

// LayerCode says which layer code a model of cfg runs.
func LayerCode(cfg model.Config) string {
	if name := model.Specialized(cfg); name != "" {
		return "specialized layer code (" + name + ")"
	}
	return "generic layer code"
}

// Check refuses a job 'clinic train' cannot run, naming the flag that
// sets the field at fault (a usage error).
func (j *Job) Check() error {
	for _, c := range []struct {
		name string
		v    int
	}{{"steps", j.Steps}, {"eval-every", j.EvalEvery}, {"eval-batches", j.EvalBatches}} {
		if err := limits.CheckSize(c.name, c.v, 1, math.MaxInt); err != nil {
			return err
		}
	}
	if err := limits.CheckSize("batch-size", j.Batch, 1, limits.MaxBatch); err != nil {
		return err
	}
	if err := limits.CheckSize("update-freq", j.UpdateFreq, 1, MaxUpdateFreq); err != nil {
		return err
	}
	switch {
	case j.Optim.Warmup < 0:
		return limits.Usagef("--warmup must be ≥ 0, got %d", j.Optim.Warmup)
	case j.SaveEvery < 0:
		return limits.Usagef("--save-every must be ≥ 0, got %d", j.SaveEvery)
	case j.KeepLast < 0:
		return limits.Usagef("--keep-last must be ≥ 0, got %d", j.KeepLast)
	case limits.CheckThreads(j.Threads) != nil:
		return limits.CheckThreads(j.Threads)
	case !(j.Optim.LR > 0) || math.IsInf(j.Optim.LR, 0):
		return limits.Usagef("--lr must be positive, got %g", j.Optim.LR)
	case !(j.ValFrac > 0 && j.ValFrac < 1):
		return limits.Usagef("--val-frac must be in (0,1), got %g", j.ValFrac)
	case !(j.Optim.Clip >= 0) || math.IsInf(j.Optim.Clip, 0):
		return limits.Usagef("--clip must be finite and ≥ 0, got %g", j.Optim.Clip)
	case !(j.Optim.WeightDecay >= 0) || math.IsInf(j.Optim.WeightDecay, 0):
		return limits.Usagef("--weight-decay must be finite and ≥ 0, got %g", j.Optim.WeightDecay)
	case !(j.Optim.Beta1 >= 0 && j.Optim.Beta1 < 1 && j.Optim.Beta2 >= 0 && j.Optim.Beta2 < 1):
		return limits.Usagef("--beta1 and --beta2 must be in [0,1)")
	case !(j.Optim.Eps > 0) || math.IsInf(j.Optim.Eps, 0):
		return limits.Usagef("--adam-eps must be finite and positive, got %g", j.Optim.Eps)
	case j.Optim.Name != "adam" && j.Optim.Name != "radam":
		return limits.Usagef("--optimizer must be adam or radam, got %q", j.Optim.Name)
	case j.Optim.Schedule != "invsqrt" && j.Optim.Schedule != "constant":
		return limits.Usagef("--schedule must be invsqrt or constant, got %q", j.Optim.Schedule)
	case j.AdminInit != "profile" && j.AdminInit != "free":
		return limits.Usagef("--admin-init must be profile or free, got %q", j.AdminInit)
	case j.AdminInit == "free" && j.AdminProfile != "":
		return limits.Usagef("--admin-init free and --admin-profile both set ω; give one")
	case j.Dir == "":
		return limits.Usagef("--out must name a directory")
	}
	if j.Model.Norm != model.Admin && (j.AdminProfile != "" || j.AdminInit != "profile") {
		return limits.Usagef("--admin-profile and --admin-init need --norm admin")
	}
	// Only a translator has encoder layers (the task's flags set them
	// before this check), and only a translator validation BLEU.
	if err := j.Rules.check(j.Model.EncoderLayers > 0, j.Optim.LR); err != nil {
		return err
	}
	if j.TensorBoard != "" {
		// Refused before the run starts (--overwrite would already have
		// cleared the previous run); the event file itself is new.
		if fi, err := os.Stat(j.TensorBoard); err == nil && !fi.IsDir() {
			return limits.Usagef("--tensorboard %s is not a directory", j.TensorBoard)
		}
	}
	if j.Precision != "" {
		return CheckPrecision(j.Precision)
	}
	return nil
}

// Join makes the job a rank of the data-parallel job c: with no
// Threads, one per core of this node, shared among its ranks.
func (j *Job) Join(c dist.Comm) {
	j.Comm = c
	if j.Threads == 0 {
		j.Threads = max(1, runtime.GOMAXPROCS(0)/dist.LocalSize())
	}
}

// Flags registers the flags that fill j on fs, in their help order
// ('clinic train', the sweeps); shared(names...) adds, in their place,
// the flags a command shares with others (threads, pin-threads, data).
func (j *Job) Flags(fs *pflag.FlagSet, shared func(names ...string)) {
	fs.IntVar(&j.Steps, "steps", 1000, "optimizer steps")
	fs.IntVar(&j.Batch, "batch-size", 16, "sequences per step")
	fs.IntVar(&j.UpdateFreq, "update-freq", 1, "batches per optimizer step, their gradients summed and normalized by all their tokens (fairseq's --update-freq: an effective batch N times as large; --steps, --warmup and the cadences count steps)")
	fs.Float64Var(&j.Optim.LR, "lr", 1e-3, "peak learning rate")
	fs.IntVar(&j.Optim.Warmup, "warmup", 200, "linear warm-up steps")
	fs.StringVar(&j.Optim.Schedule, "schedule", "invsqrt", "learning-rate schedule after warm-up: invsqrt or constant")
	fs.StringVar(&j.Optim.Name, "optimizer", "adam", "adam or radam")
	fs.Float64Var(&j.Optim.Beta1, "beta1", 0.9, "Adam β1")
	fs.Float64Var(&j.Optim.Beta2, "beta2", 0.98, "Adam β2")
	fs.Float64Var(&j.Optim.Eps, "adam-eps", 1e-8, "Adam ε")
	fs.Float64Var(&j.Optim.WeightDecay, "weight-decay", 0, "decoupled weight decay (AdamW)")
	fs.Float64Var(&j.Optim.Clip, "clip", 1.0, "clip the gradient norm to this (0: off)")
	fs.IntVar(&j.EvalEvery, "eval-every", 100, "validate every N steps")
	fs.IntVar(&j.EvalBatches, "eval-batches", 8, "validation batches per evaluation")
	fs.IntVar(&j.SaveEvery, "save-every", 500, "checkpoint every N steps (0: only at the end)")
	fs.IntVar(&j.KeepLast, "keep-last", 0, "also keep the last N checkpoints as DIR/checkpoint<step>.safetensors, for 'clinic average'")
	fs.IntVar(&j.Rules.MaxEpoch, "max-epoch", 0, "stop at the end of epoch N (0: off); translate: a pass over the training pairs; lm: as many target bytes as the training text has")
	fs.IntVar(&j.Rules.Patience, "patience", 0, "stop after N validations in a row without a better --best-metric (0: off)")
	fs.StringVar(&j.Rules.BestMetric, "best-metric", BestLoss, "what --patience watches: loss (validation loss) or bleu (translate: validation BLEU, every --bleu-every steps)")
	fs.Float64Var(&j.Rules.MinLR, "stop-min-lr", 0, "stop once the learning rate, past warm-up, falls to or below this (0: off)")
	fs.Float64Var(&j.ValFrac, "val-frac", 0.01, "fraction of the text, at its end, held out for validation")
	fs.Uint64Var(&j.Seed, "seed", 1, "random seed (weights, batches, dropout)")
	shared("threads", "pin-threads")
	fs.BoolVar(&j.Specialized, "specialized", true, "run the layer code generated for the model's shape when it has some ('clinic version' lists them); false: the generic path, for comparison (the results are the same)")
	shared("data")
	fs.StringVar(&j.Dir, "out", "runs/latest", "run directory for metrics.jsonl and checkpoints")
	fs.StringVar(&j.AdminProfile, "admin-profile", "", "Admin: load ω from this profile instead of profiling")
	fs.StringVar(&j.AdminInit, "admin-init", "profile", "Admin: profile (one batch) or free (admin-torch's profiling-free ω)")
	fs.StringVar(&j.TensorBoard, "tensorboard", "", "also write the metrics as TensorBoard event files into DIR/<name of --out>/ ('tensorboard --logdir DIR')")
}
