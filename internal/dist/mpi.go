//go:build mpi

package dist

/*
#cgo pkg-config: ompi
#include <stdlib.h>
#include <mpi.h>

// Open MPI spells MPI_COMM_WORLD and the datatypes as addresses of
// globals, which cgo cannot name: small wrappers do.
static int clinic_init(int want, int *got) {
	int inited = 0;
	MPI_Initialized(&inited);
	if (inited) { return MPI_Query_thread(got); }
	return MPI_Init_thread(NULL, NULL, want, got);
}
static int clinic_funneled(void) { return MPI_THREAD_FUNNELED; }
static int clinic_rank(int *r) { return MPI_Comm_rank(MPI_COMM_WORLD, r); }
static int clinic_size(int *s) { return MPI_Comm_size(MPI_COMM_WORLD, s); }
static int clinic_sum_f32(float *buf, int n) {
	return MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
}
static int clinic_sum_f64(double *buf, int n) {
	return MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
}
static int clinic_bcast_f32(float *buf, int n) { return MPI_Bcast(buf, n, MPI_FLOAT, 0, MPI_COMM_WORLD); }
static int clinic_bcast_bytes(void *buf, int n) { return MPI_Bcast(buf, n, MPI_BYTE, 0, MPI_COMM_WORLD); }
static int clinic_bcast_len(long long *n) { return MPI_Bcast(n, 1, MPI_LONG_LONG, 0, MPI_COMM_WORLD); }
static int clinic_barrier(void) { return MPI_Barrier(MPI_COMM_WORLD); }
static int clinic_abort(int code) { return MPI_Abort(MPI_COMM_WORLD, code); }
static int clinic_finalize(void) { return MPI_Finalize(); }
static void clinic_version(char *s, int *n) { MPI_Get_library_version(s, n); }
static int clinic_max_version(void) { return MPI_MAX_LIBRARY_VERSION_STRING; }
*/
import "C"

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// Built is whether this build can run across MPI ranks.
const Built = true

// Threading. Go runs a goroutine on whichever OS thread is free, and
// MPI ties its threading levels to OS threads. Rather than ask for
// MPI_THREAD_MULTIPLE (slower in most MPI libraries, and not every
// transport offers it), every MPI call of the process runs on one
// goroutine locked to the OS thread that called MPI_Init_thread: the
// callers hand it their request and wait. That is exactly what
// MPI_THREAD_FUNNELED allows, the level requested. A request costs a
// channel round trip (about a microsecond), nothing beside a
// collective over megabytes.

type mpiComm struct {
	rank, size int
	name       string

	mu   sync.Mutex // guards dead and the order of requests
	req  chan *request
	dead bool // finalized
}

// request is one MPI call for the MPI thread; done receives its return
// code.
type request struct {
	f    func() C.int
	done chan C.int
}

// queued is how many requests may wait for the MPI thread: more than
// the buckets of one step.
const queued = 4096

var (
	initOnce sync.Once
	theComm  Comm
	initErr  error
)

// Init returns the communicator of the job: MPI's world when an MPI
// launcher started this process, else Single (an MPI build run on its
// own trains as one process). It may be called more than once; MPI is
// initialized once.
func Init() (Comm, error) {
	initOnce.Do(func() {
		if launcherSize() == 0 {
			theComm = Single{}
			return
		}
		theComm, initErr = initMPI()
	})
	return theComm, initErr
}

