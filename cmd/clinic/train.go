package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"

	"github.com/clinic-ml/clinic/internal/dist"
	"github.com/clinic-ml/clinic/internal/fileutil"
	"github.com/clinic-ml/clinic/internal/rundir"
	"github.com/clinic-ml/clinic/internal/task"
	"github.com/clinic-ml/clinic/internal/train"
)

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
	if err := outputsNotInputs("out", o.Dir, rundir.RunFile, texts...); err != nil {
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
		release, err = rundir.Lock(o.Dir)
	default:
		release, o.ClearOld, err = rundir.Prepare(o.Dir, *overwrite, append([]string{o.AdminProfile}, kind.Keep()...)...)
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
