//go:build mpi

package train

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"testing"

	"github.com/clinic-ml/clinic/asm"
	"github.com/clinic-ml/clinic/internal/dist"
	"github.com/clinic-ml/clinic/model"
)

// The data-parallel tests run under mpirun:
//
//	go test -tags mpi -exec .ci/mpiexec -run MPI ./internal/train
//
// Outside mpirun (one rank) they skip.

var world dist.Comm

func TestMain(m *testing.M) {
	c, err := dist.Init()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	world = c
	code := m.Run()
	if code != 0 && c.Size() > 1 {
		c.Abort(code) // the other ranks may wait in a collective
	}
	c.Finalize()
	os.Exit(code)
}

func needRanks(t *testing.T) {
	if world.Size() < 2 {
		t.Skip("not under mpirun (go test -tags mpi -exec .ci/mpiexec)")
	}
	asm.SetThreads(1)
	t.Cleanup(func() { asm.SetThreads(0) })
}

// shardLM is rank's share (ranks > 1) or the whole (ranks = 1) of an LM
// of global batch batch, dropout as given.
func shardLM(t *testing.T, rank, ranks, batch int, dropout float32, seed uint64) *LM {
	t.Helper()
	text := bytes.Repeat([]byte("four score and seven years ago our fathers brought forth on this continent "), 80)
	cfg := model.Config{Layers: 2, DModel: 16, Heads: 2, DFF: 32, SeqLen: 16, Vocab: 256, Norm: model.PreLN,
		Dropout: dropout, AttnDropout: dropout, ActDropout: dropout, Activation: "relu", LNEps: 1e-5}
	lm, err := NewLM(LMConfig{Model: cfg, Batch: batch, EvalBatches: 2, Seed: seed, Train: text[:5000], Val: text[5000:],
		TrainName: "train", ValName: "val", Rank: rank, Ranks: ranks})
	if err != nil {
		t.Fatal(err)
	}
	return lm
}

func runLM(t *testing.T, lm *LM, comm dist.Comm, steps int, before func(int)) (*Result, error) {
	t.Helper()
	tr, err := New(lm, Options{Steps: steps, EvalEvery: steps, Optim: adam(), Comm: comm, CheckEvery: 1, BeforeStep: before})
	if err != nil {
		t.Fatal(err)
	}
	return tr.Run()
}

// relDiff is ‖a−b‖/‖b‖.
func relDiff(a, b []float32) float64 {
	var d, n float64
	for i := range a {
		d += float64(a[i]-b[i]) * float64(a[i]-b[i])
		n += float64(b[i]) * float64(b[i])
	}
	return math.Sqrt(d / n)
}

// A job of N ranks, dropout off, trains the weights one process
// trains on the same global batches, up to the order of the sums (the
// reduced gradients differ by ~2e-7 relative, float32 rounding; Adam's
// early steps, m/√v, amplify that for near-zero gradients, to ~1e-5
// after 8 steps, so 4 steps are compared); every
// rank ends with bit-identical weights; the losses (training and
// validation) are the global ones.
func TestMPIEquivalentToOneProcess(t *testing.T) {
	needRanks(t)
	const steps, batch = 4, 4
	n := world.Size()
	lm := shardLM(t, world.Rank(), n, batch*n, 0, 7)
	res, err := runLM(t, lm, world, steps, nil)
	if err != nil {
		t.Fatal(err)
	}
	one := shardLM(t, 0, 1, batch*n, 0, 7)
	ref, err := runLM(t, one, nil, steps, nil)
	if err != nil {
		t.Fatal(err)
	}
	dw, dg := relDiff(lm.P.W, one.P.W), relDiff(lm.P.G, one.P.G)
	if dw > 1e-5 || dg > 1e-6 {
		t.Fatalf("rank %d: weights differ from one process's by %.3g, the last gradients by %.3g (relative)", world.Rank(), dw, dg)
	}
	t.Logf("rank %d: ‖Δw‖/‖w‖ = %.3g, ‖Δg‖/‖g‖ = %.3g after %d steps", world.Rank(), dw, dg, steps)
	for _, c := range [][2]float64{{res.Final.Loss, ref.Final.Loss}, {res.Final.ValLoss, ref.Final.ValLoss}} {
		if math.Abs(c[0]-c[1]) > 1e-5*math.Abs(c[1]) {
			t.Fatalf("rank %d: loss %v, one process %v (final %+v vs %+v)", world.Rank(), c[0], c[1], res.Final, ref.Final)
		}
	}
	h := WeightsHash(lm.P.W)
	b := []float64{float64(h >> 32), float64(h & 0xffffffff)}
	r0 := append([]float64(nil), b...)
	if err := world.AllreduceSum64(b); err != nil {
		t.Fatal(err)
	}
	if b[0] != r0[0]*float64(n) || b[1] != r0[1]*float64(n) {
		t.Fatalf("rank %d: the weight hashes differ across ranks", world.Rank())
	}
}

