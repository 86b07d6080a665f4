// Package dist is clinic's thin layer over MPI for data-parallel
// training: one communicator of Size ranks that reduce and broadcast
// float32 buffers.
//
// The default build has no MPI and no cgo: Init returns Single, one
// process of size 1 whose collectives do nothing, so the trainer has
// one code path. Built with the mpi tag (cgo, Open MPI or MPICH found
// through pkg-config), Init starts MPI when the process was launched by
// mpirun (or srun); without a launcher it also returns Single.
package dist

import (
	"fmt"
	"os"
	"strconv"
)

// Comm is a communicator over every rank of the job. Each collective
// must be called by every rank, in the same order, with buffers of the
// same length; they return when this rank's part is done.
type Comm interface {
	Rank() int // 0 … Size()-1
	Size() int
	// AllreduceSum replaces buf, on every rank, by the element-wise sum
	// over the ranks; AllreduceMean by the mean (the sum times 1/Size,
	// computed alike on every rank, so the results are bit-identical).
	AllreduceSum(buf []float32) error
	AllreduceMean(buf []float32) error
	// AllreduceSum64 is AllreduceSum for float64 (losses, token counts).
	AllreduceSum64(buf []float64) error
	// StartAllreduceSum starts AllreduceSum(buf) and returns at once;
	// wait returns when it is done (buf must not be touched until then).
	// Collectives run in the order they were started or called, so
	// every rank must start the same ones in the same order. It lets the
	// gradients of the upper layers be reduced while the backward pass
	// still runs through the lower ones.
	StartAllreduceSum(buf []float32) (wait func() error)
	// Broadcast copies rank 0's buf into every rank's buf.
	Broadcast(buf []float32) error
	// BroadcastBytes returns rank 0's b on every rank (the others' b is
	// ignored).
	BroadcastBytes(b []byte) ([]byte, error)
	Barrier() error
	// Abort ends every rank of the job with code; it does not return.
	Abort(code int)
	// Finalize shuts the communicator down at the end of a run; no call
	// may follow.
	Finalize() error
	// Name says what this is, for messages ("single process", "Open MPI
	// …").
	Name() string
}

// Single is the communicator of one process: rank 0 of 1. Its
// collectives leave their buffers as they are.
type Single struct{}

func (Single) Rank() int                                { return 0 }
func (Single) Size() int                                { return 1 }
func (Single) AllreduceSum([]float32) error             { return nil }
func (Single) AllreduceMean([]float32) error            { return nil }
func (Single) AllreduceSum64([]float64) error           { return nil }
func (Single) StartAllreduceSum([]float32) func() error { return noWait }
func (Single) Broadcast([]float32) error                { return nil }
func (Single) BroadcastBytes(b []byte) ([]byte, error)  { return b, nil }
func (Single) Barrier() error                           { return nil }
func (Single) Abort(code int)                           { os.Exit(code) }
func (Single) Finalize() error                          { return nil }
func (Single) Name() string                             { return "single process" }

// launcherSize is the job size an MPI launcher announced in the
// environment (Open MPI's mpirun, PMI launchers such as MPICH's Hydra
// and Slurm's srun), 0 when there is none.
func launcherSize() int {
	for _, v := range []string{"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS"} {
		if s := os.Getenv(v); s != "" {
			if n, err := strconv.Atoi(s); err == nil && n > 0 {
				return n
			}
		}
	}
	return 0
}

// errNoMPI is the refusal of a build without MPI started as one of
// several ranks.
func errNoMPI(n int) error {
	return fmt.Errorf("started as one of %d MPI ranks, but this clinic was built without MPI: build it with 'go build -tags mpi ./cmd/clinic' (needs cgo and an MPI library found by pkg-config)", n)
}

func noWait() error { return nil }

// chunk is the largest count one MPI call is given (its counts are C
// ints).
const chunk = 1 << 28

// LocalSize is the number of ranks the launcher started on this node
// (1 when it does not say).
func LocalSize() int {
	for _, v := range []string{"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS"} {
		if n, err := strconv.Atoi(os.Getenv(v)); err == nil && n > 0 {
			return n
		}
	}
	return 1
}
