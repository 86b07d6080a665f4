package bpe

import (
	"fmt"
	"strings"

	"github.com/clinic-ml/clinic/internal/atomicfile"
	"github.com/clinic-ml/clinic/internal/fileutil"
)

// ReadFile reads a codes file (a regular file, at most 1 GiB); an error
// names the file.
func ReadFile(path string) (*Codes, error) {
	b, err := fileutil.ReadRegular(path, 1<<30)
	if err != nil {
		return nil, err
	}
	c, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %s", path, strings.TrimPrefix(err.Error(), "bpe: "))
	}
	return c, nil
}

// WriteFile writes c to path atomically.
func WriteFile(path string, c *Codes) error {
	b, err := c.MarshalText()
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, b)
}
