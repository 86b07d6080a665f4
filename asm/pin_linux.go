package asm

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// pinSelf locks the calling goroutine to its OS thread and that thread
// to CPU cpu.
func pinSelf(cpu int) error {
	runtime.LockOSThread()
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("pinning a worker to CPU %d: %v", cpu, err)
	}
	return nil
}

// allowedCPUs lists the CPUs the process may run on, in order.
func allowedCPUs() ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, fmt.Errorf("reading the CPUs this process may use: %v", err)
	}
	var cpus []int
	for c := 0; c < 1<<12 && len(cpus) < set.Count(); c++ {
		if set.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	if len(cpus) == 0 {
		return nil, fmt.Errorf("this process may run on no CPU")
	}
	return cpus, nil
}
