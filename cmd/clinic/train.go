package main

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
	"runtime/pprof"
	"slices"

	"github.com/clinic-ml/clinic/admin"
	"github.com/clinic-ml/clinic/asm"
	"github.com/clinic-ml/clinic/internal/data"
	"github.com/clinic-ml/clinic/internal/dist"
	"github.com/clinic-ml/clinic/internal/fileutil"
	"github.com/clinic-ml/clinic/internal/metrics"
	"github.com/clinic-ml/clinic/internal/optim"
	"github.com/clinic-ml/clinic/internal/progress"
	"github.com/clinic-ml/clinic/internal/train"
	"github.com/clinic-ml/clinic/model"
)

// trainOpts is everything a training run depends on.
type trainOpts struct {
	cfg                               model.Config
	steps, batch, warmup              int
	evalEvery, evalBatches, saveEvery int
	keepLast                          int
	threads                           int
	// pool, when set (by a sweep), runs the job; else the job starts a
	// pool of threads workers, pinned to CPUs if pin.
	pool                           *asm.Pool
	pin                            bool
	specialized                    bool
	checkEvery                     int
	serialReduce                   bool
	bucketBytes                    int
	lr, weightDecay, clip, valFrac float64
	beta1, beta2, eps              float64
	optimizer, schedule            string
	seed                           uint64
	dataPath, out                  string
	adminProfile, adminInit        string
	quiet                          bool // no progress output (sweeps)

	// beforeStep, when set, runs before each step's forward pass (tests
	// use it to make a run diverge).
	beforeStep func(step int)

	// resume, when set, is the trainer state of the run in out to
	// continue; runInfo is saved in the trainer state (the flags).
	resume  *train.State
	runInfo map[string]string
	// clearOld, when set, removes the previous run's files from out
	// (--overwrite); see begin.
	clearOld func() error

	// comm is the data-parallel job this process is a rank of (nil: one
	// process). Rank 0 alone writes the run directory and prints.
	comm dist.Comm
}

// rank0 is whether this process writes the run's files: one process,
// or rank 0 of a job.
func (o *trainOpts) rank0() bool { return o.comm == nil || o.comm.Rank() == 0 }

// begin is called once the run is sure to start (its data loaded, its
// config valid, its memory checked), before it writes into out: with
// --overwrite it removes the previous run's files only then, so that a
// run that cannot start leaves the old one intact.
func (o *trainOpts) begin() error {
	if o.clearOld == nil {
		return nil
	}
	return o.clearOld()
}

// ranks is the number of ranks of the job (1: one process).
func (o *trainOpts) ranks() int {
	if o.comm == nil {
		return 1
	}
	return o.comm.Size()
}

