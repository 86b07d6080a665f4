// Package bench holds the whole-step benchmarks: BenchmarkTrainStep
// (tokens per second and peak memory of the training step that 'clinic
// train' runs), BenchmarkStepPhases (where the step's time goes) and
// BenchmarkThreadSpeedup (the speedup over one thread, from steps paired
// in one process), and, beside them, compare.sh and torch_step.py, the
// PyTorch twin they are compared with. Kernel benchmarks live with the
// kernels in asm/.
package bench
