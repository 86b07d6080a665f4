package main

import (
	"bytes"
	"strings"
	"testing"
)

// go generate must leave the tree unchanged (CI checks it): the output
// depends on the list alone.
func TestDeterministic(t *testing.T) {
	a, err := generate(configs)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := generate(configs)
	if !bytes.Equal(a, b) {
		t.Error("two runs differ")
	}
	if !bytes.Contains(a, []byte("DO NOT EDIT")) {
		t.Error("no DO NOT EDIT header")
	}
}

// Entries that share a shape share one layer; each entry is listed.
func TestSharedShapes(t *testing.T) {
	src, err := generate([]config{
		{Name: "a", Norm: "admin", Layers: 6, D: 64, H: 2, F: 128, T: 16, Batch: 2},
		{Name: "b", Norm: "admin", Layers: 18, D: 64, H: 2, F: 128, T: 32, Batch: 4},
		{Name: "c", Norm: "postln", Activation: "gelu", Layers: 2, D: 64, H: 2, F: 128, T: 16, Batch: 2},
	})
	if err != nil {
		t.Fatal(err)
	}
	s := string(src)
	for _, want := range []string{"func forwardAdmin_d64_h2_f128_relu(", "func backwardPostln_d64_h2_f128_gelu(", `Name: "b"`} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if n := strings.Count(s, "func forward"); n != 2 {
		t.Errorf("%d forward functions, want 2", n)
	}
}

// A bad entry stops the generator with its name and what is wrong.
func TestRejects(t *testing.T) {
	ok := config{Name: "x", Norm: "admin", Layers: 2, D: 64, H: 2, F: 128, T: 16, Batch: 2}
	for _, c := range []struct {
		mod  func(*config)
		want string
	}{
		{func(c *config) { c.Norm = "rezero" }, "no generated layer"},
		{func(c *config) { c.Activation = "tanh" }, "activation"},
		{func(c *config) { c.H = 3 }, "heads"},
		{func(c *config) { c.Name = "" }, "name"},
		{func(c *config) { c.Batch = 0 }, "positive"},
	} {
		e := ok
		c.mod(&e)
		_, err := generate([]config{e})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one about %q", e, err, c.want)
		}
	}
	if _, err := generate([]config{ok, ok}); err == nil {
		t.Error("a name twice: no error")
	}
}
