package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"runtime/pprof"

	"github.com/clinic-ml/clinic/internal/dist"
	"github.com/clinic-ml/clinic/internal/fileutil"
	"github.com/clinic-ml/clinic/internal/limits"
	"github.com/clinic-ml/clinic/internal/task"
	"github.com/clinic-ml/clinic/internal/train"
	"github.com/clinic-ml/clinic/model"
)

// trainOpts are the flags of a training run: the train.Job they fill.
type trainOpts struct{ train.Job }

func (o *trainOpts) register(fs interface {
	IntVar(*int, string, int, string)
	Float64Var(*float64, string, float64, string)
	StringVar(*string, string, string, string)
	Uint64Var(*uint64, string, uint64, string)
	BoolVar(*bool, string, bool, string)
}) {
	fs.IntVar(&o.Steps, "steps", 1000, "optimizer steps")
	fs.IntVar(&o.Batch, "batch-size", 16, "sequences per step")
	fs.Float64Var(&o.Optim.LR, "lr", 1e-3, "peak learning rate")
	fs.IntVar(&o.Optim.Warmup, "warmup", 200, "linear warm-up steps")
	fs.StringVar(&o.Optim.Schedule, "schedule", "invsqrt", "learning-rate schedule after warm-up: invsqrt or constant")
	fs.StringVar(&o.Optim.Name, "optimizer", "adam", "adam or radam")
	fs.Float64Var(&o.Optim.Beta1, "beta1", 0.9, "Adam β1")
	fs.Float64Var(&o.Optim.Beta2, "beta2", 0.98, "Adam β2")
	fs.Float64Var(&o.Optim.Eps, "adam-eps", 1e-8, "Adam ε")
	fs.Float64Var(&o.Optim.WeightDecay, "weight-decay", 0, "decoupled weight decay (AdamW)")
	fs.Float64Var(&o.Optim.Clip, "clip", 1.0, "clip the gradient norm to this (0: off)")
	fs.IntVar(&o.EvalEvery, "eval-every", 100, "validate every N steps")
	fs.IntVar(&o.EvalBatches, "eval-batches", 8, "validation batches per evaluation")
	fs.IntVar(&o.SaveEvery, "save-every", 500, "checkpoint every N steps (0: only at the end)")
	fs.IntVar(&o.KeepLast, "keep-last", 0, "also keep the last N checkpoints as DIR/checkpoint<step>.safetensors, for 'clinic average'")
	fs.Float64Var(&o.ValFrac, "val-frac", 0.01, "fraction of the text, at its end, held out for validation")
	fs.Uint64Var(&o.Seed, "seed", 1, "random seed (weights, batches, dropout)")
	fs.IntVar(&o.Threads, "threads", 0, "worker threads (0: one per CPU)")
	fs.BoolVar(&o.Pin, "pin-threads", false, "bind each worker thread to a CPU of its own (Linux; for multi-socket servers: each worker's rows then live on its node)")
	fs.BoolVar(&o.Specialized, "specialized", true, "run the layer code generated for the model's shape when it has some ('clinic version' lists them); false: the generic path, for comparison (the results are the same)")
	fs.StringVar(&o.Data, "data", "", "UTF-8 text file or folder of .txt files (default: built-in corpus)")
	fs.StringVar(&o.Dir, "out", "runs/latest", "run directory for metrics.jsonl and checkpoints")
	fs.StringVar(&o.AdminProfile, "admin-profile", "", "Admin: load ω from this profile instead of profiling")
	fs.StringVar(&o.AdminInit, "admin-init", "profile", "Admin: profile (one batch) or free (admin-torch's profiling-free ω)")
}

