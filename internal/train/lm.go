package train

import (
	"encoding/json"
	"fmt"
	"github.com/clinic-ml/clinic/asm"
	"maps"
	"strconv"
	"strings"

	"github.com/clinic-ml/clinic/admin"
	"github.com/clinic-ml/clinic/internal/data"
	"github.com/clinic-ml/clinic/model"
)

// LMTask is the language model's name: its --task, and the task its
// trainer state names.
const LMTask = "lm"

// LMConfig describes a byte-level language-modelling task.
type LMConfig struct {
	Model       model.Config
	Batch       int    // sequences per step
	EvalBatches int    // validation batches per evaluation (0: no validation)
	Seed        uint64 // weights, batches, dropout
	// Train and Val are the training and validation text; TrainName and
	// ValName say where they came from, for error messages.
	Train, Val         []byte
	TrainName, ValName string
	// Ranks, when above 1, makes this task rank Rank's share of a
	// data-parallel job (Trainer with Options.Comm): every rank draws
	// the same global batches of Batch sequences (training and
	// validation) and runs the model on its fixed, disjoint slice of
	// each, sequences [Rank·b, (Rank+1)·b) with b = Batch/Ranks, so the
	// data order is that of one process. Batch must be a multiple of
	// Ranks. The model draws the dropout masks of its sequences'
	// positions in the global batch (model.SetSeqOffset), so the masks,
	// like the data, are those of one process.
	Rank, Ranks int
	// Pool runs the model's kernels (nil: one thread); results are
	// bit-identical for any pool of the same width.
	Pool *asm.Pool
}

// local is the number of sequences of each batch this rank runs, and
// the first of them.
func (c LMConfig) local() (n, first int) {
	if c.Ranks <= 1 {
		return c.Batch, 0
	}
	n = c.Batch / c.Ranks
	return n, c.Rank * n
}

// LM is the byte-level language-modelling task: a decoder-only model
// trained on random windows of the training text, validated on the
// leading windows of the validation text.
type LM struct {
	P *model.Params
	M *model.Model

	cfg             LMConfig
	sampler         *data.Sampler
	eval            *data.Eval
	tokens, targets []int32 // the global batch
	// the rank's share of tokens and targets, its sequences
	ltok, ltgt []int32
	lb         int
	meta       map[string]string // checkpoint metadata beyond step and seed
	identity   map[string]string // what a resumed run must share (State)
}

// NewLM draws the model's initial weights from c.Seed and plans its
// buffers and batches.
func NewLM(c LMConfig) (*LM, error) {
	T := c.Model.SeqLen
	if c.Ranks > 1 && (c.Rank < 0 || c.Rank >= c.Ranks || c.Batch%c.Ranks != 0) {
		return nil, fmt.Errorf("the batch size %d must be a multiple of the number of ranks %d", c.Batch, c.Ranks)
	}
	sampler, err := data.NewSampler(c.Train, c.Batch, T, c.Seed)
	if err != nil {
		return nil, fmt.Errorf("training text (%s): %v", c.TrainName, err)
	}
	var eval *data.Eval
	if c.EvalBatches > 0 {
		if eval, err = data.NewEval(c.Val, c.Batch, T, c.EvalBatches); err != nil {
			return nil, fmt.Errorf("validation text (%s): %v", c.ValName, err)
		}
	}
	p, err := model.NewParams(c.Model)
	if err != nil {
		return nil, err
	}
	p.Init(c.Seed)
	lb, first := c.local()
	m, err := model.New(p, lb, c.Seed)
	if err != nil {
		return nil, err
	}
	m.SetPool(c.Pool)
	m.SetSeqOffset(first)
	n := c.Batch * T
	l := &LM{P: p, M: m, cfg: c, sampler: sampler, eval: eval,
		tokens: make([]int32, n), targets: make([]int32, n), lb: lb, meta: map[string]string{}}
	l.ltok, l.ltgt = l.tokens[first*T:(first+lb)*T], l.targets[first*T:(first+lb)*T]
	return l, nil
}

// profileSeed separates the profiling batch's sampler from the training
// sampler, so the training batches are the same whichever way ω was set.
const profileSeed = 0xad317

