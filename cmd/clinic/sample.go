package main

import (
	"fmt"
	"io"
	"math"

	"github.com/clinic-ml/clinic/internal/limits"
	"github.com/clinic-ml/clinic/internal/rundir"
	"github.com/clinic-ml/clinic/internal/task/lm"
)

func runSample(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("sample", "Generate text from a checkpoint, byte by byte.", stdout)
	ckpt := fs.String("checkpoint", "runs/latest/model.safetensors", "checkpoint to load")
	prompt := fs.String("prompt", "The ", "text to continue")
	length := fs.Int("length", 200, "bytes to generate")
	temp := fs.Float64("temperature", 0.8, "sampling temperature (0: greedy)")
	topK := fs.Int("top-k", 40, "sample among the k most likely bytes (0: all)")
	seed := fs.Uint64("seed", 1, "random seed")
	var sh shared
	sh.take(fs, "threads")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := limits.CheckSize("length", *length, 0, limits.MaxLength); err != nil {
		return err
	}
	switch {
	case !(*temp >= 0) || math.IsInf(*temp, 0):
		return usagef("--temperature must be ≥ 0, got %g", *temp)
	case *topK < 0:
		return usagef("--top-k must be ≥ 0, got %d", *topK)
	case limits.CheckThreads(sh.threads) != nil:
		return limits.CheckThreads(sh.threads)
	case *prompt == "":
		return usagef("--prompt must not be empty")
	}
	if err := rundir.StdoutNotInput(stdout, *ckpt); err != nil {
		return err
	}
	pool, err := sh.pool()
	if err != nil {
		return err
	}
	defer pool.Close()
	out, err := lm.Sample(*ckpt, []byte(*prompt), *length, *temp, *topK, *seed, pool)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s\n", out)
	return nil
}
