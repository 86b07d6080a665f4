//go:build mpi

package train

import (
	"strings"
	"testing"
)

// The stopping rules stop every rank of a job after the same step:
// --max-epoch at the step one process stops at (it counts the global
// batches' tokens), --patience on the global validation loss.
func TestMPIStopRules(t *testing.T) {
	needRanks(t)
	n := world.Size()
	lm := shardLM(t, world.Rank(), n, 2*n, 0.1, 3)
	tr, err := New(lm, Options{Steps: 1000, EvalEvery: 7, Optim: adam(), Comm: world, Rules: StopRules{MaxEpoch: 1}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := tr.Run()
	if want := (5000 + 32*n - 1) / (32 * n); err != nil || res.Final.Step != want || !strings.HasPrefix(res.Stopped, "max-epoch 1 ") {
		t.Fatalf("rank %d: %v, stopped after step %d (%q), want %d", world.Rank(), err, res.Final.Step, res.Stopped, want)
	}
	lm = shardLM(t, world.Rank(), n, 2*n, 0.1, 3)
	o := adam()
	o.LR = 3e-2
	if tr, err = New(lm, Options{Steps: 200, EvalEvery: 1, Optim: o, Comm: world, Rules: StopRules{Patience: 1}}); err != nil {
		t.Fatal(err)
	}
	if res, err = tr.Run(); err != nil {
		t.Fatal(err)
	}
	t.Logf("rank %d: %s", world.Rank(), res.Stopped)
	sameOnAllRanks(t, "the step --patience stops at", float64(res.Final.Step))
}
