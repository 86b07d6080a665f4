//go:build !unix

package fileutil

import "testing"

func makeFIFO(t *testing.T, dir string) (string, bool) { return "", false }
