package main

import (
	"fmt"
	"io"
	"runtime"
	"strings"

	"github.com/clinic-ml/clinic/asm"
	"github.com/clinic-ml/clinic/internal/train"
	"github.com/clinic-ml/clinic/model"
)

func runVersion(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("version", "Print the version, the Go toolchain and the kernels in use.", stdout)
	if err := parse(fs, args); err != nil {
		return err
	}
	prec, err := train.VersionLine()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "clinic %s (%s, %s/%s), kernels: %s, %d threads\n%s\n", Version, runtime.Version(), runtime.GOOS, runtime.GOARCH, asm.CPULevel(), runtime.GOMAXPROCS(0), prec)
	// Which configs run generated layer code: the default model's, and
	// the list (gen/layergen/configs.go) by the shape it keys on.
	fmt.Fprintf(stdout, "layer code: the default model runs %s; generated for:\n", train.LayerCode(model.DefaultConfig()))
	seen := map[string][]string{}
	var order []string
	for _, sc := range model.SpecializedConfigs() {
		name := model.Specialized(sc.Config(256))
		if seen[name] == nil {
			order = append(order, name)
		}
		seen[name] = append(seen[name], sc.Name)
	}
	for _, name := range order {
		fmt.Fprintf(stdout, "  %s: %s\n", name, strings.Join(seen[name], ", "))
	}
	return nil
}

// Version is the release this binary was built from.
const Version = "0.1.0"