func (o *trainOpts) register(fs interface {
	IntVar(*int, string, int, string)
	Float64Var(*float64, string, float64, string)
	StringVar(*string, string, string, string)
	Uint64Var(*uint64, string, uint64, string)
	BoolVar(*bool, string, bool, string)
}) {
	fs.IntVar(&o.steps, "steps", 1000, "optimizer steps")
	fs.IntVar(&o.batch, "batch-size", 16, "sequences per step")
	fs.Float64Var(&o.lr, "lr", 1e-3, "peak learning rate")
	fs.IntVar(&o.warmup, "warmup", 200, "linear warm-up steps")
	fs.StringVar(&o.schedule, "schedule", "invsqrt", "learning-rate schedule after warm-up: invsqrt or constant")
	fs.StringVar(&o.optimizer, "optimizer", "adam", "adam or radam")
	fs.Float64Var(&o.beta1, "beta1", 0.9, "Adam β1")
	fs.Float64Var(&o.beta2, "beta2", 0.98, "Adam β2")
	fs.Float64Var(&o.eps, "adam-eps", 1e-8, "Adam ε")
	fs.Float64Var(&o.weightDecay, "weight-decay", 0, "decoupled weight decay (AdamW)")
	fs.Float64Var(&o.clip, "clip", 1.0, "clip the gradient norm to this (0: off)")
	fs.IntVar(&o.evalEvery, "eval-every", 100, "validate every N steps")
	fs.IntVar(&o.evalBatches, "eval-batches", 8, "validation batches per evaluation")
	fs.IntVar(&o.saveEvery, "save-every", 500, "checkpoint every N steps (0: only at the end)")
	fs.IntVar(&o.keepLast, "keep-last", 0, "also keep the last N checkpoints as DIR/checkpoint<step>.safetensors, for 'clinic average'")
	fs.Float64Var(&o.valFrac, "val-frac", 0.01, "fraction of the text, at its end, held out for validation")
	fs.Uint64Var(&o.seed, "seed", 1, "random seed (weights, batches, dropout)")
	fs.IntVar(&o.threads, "threads", 0, "worker threads (0: one per CPU)")
	fs.BoolVar(&o.pin, "pin-threads", false, "bind each worker thread to a CPU of its own (Linux; for multi-socket servers: each worker's rows then live on its node)")
	fs.BoolVar(&o.specialized, "specialized", true, "run the layer code generated for the model's shape when it has some ('clinic version' lists them); false: the generic path, for comparison (the results are the same)")
	fs.StringVar(&o.dataPath, "data", "", "UTF-8 text file or folder of .txt files (default: built-in corpus)")
	fs.StringVar(&o.out, "out", "runs/latest", "run directory for metrics.jsonl and checkpoints")
	fs.StringVar(&o.adminProfile, "admin-profile", "", "Admin: load ω from this profile instead of profiling")
	fs.StringVar(&o.adminInit, "admin-init", "profile", "Admin: profile (one batch) or free (admin-torch's profiling-free ω)")
}

func (o *trainOpts) check() error {
	for _, c := range []struct {
		name string
		v    int
	}{{"steps", o.steps}, {"eval-every", o.evalEvery}, {"eval-batches", o.evalBatches}} {
		if err := checkPositive(c.name, c.v); err != nil {
			return err
		}
	}
	if err := checkSize("batch-size", o.batch, 1, maxBatch); err != nil {
		return err
	}
	switch {
	case o.warmup < 0:
		return usagef("--warmup must be ≥ 0, got %d", o.warmup)
	case o.saveEvery < 0:
		return usagef("--save-every must be ≥ 0, got %d", o.saveEvery)
	case o.keepLast < 0:
		return usagef("--keep-last must be ≥ 0, got %d", o.keepLast)
	case checkThreads(o.threads) != nil:
		return checkThreads(o.threads)
	case !(o.lr > 0) || math.IsInf(o.lr, 0):
		return usagef("--lr must be positive, got %g", o.lr)
	case !(o.valFrac > 0 && o.valFrac < 1):
		return usagef("--val-frac must be in (0,1), got %g", o.valFrac)
	case !(o.clip >= 0) || math.IsInf(o.clip, 0):
		return usagef("--clip must be finite and ≥ 0, got %g", o.clip)
	case !(o.weightDecay >= 0) || math.IsInf(o.weightDecay, 0):
		return usagef("--weight-decay must be finite and ≥ 0, got %g", o.weightDecay)
	case !(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1):
		return usagef("--beta1 and --beta2 must be in [0,1)")
	case !(o.eps > 0) || math.IsInf(o.eps, 0):
		return usagef("--adam-eps must be finite and positive, got %g", o.eps)
	case o.optimizer != "adam" && o.optimizer != "radam":
		return usagef("--optimizer must be adam or radam, got %q", o.optimizer)
	case o.schedule != "invsqrt" && o.schedule != "constant":
		return usagef("--schedule must be invsqrt or constant, got %q", o.schedule)
	case o.adminInit != "profile" && o.adminInit != "free":
		return usagef("--admin-init must be profile or free, got %q", o.adminInit)
	case o.adminInit == "free" && o.adminProfile != "":
		return usagef("--admin-init free and --admin-profile both set ω; give one")
	case o.out == "":
		return usagef("--out must name a directory")
	}
	if o.cfg.Norm != model.Admin && (o.adminProfile != "" || o.adminInit != "profile") {
		return usagef("--admin-profile and --admin-init need --norm admin")
	}
	return nil
}

