//go:build !mpi

package dist

import (
	"strings"
	"testing"
)

// A build without MPI started as one of several ranks refuses; as the
// only rank, or without a launcher, it is a single process.
func TestInitWithoutMPI(t *testing.T) {
	clearLauncher(t)
	t.Setenv("OMPI_COMM_WORLD_SIZE", "2")
	if _, err := Init(); err == nil || !strings.Contains(err.Error(), "one of 2 MPI ranks") {
		t.Fatalf("under mpirun -np 2: %v", err)
	}
	for _, n := range []string{"1", ""} {
		t.Setenv("OMPI_COMM_WORLD_SIZE", n)
		c, err := Init()
		if err != nil || c.Size() != 1 {
			t.Fatalf("OMPI_COMM_WORLD_SIZE=%q: %v, %v", n, c, err)
		}
	}
}