func (o *trainOpts) check() error {
	for _, c := range []struct {
		name string
		v    int
	}{{"steps", o.Steps}, {"eval-every", o.EvalEvery}, {"eval-batches", o.EvalBatches}} {
		if err := checkPositive(c.name, c.v); err != nil {
			return err
		}
	}
	if err := limits.CheckSize("batch-size", o.Batch, 1, limits.MaxBatch); err != nil {
		return err
	}
	switch {
	case o.Optim.Warmup < 0:
		return usagef("--warmup must be ≥ 0, got %d", o.Optim.Warmup)
	case o.SaveEvery < 0:
		return usagef("--save-every must be ≥ 0, got %d", o.SaveEvery)
	case o.KeepLast < 0:
		return usagef("--keep-last must be ≥ 0, got %d", o.KeepLast)
	case limits.CheckThreads(o.Threads) != nil:
		return limits.CheckThreads(o.Threads)
	case !(o.Optim.LR > 0) || math.IsInf(o.Optim.LR, 0):
		return usagef("--lr must be positive, got %g", o.Optim.LR)
	case !(o.ValFrac > 0 && o.ValFrac < 1):
		return usagef("--val-frac must be in (0,1), got %g", o.ValFrac)
	case !(o.Optim.Clip >= 0) || math.IsInf(o.Optim.Clip, 0):
		return usagef("--clip must be finite and ≥ 0, got %g", o.Optim.Clip)
	case !(o.Optim.WeightDecay >= 0) || math.IsInf(o.Optim.WeightDecay, 0):
		return usagef("--weight-decay must be finite and ≥ 0, got %g", o.Optim.WeightDecay)
	case !(o.Optim.Beta1 >= 0 && o.Optim.Beta1 < 1 && o.Optim.Beta2 >= 0 && o.Optim.Beta2 < 1):
		return usagef("--beta1 and --beta2 must be in [0,1)")
	case !(o.Optim.Eps > 0) || math.IsInf(o.Optim.Eps, 0):
		return usagef("--adam-eps must be finite and positive, got %g", o.Optim.Eps)
	case o.Optim.Name != "adam" && o.Optim.Name != "radam":
		return usagef("--optimizer must be adam or radam, got %q", o.Optim.Name)
	case o.Optim.Schedule != "invsqrt" && o.Optim.Schedule != "constant":
		return usagef("--schedule must be invsqrt or constant, got %q", o.Optim.Schedule)
	case o.AdminInit != "profile" && o.AdminInit != "free":
		return usagef("--admin-init must be profile or free, got %q", o.AdminInit)
	case o.AdminInit == "free" && o.AdminProfile != "":
		return usagef("--admin-init free and --admin-profile both set ω; give one")
	case o.Dir == "":
		return usagef("--out must name a directory")
	}
	if o.Model.Norm != model.Admin && (o.AdminProfile != "" || o.AdminInit != "profile") {
		return usagef("--admin-profile and --admin-init need --norm admin")
	}
	return nil
}

