package main

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"strings"

	"github.com/clinic-ml/clinic/internal/dist"
	"github.com/clinic-ml/clinic/internal/fileutil"
	"github.com/clinic-ml/clinic/internal/rundir"
	"github.com/clinic-ml/clinic/internal/task"
	"github.com/clinic-ml/clinic/internal/train"
	"github.com/spf13/pflag"
)

func runTrain(args []string, stdout, stderr io.Writer) error {
	resumeDir := task.ArgValue(args, "resume")
	taskName := task.Of(args)
	var resumed *train.State
	var saved map[string]rundir.Flag
	if resumeDir != "" {
		var err error
		if resumed, saved, err = rundir.ReadResume(resumeDir); err != nil {
			return err
		}
		if task.ArgValue(args, "task") == "" {
			taskName = saved["task"].Value
		}
	}
	c := newTrainCmd(taskName, stdout)
	if err := parse(c.fs, args); err != nil {
		return err
	}
	givenPrecision := c.fs.Changed("precision")
	if resumed != nil {
		// Under mpirun, the ranks other than 0 print nothing.
		comm, err := dist.Init()
		if err := applyResume(c.fs, resumeDir, saved, err == nil && comm.Rank() != 0, stdout); err != nil {
			return err
		}
	}
	kind, err := c.check()
	if err != nil || parseOnly {
		return cmp.Or(err, errParsedOnly)
	}
	o := &c.o
	if err := c.gates(kind); err != nil {
		return err
	}
	if err := o.ChoosePrecision(resumed != nil && !givenPrecision, saved["precision"].Value, stdout); err != nil {
		return err
	}
	c.fs.Set("precision", o.Precision) // the trainer state keeps the choice as the flag's value
	o.RunInfo = runFlags(c.fs)
	if resumed != nil && o.Steps < resumed.Step {
		return usagef("--steps %d is below the step %d the run in %s has reached", o.Steps, resumed.Step, o.Dir)
	}
	o.Resume = resumed
	release, err := c.lock(kind)
	if err != nil {
		return err
	}
	defer release()
	if resumed != nil && o.Rank0() {
		fmt.Fprintf(stdout, "clinic: resuming the run in %s at step %d of %d\n", o.Dir, resumed.Step, o.Steps)
	}
	stop, err := c.startProfile()
	if err != nil {
		return err
	}
	defer stop()
	o.cli(stdout, stderr)
	_, err = kind.Run(o.Job)
	return err
}

// trainCmd is 'clinic train': its flags, and what they fill.
type trainCmd struct {
	fs                 *pflag.FlagSet
	mf                 modelFlags
	o                  trainOpts
	tasks              *task.Flags
	overwrite, overlap *bool
	cpuprofile         *string
	bucketMB           *float64
}

func newTrainCmd(taskName string, stdout io.Writer) *trainCmd {
	synopsis := "Train a byte-level Transformer language model (--task lm, the default) or an\nencoder–decoder translator (--task translate). Writes DIR/metrics.jsonl,\nDIR/model.safetensors (every --save-every steps and at the end), for Admin\nDIR/admin_profile.json and, for translation, DIR/bpe.codes."
	c := &trainCmd{fs: newFlags("train", synopsis, stdout)}
	fs := c.fs
	c.mf.register(fs)
	c.o.register(fs)
	c.o.sh.take(fs, "precision")
	c.tasks = task.AddFlags(fs, taskName)
	c.overwrite = fs.Bool("overwrite", false, "replace a run already in --out (its checkpoints, metrics, profile and codes are removed first)")
	c.cpuprofile = fs.String("cpuprofile", "", "write a CPU profile of the run to this file (inspect with 'go tool pprof')")
	fs.IntVar(&c.o.CheckEvery, "check-every", 100, "under mpirun: compare a hash of the weights across ranks every N steps and at the end (0: at the end only)")
	c.overlap = fs.Bool("overlap", true, "under mpirun: reduce the layers' gradients while the backward pass goes on, as soon as they fill a bucket (false: all after the pass)")
	c.bucketMB = fs.Float64("bucket-mb", 25, "under mpirun: gradient MB per allreduce (PyTorch DDP's bucket_cap_mb); consecutive finished layers are merged up to it")
	fs.String("resume", "", "continue the run in this directory from its last checkpoint, exactly (only --"+strings.Join(resumeMayChange, ", --")+" may change)")
	return c
}

// check checks the flags once parsed and returns the task they run.
func (c *trainCmd) check() (task.Setup, error) {
	kind, err := c.tasks.Check(c.fs, &c.mf.cfg)
	if err != nil {
		return nil, err
	}
	o := &c.o
	if o.Model, err = c.mf.config(); err != nil {
		return nil, err
	}
	if err := o.check(); err != nil {
		return nil, err
	}
	o.SerialReduce = !*c.overlap
	if !(*c.bucketMB > 0 && *c.bucketMB <= 1<<20) {
		return nil, usagef("--bucket-mb must be in (0, %d], got %g", 1<<20, *c.bucketMB)
	}
	o.BucketBytes = max(4, int(*c.bucketMB*(1<<20)))
	if o.CheckEvery < 0 {
		return nil, usagef("--check-every must be ≥ 0, got %d", o.CheckEvery)
	}
	return kind, nil
}

// gates refuses a run whose files or CPU profile are its inputs, and
// joins the MPI job.
func (c *trainCmd) gates(kind task.Setup) error {
	o := &c.o
	texts := append([]string{o.Data}, kind.Inputs()...)
	if err := rundir.OutputsNotInputs("out", o.Dir, rundir.RunFile, texts...); err != nil {
		return err
	}
	if err := rundir.NotInput("cpuprofile", *c.cpuprofile, append(append(rundir.WithTxt(texts...), o.AdminProfile), kind.Keep()...)...); err != nil {
		return err
	}
	return o.joinJob(kind)
}

// lock takes the run directory for the whole run (internal/rundir): a
// resumed run keeps its files; the ranks other than 0 write nothing.
func (c *trainCmd) lock(kind task.Setup) (release func(), err error) {
	o := &c.o
	switch {
	case !o.Rank0():
		o.Quiet = true
		return func() {}, nil
	case o.Resume != nil:
		release, err = rundir.Lock(o.Dir)
	default:
		release, o.ClearOld, err = rundir.Prepare(o.Dir, *c.overwrite, append([]string{o.AdminProfile}, kind.Keep()...)...)
	}
	return release, err
}

// startProfile starts --cpuprofile (rank 0) and returns what stops it.
func (c *trainCmd) startProfile() (func(), error) {
	if *c.cpuprofile == "" || !c.o.Rank0() {
		return func() {}, nil
	}
	// os.Create would block on a FIFO and truncate a device.
	f, err := fileutil.OpenWrite(*c.cpuprofile, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %v", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile %s: %v", *c.cpuprofile, err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
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
	if err := kind.Ranks(&o.Job, c.Size()); err != nil {
		return err
	}
	o.Join(c)
	return nil
}

// parseOnly stops 'clinic train' once its flags are parsed and checked,
// returning errParsedOnly (the flag-parsing fuzz test sets it).
var (
	parseOnly     bool
	errParsedOnly = errors.New("flags parsed")
)