func runTrain(args []string, stdout, stderr io.Writer) error {
	task := taskOf(args)
	resumeDir := argValue(args, "resume")
	var resumed *train.State
	var savedFlags map[string]savedFlag
	if resumeDir != "" {
		var err error
		if resumed, savedFlags, err = readResume(resumeDir); err != nil {
			return err
		}
		if argValue(args, "task") == "" {
			task = savedFlags["task"].Value
		}
	}
	synopsis := "Train a byte-level Transformer language model (--task lm, the default) or an\nencoder–decoder translator (--task translate). Writes DIR/metrics.jsonl,\nDIR/model.safetensors (every --save-every steps and at the end), for Admin\nDIR/admin_profile.json and, for translation, DIR/bpe.codes."
	fs := newFlags("train", synopsis, stdout)
	var mf modelFlags
	var o trainOpts
	var tf translateFlags
	mf.register(fs)
	o.register(fs)
	tf.register(fs)
	if task == taskTranslate {
		tf.defaults(fs)
	}
	overwrite := fs.Bool("overwrite", false, "replace a run already in --out (its checkpoints, metrics, profile and codes are removed first)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file (inspect with 'go tool pprof')")
	fs.IntVar(&o.checkEvery, "check-every", 100, "under mpirun: compare a hash of the weights across ranks every N steps and at the end (0: at the end only)")
	overlap := fs.Bool("overlap", true, "under mpirun: reduce the layers' gradients while the backward pass goes on, as soon as they fill a bucket (false: all after the pass)")
	bucketMB := fs.Float64("bucket-mb", 25, "under mpirun: gradient MB per allreduce (PyTorch DDP's bucket_cap_mb); consecutive finished layers are merged up to it")
	fs.String("resume", "", "continue the run in this directory from its last checkpoint, exactly (only --steps, --eval-every, --save-every, --keep-last, --threads, --bleu-every may change)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if resumed != nil {
		// Under mpirun, the ranks other than 0 print nothing.
		quiet := false
		if c, err := dist.Init(); err == nil && c.Rank() != 0 {
			quiet = true
		}
		if err := applyResume(fs, resumeDir, savedFlags, quiet, stdout); err != nil {
			return err
		}
	}
	if err := tf.check(fs); err != nil {
		return err
	}
	if tf.task == taskTranslate {
		mf.cfg.EncoderLayers = tf.encLayers
		if fs.Changed("max-len") {
			mf.cfg.SeqLen = tf.maxLen
		}
	}
	cfg, err := mf.config()
	if err != nil {
		return err
	}
	o.cfg = cfg
	if err := o.check(); err != nil {
		return err
	}
	o.serialReduce = !*overlap
	if !(*bucketMB > 0 && *bucketMB <= 1<<20) {
		return usagef("--bucket-mb must be in (0, %d], got %g", 1<<20, *bucketMB)
	}
	o.bucketBytes = max(4, int(*bucketMB*(1<<20)))
	if o.checkEvery < 0 {
		return usagef("--check-every must be ≥ 0, got %d", o.checkEvery)
	}
	if parseOnly {
		return errParsedOnly
	}
	// Neither the run's files nor the CPU profile may be its inputs.
	texts := []string{o.dataPath, tf.src, tf.tgt}
	if err := outputsNotInputs("out", o.out, runFile, texts...); err != nil {
		return err
	}
	if err := notInput("cpuprofile", *cpuprofile, append(withTxt(texts...), o.adminProfile, tf.bpeCodes)...); err != nil {
		return err
	}
	if err := o.joinJob(tf.task); err != nil {
		return err
	}
	o.runInfo = runFlags(fs)
	// One run per directory, locked for the whole run (rundir.go); a
	// resumed run keeps its files.
	if resumed != nil {
		if o.steps < resumed.Step {
			return usagef("--steps %d is below the step %d the run in %s has reached", o.steps, resumed.Step, o.out)
		}
		o.resume = resumed
	}
	release := func() {}
	switch {
	case !o.rank0():
		// The other ranks write nothing: rank 0 locks the directory.
		o.quiet = true
	case resumed != nil:
		release, err = lockRunDir(o.out)
	default:
		release, o.clearOld, err = prepareRunDir(o.out, *overwrite, o.adminProfile, tf.bpeCodes)
	}
	if err != nil {
		return err
	}
	defer release()
	if resumed != nil && o.rank0() {
		fmt.Fprintf(stdout, "clinic: resuming the run in %s at step %d of %d\n", o.out, resumed.Step, o.steps)
	}
	if *cpuprofile != "" && o.rank0() {
		// os.Create would block on a FIFO and truncate a device.
		f, err := fileutil.OpenWrite(*cpuprofile, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
		if err != nil {
			return fmt.Errorf("cpu profile: %v", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("cpu profile %s: %v", *cpuprofile, err)
		}
		defer pprof.StopCPUProfile()
	}
	if tf.task == taskTranslate {
		_, err = trainTranslate(o, tf, stdout, stderr)
		return err
	}
	_, err = trainRun(o, stdout, stderr)
	return err
}

// world is the MPI job of 'clinic train' (nil before it ran, or for
// other commands); main finalizes it, or aborts the whole job on an
// error so that no rank waits for this one.
var world dist.Comm

// joinJob makes o a rank of the MPI job this process was started in,
// if any (dist.Init: a build without MPI started as one of several
// ranks refuses).
func (o *trainOpts) joinJob(task string) error {
	c, err := dist.Init()
	if err != nil {
		return err
	}
	world = c
	if c.Size() == 1 {
		return nil
	}
	o.comm = c
	// A translation batch is cut by rows whatever their number (a rank
	// may get none), so only the language model's batch must divide.
	if task != taskTranslate && o.batch%c.Size() != 0 {
		return usagef("--batch-size %d (the global batch) must be a multiple of the %d MPI ranks", o.batch, c.Size())
	}
	if o.threads == 0 {
		// One thread per core of this node, shared among its ranks.
		o.threads = max(1, runtime.GOMAXPROCS(0)/dist.LocalSize())
	}
	return nil
}

// parseOnly stops 'clinic train' once its flags are parsed and checked,
// returning errParsedOnly (the flag-parsing fuzz test sets it).
var (
	parseOnly     bool
	errParsedOnly = errors.New("flags parsed")
)

// adminTask is a task whose ω Admin can set.
type adminTask interface {
	train.Task
	ProfileAdmin() (*admin.Profile, error)
	SetAdminProfile(*admin.Profile) error
}

// setAdmin sets the task's ω as the flags say (a saved profile, the
// profiling-free values or profiling) and saves the profile in the run
// directory.
func setAdmin(o trainOpts, task adminTask) error {
	if o.resume != nil {
		// The profile is restored with the trainer state, which must
		// hold the one the run saved in its directory (if still there).
		path := filepath.Join(o.out, "admin_profile.json")
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
	if o.rank0() {
		switch {
		case o.adminProfile != "":
			pr, err = admin.Load(o.adminProfile)
		case o.adminInit == "free":
			pr = admin.Free(o.cfg)
		default:
			pr, err = task.ProfileAdmin()
		}
	}
	if o.ranks() > 1 {
		// Rank 0 profiles (the global batch, as one process would) and
		// the others take its profile: one profiling pass, one ω.
		var js []byte
		if err == nil && o.rank0() {
			js, err = json.Marshal(pr)
		}
		if js, err = fromRank0(o.comm, js, err); err != nil {
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
	if !o.rank0() {
		return nil
	}
	if err := o.begin(); err != nil {
		return err
	}
	if err := pr.Save(filepath.Join(o.out, "admin_profile.json")); err != nil {
		return fmt.Errorf("saving admin profile: %v", err)
	}
	return nil
}

// fromRank0 gives every rank rank 0's b, or rank 0's error (err on the
// other ranks is ignored: they only wait for rank 0's result).
func fromRank0(c dist.Comm, b []byte, err error) ([]byte, error) {
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

// runTask trains task as o says, with metrics and checkpoints in o.out,
// a progress bar on stderr unless quiet, and, at the end, a summary line
// on stdout that says what the losses are per (unit).
func runTask(o trainOpts, task train.Task, unit string, scores []train.Score, stdout, stderr io.Writer) (*train.Result, error) {
	if !o.rank0() {
		return runRank(o, task, scores)
	}
	mpath, ckpt := filepath.Join(o.out, "metrics.jsonl"), filepath.Join(o.out, "model.safetensors")
	stop, stopSignal, unwatch := watchSignals(stderr, o.out)
	defer unwatch()
	opts := train.Options{Steps: o.steps, EvalEvery: o.evalEvery, SaveEvery: o.saveEvery,
		Optim: optim.Config{Name: o.optimizer, LR: o.lr, Beta1: o.beta1, Beta2: o.beta2, Eps: o.eps,
			WeightDecay: o.weightDecay, Warmup: o.warmup, Schedule: o.schedule, Clip: o.clip},
		Checkpoint: ckpt, KeepLast: o.keepLast, BeforeStep: o.beforeStep, Scores: scores,
		State: filepath.Join(o.out, stateFile), Run: o.runInfo, Stop: stop,
		Comm: o.comm, CheckEvery: o.checkEvery, SerialReduce: o.serialReduce, BucketBytes: o.bucketBytes}
	if opts.BeforeStep == nil {
		opts.BeforeStep = testBeforeStep
	}
	// The bar shows each score's latest value.
	lastScore := map[string]float64{}
	for i, sc := range scores {
		eval := sc.Eval
		scores[i].Eval = func() (float64, error) {
			v, err := eval()
			lastScore[sc.Name] = v
			return v, err
		}
	}
	opts.Scores = scores
	var bar *progress.Bar
	if !o.quiet {
		f, ok := stderr.(*os.File)
		bar = progress.New(stderr, o.steps, ok && progress.IsTerminal(f))
		bar.Every = max(1, o.evalEvery/4)
		opts.OnStep = func(pr train.Progress) {
			st := fmt.Sprintf("loss %.3f", pr.Loss)
			if n := o.ranks(); n > 1 {
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
	}
	tr, err := train.New(task, opts)
	if err != nil {
		return nil, usageError{err.Error()}
	}
	open := metrics.Create
	if o.resume != nil {
		if err := tr.Restore(o.resume, ckpt); err != nil {
			return nil, fmt.Errorf("--resume %s: %v", o.out, err)
		}
		// Lines written after the checkpoint would be written again.
		if err := train.TruncateMetrics(mpath, o.resume.CheckpointStep); err != nil {
			return nil, err
		}
		open = metrics.Append
	}
	mw, err := open(mpath)
	if err != nil {
		return nil, err
	}
	defer mw.Close()
	tr.SetMetrics(mw)
	res, err := tr.Run()
	if bar != nil {
		bar.Finish()
	}
	var se *train.StoppedError
	if errors.As(err, &se) {
		return res, &signalStop{sig: stopSignal(), step: se.Step, dir: o.out, resumable: o.runInfo != nil}
	}
	if err != nil {
		return res, err
	}
	if !o.quiet {
		fmt.Fprintf(stdout, "clinic: step %d: train loss %.4f, validation loss %.4f nats/%s; checkpoint %s\n",
			o.steps, res.Final.Loss, res.Final.ValLoss, unit, ckpt)
	}
	return res, nil
}

// runRank is runTask on a rank other than 0 of a job: the same steps,
// nothing written. It restores the same checkpoint and state as rank 0
// (the run directory must be on a file system every rank sees). It runs
// the scores too, which are collectives (validation BLEU sums its
// statistics over the ranks), and so keeps the best values rank 0
// keeps, without writing the best checkpoints.
func runRank(o trainOpts, task train.Task, scores []train.Score) (*train.Result, error) {
	scores = slices.Clone(scores)
	for i := range scores {
		scores[i].Best = ""
	}
	stop, _, unwatch := watchSignals(io.Discard, o.out)
	defer unwatch()
	opts := train.Options{Steps: o.steps, EvalEvery: o.evalEvery, SaveEvery: o.saveEvery,
		Optim: optim.Config{Name: o.optimizer, LR: o.lr, Beta1: o.beta1, Beta2: o.beta2, Eps: o.eps,
			WeightDecay: o.weightDecay, Warmup: o.warmup, Schedule: o.schedule, Clip: o.clip},
		BeforeStep: o.beforeStep, Stop: stop, Comm: o.comm, CheckEvery: o.checkEvery, SerialReduce: o.serialReduce,
		BucketBytes: o.bucketBytes, Scores: scores}
	if opts.BeforeStep == nil {
		opts.BeforeStep = testBeforeStep
	}
	tr, err := train.New(task, opts)
	if err != nil {
		return nil, usageError{err.Error()}
	}
	if o.resume != nil {
		// Rank 0 checks the checkpoint (and then rewrites it).
		if err := tr.Restore(o.resume, ""); err != nil {
			return nil, fmt.Errorf("--resume %s: %v", o.out, err)
		}
	}
	res, err := tr.Run()
	var se *train.StoppedError
	if errors.As(err, &se) {
		return res, nil // rank 0 reports the stop
	}
	return res, err
}

// workers is the job's pool and what ends it: o.pool, or a pool of
// o.threads started for the job.
func (o trainOpts) workers() (*asm.Pool, func(), error) {
	if o.pool != nil {
		return o.pool, func() {}, nil
	}
	p := asm.NewPool(o.threads)
	if o.pin {
		if err := p.Pin(); err != nil {
			p.Close()
			return nil, nil, err
		}
	}
	return p, p.Close, nil
}

// trainRun runs one language-model training job. Progress goes to
// stderr, the summary to stdout; with o.quiet, nothing is printed.
func trainRun(o trainOpts, stdout, stderr io.Writer) (*train.Result, error) {
	pool, done, err := o.workers()
	if err != nil {
		return nil, err
	}
	defer done()
	o.cfg.Generic = !o.specialized // the layer-code path travels with the config to every model of the run
	text, source, err := loadText(o.dataPath)
	if err != nil {
		return nil, err
	}
	trainText, valText := data.Split(text, o.valFrac)
	cfg := o.cfg
	rows, err := sizeProduct("--batch-size × --seq-len", o.batch, cfg.SeqLen)
	if err != nil {
		return nil, err
	}
	if err := checkFits("training this model", model.TrainingBytes(cfg, rows), "make the model, --batch-size or --seq-len smaller"); err != nil {
		return nil, err
	}
	lm, err := train.NewLM(train.LMConfig{Model: cfg, Batch: o.batch, EvalBatches: o.evalBatches, Seed: o.seed,
		Train: trainText, Val: valText, TrainName: source, Ranks: o.ranks(), Rank: rankOf(o.comm), Pool: pool,
		ValName: fmt.Sprintf("last %g of %s, %d bytes", o.valFrac, source, len(valText))})
	if err != nil {
		return nil, err
	}
	if o.rank0() {
		if err := os.MkdirAll(o.out, 0o755); err != nil {
			return nil, fmt.Errorf("run directory: %v", err)
		}
	}
	if cfg.Norm == model.Admin {
		if err := setAdmin(o, lm); err != nil {
			return nil, err
		}
	}
	if err := o.begin(); err != nil {
		return nil, err
	}
	if !o.quiet {
		ranks := ""
		if o.ranks() > 1 {
			ranks = fmt.Sprintf(" per rank, %d MPI ranks (%s)", o.ranks(), o.comm.Name())
		}
		fmt.Fprintf(stdout, "clinic: %s %d layers d%d h%d ff%d, %.2fM parameters, %d×%d bytes/step from %s (%d train, %d validation bytes), %d threads%s, kernels %s, %s\n",
			cfg.Norm, cfg.Layers, cfg.DModel, cfg.Heads, cfg.DFF, float64(cfg.ParamCount())/1e6, o.batch, cfg.SeqLen, source,
			len(trainText), len(valText), pool.Threads(), ranks, asm.CPULevel(), layerCode(cfg))
	}
	return runTask(o, lm, "byte", nil, stdout, stderr)
}

// layerCode says which layer code a model of cfg runs.
func layerCode(cfg model.Config) string {
	if name := model.Specialized(cfg); name != "" {
		return "specialized layer code (" + name + ")"
	}
	return "generic layer code"
}

// rankOf is c's rank (0 for one process).
func rankOf(c dist.Comm) int {
	if c == nil {
		return 0
	}
	return c.Rank()
}