// ProfileAdmin runs Admin's profiling on one batch of training text
// (dropout on), as the reference does, leaving ω in the parameters. A
// rank's share of a job profiles the whole global batch, on a model
// planned for it for the occasion, so the profile is the one a single
// process computes (the CLI profiles on rank 0 and broadcasts it).
func (l *LM) ProfileAdmin() (*admin.Profile, error) {
	ps, err := data.NewSampler(l.cfg.Train, l.cfg.Batch, l.cfg.Model.SeqLen, l.cfg.Seed^profileSeed)
	if err != nil {
		return nil, fmt.Errorf("training text (%s): %v", l.cfg.TrainName, err)
	}
	ps.Next(l.tokens, l.targets)
	m := l.M
	if l.lb != l.cfg.Batch {
		if m, err = model.New(l.P, l.cfg.Batch, l.cfg.Seed); err != nil {
			return nil, err
		}
		m.SetPool(l.cfg.Pool)
	}
	return admin.Run(m, l.tokens, l.cfg.Batch, l.cfg.Model.SeqLen, l.cfg.Seed)
}

// SetAdminProfile sets ω from pr and records pr in the checkpoints.
func (l *LM) SetAdminProfile(pr *admin.Profile) error {
	if err := pr.Apply(l.P); err != nil {
		return fmt.Errorf("admin profile: %v", err)
	}
	b, err := json.Marshal(pr)
	if err != nil {
		return err
	}
	l.meta["admin_profile"] = string(b)
	return nil
}

// Params implements Task.
func (l *LM) Params() *model.Params { return l.P }

// Pool is the pool the task's model runs on.
func (l *LM) Pool() *asm.Pool { return l.cfg.Pool }

// TrainForward implements Task.
func (l *LM) TrainForward() (float64, int, error) {
	l.sampler.Next(l.tokens, l.targets)
	loss, err := l.M.Forward(l.ltok, l.ltgt, l.lb, l.cfg.Model.SeqLen, true)
	return loss, len(l.ltok), err
}

// Backward implements Task.
func (l *LM) Backward() error { return l.M.Backward() }

// ReportGrads implements GradReporter: layer j's gradients are final
// once the backward pass reaches layer j−1's FFN sublayer (each
// decoder layer is two sublayers, attention then FFN, run backward from
// the top); layer 0's, the embedding's and the final LayerNorm's only
// when Backward returns.
func (l *LM) ReportGrads(ready func(lo, hi int)) bool {
	if ready == nil {
		l.M.SublayerGrad = nil
		return true
	}
	ranges := layerRanges(l.P, "decoder.layers.%d.", l.cfg.Model.Layers)
	if ranges == nil {
		return false
	}
	l.M.SublayerGrad = func(k int, _ []float32) {
		if j := (k + 1) / 2; k%2 == 1 && j < len(ranges) {
			ready(ranges[j][0], ranges[j][1])
		}
	}
	return true
}

// layerRanges returns, for each of the layers named prefix (a format
// with the layer number), the range of the arena its tensors fill, or
// nil if a layer's tensors are not one contiguous run.
func layerRanges(p *model.Params, prefix string, layers int) [][2]int {
	out := make([][2]int, layers)
	for j := range out {
		out[j] = [2]int{-1, -1}
	}
	off := 0
	for _, q := range p.List {
		if len(q.W) > 0 && &q.W[0] != &p.W[off] {
			return nil
		}
		for j := range out {
			if strings.HasPrefix(q.Name, fmt.Sprintf(prefix, j)) {
				switch {
				case out[j][0] < 0:
					out[j] = [2]int{off, off + len(q.W)}
				case out[j][1] == off:
					out[j][1] += len(q.W)
				default:
					return nil
				}
			}
		}
		off += len(q.W)
	}
	for _, r := range out {
		if r[0] < 0 {
			return nil
		}
	}
	return out
}

// Evaluate implements Task: the mean loss in nats per byte over the
// validation batches (over the rank's share of each, for a share of a
// job: the shares are equal, the Trainer averages them).
func (l *LM) Evaluate() (float64, error) {
	if l.eval == nil {
		return 0, fmt.Errorf("this task was planned without validation batches")
	}
	var sum float64
	for i := 0; i < l.eval.Batches(); i++ {
		l.eval.Fill(i, l.tokens, l.targets)
		loss, err := l.M.Forward(l.ltok, l.ltgt, l.lb, l.cfg.Model.SeqLen, false)
		if err != nil {
			return 0, err
		}
		sum += loss
	}
	return sum / float64(l.eval.Batches()), nil
}

// SaveCheckpoint implements Task. The metadata holds the step, the seed
// and, for Admin, the profile.
func (l *LM) SaveCheckpoint(path string, step int) error {
	return model.SaveCheckpoint(path, l.P, l.CheckpointMeta(step))
}

// CheckpointMeta implements Resumable.
func (l *LM) CheckpointMeta(step int) map[string]string {
	meta := maps.Clone(l.meta)
	meta["step"] = strconv.Itoa(step)
	meta["seed"] = strconv.FormatUint(l.cfg.Seed, 10)
	return model.CheckpointMeta(l.P, meta)
}