// With dropout on, every rank still ends each step with bit-identical
// weights (checked by the trainer after every step), and the job trains
// what one process trains: each rank's shares draw the masks of their
// global positions.
func TestMPIRanksEqualWithDropout(t *testing.T) {
	needRanks(t)
	n := world.Size()
	lm := shardLM(t, world.Rank(), n, 4*n, 0.1, 3)
	const steps = 3
	res, err := runLM(t, lm, world, steps, nil)
	if err != nil {
		t.Fatal(err)
	}
	one := shardLM(t, 0, 1, 4*n, 0.1, 3)
	ref, err := runLM(t, one, nil, steps, nil)
	if err != nil {
		t.Fatal(err)
	}
	dw := relDiff(lm.P.W, one.P.W)
	if dw > 1e-5 || math.Abs(res.Final.Loss-ref.Final.Loss) > 1e-5*ref.Final.Loss {
		t.Fatalf("rank %d, dropout on: weights differ from one process's by %.3g, loss %v vs %v", world.Rank(), dw, res.Final.Loss, ref.Final.Loss)
	}
	t.Logf("rank %d, dropout on: ‖Δw‖/‖w‖ = %.3g after %d steps", world.Rank(), dw, steps)
}

// Run starts every rank from rank 0's weights, whatever the others
// held: the same job from untouched weights ends bit-identical.
func TestMPIBroadcastsInitialWeights(t *testing.T) {
	needRanks(t)
	n := world.Size()
	lm := shardLM(t, world.Rank(), n, 2*n, 0, 5)
	if world.Rank() != 0 {
		lm.P.Init(99) // not rank 0's
	}
	if _, err := runLM(t, lm, world, 2, nil); err != nil {
		t.Fatal(err)
	}
	ref := shardLM(t, world.Rank(), n, 2*n, 0, 5)
	if _, err := runLM(t, ref, world, 2, nil); err != nil {
		t.Fatal(err)
	}
	for i := range ref.P.W {
		if lm.P.W[i] != ref.P.W[i] {
			t.Fatalf("rank %d: weight %d is %v, %v from rank 0's initial weights", world.Rank(), i, lm.P.W[i], ref.P.W[i])
		}
	}
}

// Weights that drift apart on one rank stop the run, on every rank,
// with an error naming the step.
func TestMPIMismatchNamesStep(t *testing.T) {
	needRanks(t)
	n := world.Size()
	lm := shardLM(t, world.Rank(), n, 2*n, 0, 5)
	_, err := runLM(t, lm, world, 6, func(step int) {
		if step == 4 && world.Rank() == n-1 {
			lm.P.W[0] += 0.5
		}
	})
	var me *RankMismatchError
	if !errors.As(err, &me) || me.Step != 4 || me.Ranks != 1 {
		t.Fatalf("rank %d: want a mismatch after step 4 on 1 rank, got %v", world.Rank(), err)
	}
}

// Reducing each layer's gradients as soon as the backward pass has
// finished it trains what reducing them all after the pass trains:
// bit-identical with two ranks (a+b is b+a whatever the buckets), to
// rounding (amplified by Adam's first steps, as above) with more.
func TestMPIOverlapMatchesSerial(t *testing.T) {
	needRanks(t)
	n := world.Size()
	run := func(serial bool) *LM {
		lm := shardLM(t, world.Rank(), n, 2*n, 0.1, 11)
		tr, err := New(lm, Options{Steps: 4, EvalEvery: 4, Optim: adam(), Comm: world, CheckEvery: 1, SerialReduce: serial})
		if err != nil {
			t.Fatal(err)
		}
		if tr.overlap == serial {
			t.Fatalf("overlap %v with SerialReduce %v", tr.overlap, serial)
		}
		if _, err := tr.Run(); err != nil {
			t.Fatal(err)
		}
		return lm
	}
	a, b := run(false), run(true)
	d := relDiff(a.P.W, b.P.W)
	if (n == 2 && d != 0) || d > 1e-5 {
		t.Fatalf("rank %d: overlapped and serial reductions differ by %.3g", world.Rank(), d)
	}
}

// The ranges the LM reports cover each layer once and are contiguous.
func TestMPILayerRanges(t *testing.T) {
	needRanks(t)
	lm := shardLM(t, 0, 1, 2, 0, 1)
	r := layerRanges(lm.P, "decoder.layers.%d.", lm.cfg.Model.Layers)
	if len(r) != 2 || r[0][0] != len(lm.P.Embed.W) || r[0][1] != r[1][0] || r[1][1] > len(lm.P.W) {
		t.Fatalf("layer ranges %v (embedding %d, arena %d)", r, len(lm.P.Embed.W), len(lm.P.W))
	}
}
