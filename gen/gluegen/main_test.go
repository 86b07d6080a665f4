package main

import (
	"bytes"
	"testing"
)

// go generate must leave the tree unchanged (CI checks it), so the
// output may depend on nothing but the spec: no map order, no time.
func TestDeterministic(t *testing.T) {
	validate()
	a, b := outputs(), outputs()
	for i := range a {
		x, err := render(a[i].file)
		if err != nil {
			t.Fatalf("%s: %v", a[i].name, err)
		}
		y, _ := render(b[i].file)
		if !bytes.Equal(x, y) {
			t.Errorf("%s: two runs differ", a[i].name)
		}
	}
}
