package train

import (
	"testing"

	"github.com/clinic-ml/clinic/internal/dist"
	"github.com/clinic-ml/clinic/model"
)

// recComm is one rank that says it is one of two: it records the
// gradient range of every reduction started (as offsets into g) and
// whether it was started during the backward pass (inPass).
type recComm struct {
	dist.Single
	g       []float32
	inPass  *bool
	buckets [][2]int
	during  []bool
}

func (c *recComm) Size() int { return 2 }

func (c *recComm) StartAllreduceSum(buf []float32) func() error {
	off := -1
	for i := range c.g {
		if &c.g[i] == &buf[0] {
			off = i
			break
		}
	}
	c.buckets = append(c.buckets, [2]int{off, off + len(buf)})
	c.during = append(c.during, *c.inPass)
	return func() error { return nil }
}

// passLM is an LM that tells when its backward pass runs.
type passLM struct {
	*LM
	inPass bool
}

func (p *passLM) Backward() error {
	p.inPass = true
	defer func() { p.inPass = false }()
	return p.LM.Backward()
}

// The finished layers are merged into buckets of up to BucketBytes, in
// the order the backward pass finishes them: each element is reduced
// exactly once, no bucket exceeds the size, layers that fill a bucket
// are reduced during the pass, and the default (25 MB) makes one bucket
// of this small model's whole arena.
func TestBucketsMergeLayers(t *testing.T) {
	text := []byte("four score and seven years ago our fathers brought forth on this continent a new nation ")
	for len(text) < 4000 {
		text = append(text, text...)
	}
	cfg := model.Config{Layers: 4, DModel: 16, Heads: 2, DFF: 32, SeqLen: 16, Vocab: 256, Norm: model.PreLN,
		Activation: "relu", LNEps: 1e-5}
	lm, err := NewLM(LMConfig{Model: cfg, Batch: 2, Seed: 1, Train: text, TrainName: "train", Pool: testPool()})
	if err != nil {
		t.Fatal(err)
	}
	layers := layerRanges(lm.P, "decoder.layers.%d.", cfg.Layers)
	layer := layers[0][1] - layers[0][0]
	n := len(lm.P.G)
	for _, tc := range []struct {
		name  string
		bytes int
		// want: the first buckets, those started during the pass
		want [][2]int
	}{
		{"default", 0, nil},
		// layers 3 and 2 fill a bucket; layer 1 waits for its neighbour
		// below (after the pass), which may fit
		{"two layers", 2 * layer * 4, [][2]int{{layers[2][0], layers[3][1]}}},
		// a bucket of one and a half layers: each layer alone, started
		// as soon as it is reported (a second layer would not fit)
		{"1.5 layers", 3 * layer * 2, [][2]int{{layers[3][0], layers[3][1]}, {layers[2][0], layers[2][1]}, {layers[1][0], layers[1][1]}}},
		// smaller than a layer: every layer split in pieces of 1000 floats
		{"4000 bytes", 4000, nil},
	} {
		p := &passLM{LM: lm}
		rc := &recComm{g: lm.P.G, inPass: &p.inPass}
		tr, err := New(p, Options{Steps: 1, EvalEvery: 1, Optim: adam(), Comm: rc, BucketBytes: tc.bytes})
		if err != nil {
			t.Fatal(err)
		}
		if !tr.overlap {
			t.Fatal("the LM reports no finished layers")
		}
		if _, err := tr.Step(); err != nil {
			t.Fatal(err)
		}
		capFloats := BucketFloats
		if tc.bytes > 0 {
			capFloats = tc.bytes / 4
		}
		covered := make([]int, n)
		for _, b := range rc.buckets {
			if b[0] < 0 || b[1]-b[0] > capFloats {
				t.Fatalf("%s: bucket %v (cap %d floats)", tc.name, b, capFloats)
			}
			for i := b[0]; i < b[1]; i++ {
				covered[i]++
			}
		}
		for i, c := range covered {
			if c != 1 {
				t.Fatalf("%s: element %d reduced %d times (buckets %v)", tc.name, i, c, rc.buckets)
			}
		}
		var during [][2]int
		for i, b := range rc.buckets {
			if rc.during[i] {
				during = append(during, b)
			}
		}
		switch {
		case tc.bytes == 0:
			if len(rc.buckets) != 1 || len(during) != 0 {
				t.Errorf("%s: buckets %v, during the pass %d, want the whole arena in one after it", tc.name, rc.buckets, len(during))
			}
		case tc.want != nil:
			if len(during) != len(tc.want) {
				t.Fatalf("%s: buckets during the pass %v, want %v", tc.name, during, tc.want)
			}
			for i := range during {
				if during[i] != tc.want[i] {
					t.Fatalf("%s: buckets during the pass %v, want %v", tc.name, during, tc.want)
				}
			}
		default:
			// every reported layer (3, 2, 1) split into pieces during the pass
			want := 0
			for _, l := range layers[1:] {
				want += (l[1] - l[0] + capFloats - 1) / capFloats
			}
			if len(during) != want {
				t.Errorf("%s: %d buckets during the pass, want %d", tc.name, len(during), want)
			}
		}
		t.Logf("%s: %d buckets, %d during the pass (layer %d floats, arena %d)", tc.name, len(rc.buckets), len(during), layer, n)
	}
}

// The ranges the translation task reports during its backward pass are
// final when reported (their gradients then equal those Backward
// returns with), cover every encoder and decoder layer but the
// encoder's first once, in the order of its replay list, and a share
// without rows reports the same ranges in the same order.
func TestTranslateReportsFinalGrads(t *testing.T) {
	for _, norm := range model.Norms {
		task := toyTranslate(t, norm, 3)
		type report struct {
			r    [2]int
			snap []float32
		}
		var got []report
		if !task.ReportGrads(func(lo, hi int) {
			got = append(got, report{[2]int{lo, hi}, append([]float32(nil), task.P.G[lo:hi]...)})
		}) {
			t.Fatalf("%s: no layer ranges", norm)
		}
		task.P.ZeroGrad(task.Pool())
		if _, _, err := task.TrainForward(); err != nil {
			t.Fatal(err)
		}
		if err := task.Backward(); err != nil {
			t.Fatal(err)
		}
		cfg := task.cfg.Model
		if len(got) != cfg.Layers+cfg.EncoderLayers-1 || len(got) != len(task.reports) {
			t.Fatalf("%s: %d ranges reported, want %d", norm, len(got), cfg.Layers+cfg.EncoderLayers-1)
		}
		for i, g := range got {
			if g.r != task.reports[i] {
				t.Fatalf("%s: report %d is %v, the replay list's %v", norm, i, g.r, task.reports[i])
			}
			for k, v := range g.snap {
				if v != task.P.G[g.r[0]+k] {
					t.Fatalf("%s: range %v changed after it was reported (element %d: %v, then %v)", norm, g.r, k, v, task.P.G[g.r[0]+k])
				}
			}
		}
		got = nil
		task.empty = true
		if err := task.Backward(); err != nil {
			t.Fatal(err)
		}
		for i, g := range got {
			if g.r != task.reports[i] {
				t.Fatalf("%s: an empty share reports %v at %d, a pass %v", norm, g.r, i, task.reports[i])
			}
		}
		if len(got) != len(task.reports) {
			t.Fatalf("%s: an empty share reports %d ranges, a pass %d", norm, len(got), len(task.reports))
		}
		task.ReportGrads(nil)
	}
}
