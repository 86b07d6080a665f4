package main

import (
	"bytes"
	"io"

	"github.com/clinic-ml/clinic/internal/rundir"
	"github.com/clinic-ml/clinic/internal/task"
)

// runAnalyzeSweep is 'clinic analyze sweep --task NAME': the depth sweep
// the task registered with itself (task.Sweeper). The model's and the
// training's flags, the sweep folder and the printing are the CLI's;
// the sweep's own flags, their checks and its runs are the task's.
func runAnalyzeSweep(args []string, stdout, stderr io.Writer) error {
	hook, err := task.LookupSweep(task.Of(args))
	if err != nil {
		return err
	}
	name, synopsis := hook.SweepUsage()
	fs := newFlags(name, synopsis, stdout)
	var mf modelFlags
	var o trainOpts
	var sf task.SweepFlags
	mf.register(fs)
	o.register(fs)
	o.sh.take(fs, "precision")
	setup := hook.SweepFlags(fs, &sf)
	var hidden []hiddenFlag
	for _, h := range setup.Hidden() {
		hidden = append(hidden, hiddenFlag{h.Name, h.Instead})
	}
	hideFlags(fs, hidden...)
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := checkHidden(fs, hidden...); err != nil {
		return err
	}
	if err := setup.Check(fs, &mf.cfg, &o.Job); err != nil {
		return err
	}
	depths, norms, err := sweepConfig(&mf, &o, sf.Depths, sf.Norms, mf.cfg.EncoderLayers > 0)
	if err != nil {
		return err
	}
	// Every run of the sweep trains at one precision, chosen once; the
	// line saying which is printed once the sweep's inputs and folder
	// are checked (an error stays one line).
	var precLine bytes.Buffer
	if err := o.ChoosePrecision(false, "", &precLine); err != nil {
		return err
	}
	s, err := setup.Sweep(o.sweep(depths, norms, sf.Continue, args, stderr))
	if err != nil {
		return err
	}
	if err := rundir.CheckReportDir(o.Dir, sf.Overwrite || sf.Continue, append([]string{o.Data}, s.Inputs()...)...); err != nil {
		return err
	}
	release, err := openSweepDir(fs, o.Dir, sf.Continue, sf.Overwrite, s.Keep()...)
	if err != nil {
		return err
	}
	defer release()
	stderr.Write(precLine.Bytes())
	return printSummary(stdout)(s.Run())
}
