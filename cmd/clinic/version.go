package main

import (
	"fmt"
	"io"
	"runtime"

	"github.com/clinic-ml/clinic/asm"
)

func runVersion(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("version", "Print the version, the Go toolchain and the kernels in use.", stdout)
	if err := parse(fs, args); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "clinic %s (%s, %s/%s), kernels: %s, %d threads\n", Version, runtime.Version(), runtime.GOOS, runtime.GOARCH, asm.CPULevel(), asm.Threads())
	fmt.Fprintf(stdout, "precision: fp32 (%s)\n", asm.PrecisionPaths())
	return nil
}
