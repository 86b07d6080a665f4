package model

import "testing"

func TestAverage(t *testing.T) {
	cfg := TinyConfig(Admin, "relu")
	a, _ := NewParams(cfg)
	b, _ := NewParams(cfg)
	a.Init(1)
	b.Init(2)
	avg, err := Average([]*Params{a, b})
	if err != nil {
		t.Fatal(err)
	}
	for i := range avg.W {
		if want := float32((float64(a.W[i]) + float64(b.W[i])) / 2); avg.W[i] != want {
			t.Fatalf("element %d: %v, want %v", i, avg.W[i], want)
		}
	}
	if one, _ := Average([]*Params{a}); one.W[5] != a.W[5] {
		t.Error("the average of one checkpoint is not itself")
	}
	other := cfg
	other.Layers = 3
	c, _ := NewParams(other)
	if _, err := Average([]*Params{a, c}); err == nil {
		t.Error("averaged checkpoints of different configs")
	}
	if _, err := Average(nil); err == nil {
		t.Error("averaged nothing")
	}
}
