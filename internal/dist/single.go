//go:build !mpi

package dist

// Built is whether this build can run across MPI ranks.
const Built = false

// Init returns the communicator of this process: Single, or an error
// when an MPI launcher started several ranks of this build, which has
// no MPI (they would each train alone on the whole data).
func Init() (Comm, error) {
	if n := launcherSize(); n > 1 {
		return nil, errNoMPI(n)
	}
	return Single{}, nil
}
