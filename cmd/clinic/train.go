package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/clinic-ml/clinic/admin"
	"github.com/clinic-ml/clinic/asm"
	"github.com/clinic-ml/clinic/internal/data"
	"github.com/clinic-ml/clinic/internal/metrics"
	"github.com/clinic-ml/clinic/internal/optim"
	"github.com/clinic-ml/clinic/internal/progress"
	"github.com/clinic-ml/clinic/model"
)

// trainOpts is everything a training run depends on.
type trainOpts struct {
	cfg                               model.Config
	steps, batch, warmup              int
	evalEvery, evalBatches, saveEvery int
	threads                           int
	lr, weightDecay, clip, valFrac    float64
	beta1, beta2, eps                 float64
	optimizer, schedule               string
	seed                              uint64
	dataPath, out                     string
	adminProfile, adminInit           string
	quiet                             bool // no progress output (sweeps)

	// beforeStep, when set, runs before each step's forward pass (tests
	// use it to make a run diverge).
	beforeStep func(step int, p *model.Params)
}

func (o *trainOpts) register(fs interface {
	IntVar(*int, string, int, string)
	Float64Var(*float64, string, float64, string)
	StringVar(*string, string, string, string)
	Uint64Var(*uint64, string, uint64, string)
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
	fs.Float64Var(&o.valFrac, "val-frac", 0.01, "fraction of the text, at its end, held out for validation")
	fs.Uint64Var(&o.seed, "seed", 1, "random seed (weights, batches, dropout)")
	fs.IntVar(&o.threads, "threads", 0, "worker threads (0: one per CPU)")
	fs.StringVar(&o.dataPath, "data", "", "UTF-8 text file or folder of .txt files (default: built-in corpus)")
	fs.StringVar(&o.out, "out", "runs/latest", "run directory for metrics.jsonl and checkpoints")
	fs.StringVar(&o.adminProfile, "admin-profile", "", "Admin: load ω from this profile instead of profiling")
	fs.StringVar(&o.adminInit, "admin-init", "profile", "Admin: profile (one batch) or free (admin-torch's profiling-free ω)")
}

func (o *trainOpts) check() error {
	for _, c := range []struct {
		name string
		v    int
	}{{"steps", o.steps}, {"batch-size", o.batch}, {"eval-every", o.evalEvery}, {"eval-batches", o.evalBatches}} {
		if err := checkPositive(c.name, c.v); err != nil {
			return err
		}
	}
	switch {
	case o.warmup < 0:
		return usagef("--warmup must be ≥ 0, got %d", o.warmup)
	case o.saveEvery < 0:
		return usagef("--save-every must be ≥ 0, got %d", o.saveEvery)
	case o.threads < 0:
		return usagef("--threads must be ≥ 0, got %d", o.threads)
	case !(o.lr > 0) || math.IsInf(o.lr, 0):
		return usagef("--lr must be positive, got %g", o.lr)
	case !(o.valFrac > 0 && o.valFrac < 1):
		return usagef("--val-frac must be in (0,1), got %g", o.valFrac)
	case !(o.clip >= 0):
		return usagef("--clip must be ≥ 0, got %g", o.clip)
	case !(o.weightDecay >= 0):
		return usagef("--weight-decay must be ≥ 0, got %g", o.weightDecay)
	case !(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1):
		return usagef("--beta1 and --beta2 must be in [0,1)")
	case !(o.eps > 0):
		return usagef("--adam-eps must be positive, got %g", o.eps)
	case o.optimizer != "adam" && o.optimizer != "radam":
		return usagef("--optimizer must be adam or radam, got %q", o.optimizer)
	case o.schedule != "invsqrt" && o.schedule != "constant":
		return usagef("--schedule must be invsqrt or constant, got %q", o.schedule)
	case o.adminInit != "profile" && o.adminInit != "free":
		return usagef("--admin-init must be profile or free, got %q", o.adminInit)
	case o.out == "":
		return usagef("--out must name a directory")
	}
	if o.cfg.Norm != model.Admin && (o.adminProfile != "" || o.adminInit != "profile") {
		return usagef("--admin-profile and --admin-init need --norm admin")
	}
	return nil
}

func runTrain(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("train", "Train a byte-level Transformer language model. Writes DIR/metrics.jsonl,\nDIR/model.safetensors (every --save-every steps and at the end) and, for Admin,\nDIR/admin_profile.json.", stdout)
	var mf modelFlags
	var o trainOpts
	mf.register(fs)
	o.register(fs)
	overwrite := fs.Bool("overwrite", false, "replace a run already in --out")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := mf.config()
	if err != nil {
		return err
	}
	o.cfg = cfg
	if err := o.check(); err != nil {
		return err
	}
	if !*overwrite {
		for _, f := range []string{"model.safetensors", "metrics.jsonl"} {
			if _, err := os.Stat(filepath.Join(o.out, f)); err == nil {
				return usagef("%s already holds a run (%s); pass --overwrite to replace it, or --out to start another", o.out, f)
			}
		}
	}
	_, err = train(o, stdout, stderr)
	return err
}

// point is one evaluation of a run.
type point struct {
	Step    int     `json:"step"`
	Loss    float64 `json:"loss"`
	ValLoss float64 `json:"val_loss"`
}

type trainResult struct {
	curve    []point
	final    point
	diverged bool // the loss became NaN or infinite
	failStep int
}

// train runs one training job. Progress goes to stderr, the summary to
// stdout.
func train(o trainOpts, stdout, stderr io.Writer) (*trainResult, error) {
	asm.SetThreads(o.threads)
	text, source, err := loadText(o.dataPath)
	if err != nil {
		return nil, err
	}
	trainText, valText := data.Split(text, o.valFrac)
	cfg := o.cfg
	sampler, err := data.NewSampler(trainText, o.batch, cfg.SeqLen, o.seed)
	if err != nil {
		return nil, fmt.Errorf("training text (%s): %v", source, err)
	}
	eval, err := data.NewEval(valText, o.batch, cfg.SeqLen, o.evalBatches)
	if err != nil {
		return nil, fmt.Errorf("validation text (last %g of %s, %d bytes): %v", o.valFrac, source, len(valText), err)
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return nil, fmt.Errorf("run directory: %v", err)
	}
	p, err := model.NewParams(cfg)
	if err != nil {
		return nil, err
	}
	p.Init(o.seed)
	m, err := model.New(p, o.batch, o.seed)
	if err != nil {
		return nil, err
	}
	n := o.batch * cfg.SeqLen
	tokens, targets := make([]int32, n), make([]int32, n)
	meta := map[string]string{}
	if cfg.Norm == model.Admin {
		var pr *admin.Profile
		switch {
		case o.adminProfile != "":
			if pr, err = admin.Load(o.adminProfile); err != nil {
				return nil, err
			}
		case o.adminInit == "free":
			pr = admin.Free(cfg)
		default:
			// Profile on one batch of training text, as the reference
			// does; a sampler of its own keeps the training batches the
			// same whichever way ω was set.
			ps, _ := data.NewSampler(trainText, o.batch, cfg.SeqLen, o.seed^0xad317)
			ps.Next(tokens, targets)
			if pr, err = admin.Run(m, tokens, o.batch, cfg.SeqLen, o.seed); err != nil {
				return nil, err
			}
		}
		if err := pr.Apply(p); err != nil {
			return nil, fmt.Errorf("admin profile: %v", err)
		}
		if err := pr.Save(filepath.Join(o.out, "admin_profile.json")); err != nil {
			return nil, fmt.Errorf("saving admin profile: %v", err)
		}
		meta["admin_profile"] = profileJSON(pr)
	}

	var decay []bool
	var ws, gs [][]float32
	for _, q := range p.List {
		ws, gs, decay = append(ws, q.W), append(gs, q.G), append(decay, q.Decay)
	}
	opt, err := optim.New(optim.Config{Name: o.optimizer, LR: o.lr, Beta1: o.beta1, Beta2: o.beta2, Eps: o.eps,
		WeightDecay: o.weightDecay, Warmup: o.warmup, Schedule: o.schedule, Clip: o.clip}, ws)
	if err != nil {
		return nil, usageError{err.Error()}
	}
	if err := opt.SetDecayMask(decay); err != nil {
		return nil, err
	}

	mw, err := metrics.Create(filepath.Join(o.out, "metrics.jsonl"))
	if err != nil {
		return nil, err
	}
	defer mw.Close()
	ckpt := filepath.Join(o.out, "model.safetensors")
	save := func(step int) error {
		meta["step"] = strconv.Itoa(step)
		meta["seed"] = strconv.FormatUint(o.seed, 10)
		return model.SaveCheckpoint(ckpt, p, meta)
	}

	var bar *progress.Bar
	if !o.quiet {
		fmt.Fprintf(stdout, "clinic: %s %d layers d%d h%d ff%d, %.2fM parameters, %d×%d bytes/step from %s (%d train, %d validation bytes), %d threads, kernels %s\n",
			cfg.Norm, cfg.Layers, cfg.DModel, cfg.Heads, cfg.DFF, float64(cfg.ParamCount())/1e6, o.batch, cfg.SeqLen, source,
			len(trainText), len(valText), asm.Threads(), asm.CPULevel())
		if f, ok := stderr.(*os.File); ok {
			bar = progress.New(stderr, o.steps, progress.IsTerminal(f))
		} else {
			bar = progress.New(stderr, o.steps, false)
		}
		bar.Every = max(1, o.evalEvery/4)
	}

	res := &trainResult{}
	prev := make([]float32, len(p.W))
	valLoss := math.NaN()
	lastTime, lastStep := time.Now(), 0
	tokPerSec := 0.0
	for step := 1; step <= o.steps; step++ {
		sampler.Next(tokens, targets)
		if o.beforeStep != nil {
			o.beforeStep(step, p)
		}
		p.ZeroGrad()
		loss, err := m.Forward(tokens, targets, o.batch, cfg.SeqLen, true)
		if err != nil {
			return nil, err
		}
		bad := math.IsNaN(loss) || math.IsInf(loss, 0)
		var gnorm float64
		if !bad {
			if err := m.Backward(); err != nil {
				return nil, err
			}
			gnorm = optim.GradNorm(gs)
			bad = math.IsNaN(gnorm) || math.IsInf(gnorm, 0)
		}
		if bad {
			res.diverged, res.failStep = true, step
			mw.Write(map[string]any{"step": step, "loss": loss, "grad_norm": gnorm, "diverged": true}) // metrics spells non-finite values as strings
			msg := fmt.Sprintf("training diverged at step %d (loss %v, gradient norm %v)", step, loss, gnorm)
			if step > 1 {
				// prev holds the weights step-1 trained on, whose loss was
				// finite.
				copy(p.W, prev)
				if err := save(step - 2); err != nil {
					return res, fmt.Errorf("%s; saving the last good weights failed: %v", msg, err)
				}
				msg += fmt.Sprintf("; the weights of step %d (the last finite loss) are in %s", step-1, ckpt)
			}
			if bar != nil {
				bar.Finish()
			}
			if o.quiet {
				return res, nil
			}
			return res, fmt.Errorf("%s", msg)
		}
		copy(prev, p.W)
		lr := opt.StepNorm(gs, gnorm) // clips to o.clip first

		rec := map[string]any{"step": step, "loss": loss, "lr": lr, "grad_norm": gnorm}
		if step%o.evalEvery == 0 || step == o.steps {
			valLoss, err = evaluate(m, eval, tokens, targets, o.batch, cfg.SeqLen)
			if err != nil {
				return nil, err
			}
			rec["val_loss"] = valLoss
			res.curve = append(res.curve, point{step, loss, valLoss})
			now := time.Now()
			tokPerSec = float64((step-lastStep)*n) / now.Sub(lastTime).Seconds()
			lastTime, lastStep = now, step
			rec["tokens_per_s"] = math.Round(tokPerSec)
		}
		res.final = point{step, loss, valLoss}
		if err := mw.Write(rec); err != nil {
			return nil, err
		}
		if bar != nil {
			st := fmt.Sprintf("loss %.3f", loss)
			if !math.IsNaN(valLoss) {
				st += fmt.Sprintf(" val %.3f", valLoss)
			}
			if tokPerSec > 0 {
				st += fmt.Sprintf(" %.0f tok/s", tokPerSec)
			}
			bar.Update(step, st)
		}
		if o.saveEvery > 0 && step%o.saveEvery == 0 && step != o.steps {
			if err := save(step); err != nil {
				return nil, err
			}
		}
	}
	if err := save(o.steps); err != nil {
		return nil, err
	}
	if bar != nil {
		bar.Finish()
		fmt.Fprintf(stdout, "clinic: step %d: train loss %.4f, validation loss %.4f nats/byte; checkpoint %s\n",
			o.steps, res.final.Loss, res.final.ValLoss, ckpt)
	}
	return res, nil
}

// evaluate returns the mean validation loss in nats per byte, dropout off.
func evaluate(m *model.Model, e *data.Eval, tokens, targets []int32, bsz, t int) (float64, error) {
	var sum float64
	for i := 0; i < e.Batches(); i++ {
		e.Fill(i, tokens, targets)
		l, err := m.Forward(tokens, targets, bsz, t, false)
		if err != nil {
			return 0, err
		}
		sum += l
	}
	return sum / float64(e.Batches()), nil
}