func runTrain(args []string, stdout, stderr io.Writer) error {
	taskName := task.Of(args)
	resumeDir := argValue(args, "resume")
	var resumed *train.State
	var savedFlags map[string]savedFlag
	if resumeDir != "" {
		var err error
		if resumed, savedFlags, err = readResume(resumeDir); err != nil {
			return err
		}
		if argValue(args, "task") == "" {
			taskName = savedFlags["task"].Value
		}
	}
	synopsis := "Train a byte-level Transformer language model (--task lm, the default) or an\nencoder–decoder translator (--task translate). Writes DIR/metrics.jsonl,\nDIR/model.safetensors (every --save-every steps and at the end), for Admin\nDIR/admin_profile.json and, for translation, DIR/bpe.codes."
	fs := newFlags("train", synopsis, stdout)
	var mf modelFlags
	var o trainOpts
	mf.register(fs)
	o.register(fs)
	tasks := task.AddFlags(fs, taskName)
	overwrite := fs.Bool("overwrite", false, "replace a run already in --out (its checkpoints, metrics, profile and codes are removed first)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file (inspect with 'go tool pprof')")
	fs.IntVar(&o.CheckEvery, "check-every", 100, "under mpirun: compare a hash of the weights across ranks every N steps and at the end (0: at the end only)")
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
	kind, err := tasks.Check(fs, &mf.cfg)
	if err != nil {
		return err
	}
	cfg, err := mf.config()
	if err != nil {
		return err
	}
	o.Model = cfg
	if err := o.check(); err != nil {
		return err
	}
	o.SerialReduce = !*overlap
	if !(*bucketMB > 0 && *bucketMB <= 1<<20) {
		return usagef("--bucket-mb must be in (0, %d], got %g", 1<<20, *bucketMB)
	}
	o.BucketBytes = max(4, int(*bucketMB*(1<<20)))
	if o.CheckEvery < 0 {
		return usagef("--check-every must be ≥ 0, got %d", o.CheckEvery)
	}
	if parseOnly {
		return errParsedOnly
	}
	// Neither the run's files nor the CPU profile may be its inputs.
	texts := append([]string{o.Data}, kind.Inputs()...)
	if err := outputsNotInputs("out", o.Dir, runFile, texts...); err != nil {
		return err
	}
	if err := notInput("cpuprofile", *cpuprofile, append(append(withTxt(texts...), o.AdminProfile), kind.Keep()...)...); err != nil {
		return err
	}
	if err := o.joinJob(kind); err != nil {
		return err
	}
	o.RunInfo = runFlags(fs)
	// One run per directory, locked for the whole run (rundir.go); a
	// resumed run keeps its files.
	if resumed != nil {
		if o.Steps < resumed.Step {
			return usagef("--steps %d is below the step %d the run in %s has reached", o.Steps, resumed.Step, o.Dir)
		}
		o.Resume = resumed
	}
	release := func() {}
	switch {
	case !o.Rank0():
		// The other ranks write nothing: rank 0 locks the directory.
		o.Quiet = true
	case resumed != nil:
		release, err = lockRunDir(o.Dir)
	default:
		release, o.ClearOld, err = prepareRunDir(o.Dir, *overwrite, append([]string{o.AdminProfile}, kind.Keep()...)...)
	}
	if err != nil {
		return err
	}
	defer release()
	if resumed != nil && o.Rank0() {
		fmt.Fprintf(stdout, "clinic: resuming the run in %s at step %d of %d\n", o.Dir, resumed.Step, o.Steps)
	}
	if *cpuprofile != "" && o.Rank0() {
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
	o.cli(stdout, stderr)
	_, err = kind.Run(o.Job)
	return err
}

// world is the MPI job of 'clinic train' (nil before it ran, or for
// other commands); main finalizes it, or aborts the whole job on an
// error so that no rank waits for this one.
var world dist.Comm

// joinJob makes o a rank of the MPI job this process was started in,
// if any (dist.Init: a build without MPI started as one of several
// ranks refuses).
func (o *trainOpts) joinJob(kind task.Setup) error {
	c, err := dist.Init()
	if err != nil {
		return err
	}
	world = c
	if c.Size() == 1 {
		return nil
	}
	o.Comm = c
	if err := kind.Ranks(&o.Job, c.Size()); err != nil {
		return err
	}
	if o.Threads == 0 {
		// One thread per core of this node, shared among its ranks.
		o.Threads = max(1, runtime.GOMAXPROCS(0)/dist.LocalSize())
	}
	return nil
}

// parseOnly stops 'clinic train' once its flags are parsed and checked,
// returning errParsedOnly (the flag-parsing fuzz test sets it).
var (
	parseOnly     bool
	errParsedOnly = errors.New("flags parsed")
)

// cli makes the job a command's: progress and summary on stdout and
// stderr, stopped cleanly by SIGINT, SIGTERM or SIGHUP (resume.go).
func (o *trainOpts) cli(stdout, stderr io.Writer) {
	o.Stdout, o.Stderr = stdout, stderr
	if o.BeforeStep == nil {
		o.BeforeStep = testBeforeStep
	}
	resumable := o.RunInfo != nil
	o.Watch = func(dir string, w io.Writer) (<-chan struct{}, func(int) error, func()) {
		stop, which, done := watchSignals(w, dir)
		return stop, func(step int) error { return &signalStop{sig: which(), step: step, dir: dir, resumable: resumable} }, done
	}
}