func initMPI() (*mpiComm, error) {
	c := &mpiComm{req: make(chan *request, queued)}
	started := make(chan error)
	go func() {
		runtime.LockOSThread() // for the life of the process
		var got C.int
		if rc := C.clinic_init(C.clinic_funneled(), &got); rc != 0 {
			started <- fmt.Errorf("MPI_Init_thread failed (error %d)", rc)
			return
		}
		if got < C.clinic_funneled() {
			started <- fmt.Errorf("MPI offers thread level %d, below MPI_THREAD_FUNNELED", got)
			return
		}
		var r, s C.int
		C.clinic_rank(&r)
		C.clinic_size(&s)
		c.rank, c.size = int(r), int(s)
		buf := make([]byte, int(C.clinic_max_version())+1)
		var n C.int
		C.clinic_version((*C.char)(unsafe.Pointer(&buf[0])), &n)
		c.name = strings.TrimSpace(strings.SplitN(string(buf[:n]), ",", 2)[0])
		started <- nil
		for r := range c.req {
			r.done <- r.f()
		}
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return c, nil
}

// call runs f on the MPI thread, after every request before it.
func (c *mpiComm) call(what string, f func() C.int) error {
	return c.start(what, f)()
}

// start queues f for the MPI thread and returns a wait for its result.
func (c *mpiComm) start(what string, f func() C.int) (wait func() error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dead {
		return func() error { return fmt.Errorf("MPI %s after MPI_Finalize", what) }
	}
	r := &request{f: f, done: make(chan C.int, 1)}
	c.req <- r
	return func() error {
		if rc := <-r.done; rc != 0 {
			return fmt.Errorf("MPI %s failed (error %d)", what, rc)
		}
		return nil
	}
}

func (c *mpiComm) Rank() int    { return c.rank }
func (c *mpiComm) Size() int    { return c.size }
func (c *mpiComm) Name() string { return c.name }

func (c *mpiComm) AllreduceSum(buf []float32) error {
	for len(buf) > 0 {
		n := min(len(buf), chunk)
		p := &buf[0]
		if err := c.call("allreduce", func() C.int { return C.clinic_sum_f32((*C.float)(unsafe.Pointer(p)), C.int(n)) }); err != nil {
			return err
		}
		buf = buf[n:]
	}
	return nil
}

func (c *mpiComm) StartAllreduceSum(buf []float32) func() error {
	var waits []func() error
	for len(buf) > 0 {
		n := min(len(buf), chunk)
		p := &buf[0]
		waits = append(waits, c.start("allreduce", func() C.int { return C.clinic_sum_f32((*C.float)(unsafe.Pointer(p)), C.int(n)) }))
		buf = buf[n:]
	}
	return func() error {
		var err error
		for _, w := range waits {
			if e := w(); e != nil && err == nil {
				err = e
			}
		}
		return err
	}
}

func (c *mpiComm) AllreduceMean(buf []float32) error {
	if err := c.AllreduceSum(buf); err != nil {
		return err
	}
	s := 1 / float32(c.size)
	for i := range buf {
		buf[i] *= s
	}
	return nil
}

func (c *mpiComm) AllreduceSum64(buf []float64) error {
	for len(buf) > 0 {
		n := min(len(buf), chunk)
		p := &buf[0]
		if err := c.call("allreduce", func() C.int { return C.clinic_sum_f64((*C.double)(unsafe.Pointer(p)), C.int(n)) }); err != nil {
			return err
		}
		buf = buf[n:]
	}
	return nil
}

func (c *mpiComm) Broadcast(buf []float32) error {
	for len(buf) > 0 {
		n := min(len(buf), chunk)
		p := &buf[0]
		if err := c.call("broadcast", func() C.int { return C.clinic_bcast_f32((*C.float)(unsafe.Pointer(p)), C.int(n)) }); err != nil {
			return err
		}
		buf = buf[n:]
	}
	return nil
}

func (c *mpiComm) BroadcastBytes(b []byte) ([]byte, error) {
	n := C.longlong(len(b))
	if err := c.call("broadcast", func() C.int { return C.clinic_bcast_len(&n) }); err != nil {
		return nil, err
	}
	out := b
	if c.rank != 0 {
		out = make([]byte, int(n))
	}
	for rest := out; len(rest) > 0; {
		k := min(len(rest), chunk)
		p := &rest[0]
		if err := c.call("broadcast", func() C.int { return C.clinic_bcast_bytes(unsafe.Pointer(p), C.int(k)) }); err != nil {
			return nil, err
		}
		rest = rest[k:]
	}
	return out, nil
}

func (c *mpiComm) Barrier() error {
	return c.call("barrier", func() C.int { return C.clinic_barrier() })
}

// Abort asks MPI to end the job. If the MPI thread is stuck in a
// collective with a dead rank, the process exits by itself after a few
// seconds: a rank exiting without MPI_Finalize also makes mpirun end
// the job.
func (c *mpiComm) Abort(code int) {
	go func() {
		c.mu.Lock()
		if !c.dead {
			c.req <- &request{f: func() C.int { return C.clinic_abort(C.int(code)) }, done: make(chan C.int, 1)}
		}
		c.mu.Unlock()
	}()
	time.Sleep(5 * time.Second)
	os.Exit(code)
}

func (c *mpiComm) Finalize() error {
	err := c.call("finalize", func() C.int { return C.clinic_finalize() })
	c.mu.Lock()
	c.dead = true
	c.mu.Unlock()
	return err
}
