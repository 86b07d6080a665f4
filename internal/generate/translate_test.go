package generate

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clinic-ml/clinic/asm"
	"github.com/clinic-ml/clinic/model"
)

// Decoding in lanes (several batches at once, a translator each) gives
// exactly what one translator gives batch after batch, on any pool:
// tokens, log-probabilities and scores bit for bit.
func TestDecoderLanes(t *testing.T) {
	p, r := peaked(t, model.Admin, 9)
	cfg := p.Cfg
	var srcs [][]int32
	for range 11 {
		n := 1 + r.IntN(12)
		s := make([]int32, n+1)
		for j := range n {
			s[j] = int32(3 + r.IntN(cfg.Vocab-3))
		}
		s[n] = eos
		srcs = append(srcs, s)
	}
	const batch, beam = 2, 3
	o := opts(beam, cfg.Vocab)
	o.MaxLenA, o.MaxLenB, o.Limit = 1, 4, cfg.SeqLen-1
	one, err := model.NewTranslator(p, batch, batch*beam)
	if err != nil {
		t.Fatal(err)
	}
	want, err := TranslateAll(one, srcs, batch, pad, o)
	if err != nil {
		t.Fatal(err)
	}
	for _, threads := range []int{1, 2, 3, 8} {
		pool := asm.NewPool(threads)
		for _, lanes := range []int{1, 2, 3, 6, 100} {
			// With two lanes or more on two threads or more, the first
			// lane's translator is made only once a second lane asks for
			// one: lanes that ran one after another would not get there.
			var made atomic.Int32
			second := make(chan struct{})
			concurrent := threads > 1 && lanes > 1
			d := &Decoder{Lanes: lanes, New: func() (Translator, error) {
				switch made.Add(1) {
				case 1:
					if concurrent {
						select {
						case <-second:
						case <-time.After(10 * time.Second):
						}
					}
				case 2:
					close(second)
				}
				tr, err := model.NewTranslator(p, batch, batch*beam)
				if err == nil {
					tr.SetPool(pool)
				}
				return tr, err
			}}
			po := o
			po.Pool = pool
			for round := range 2 {
				got, err := d.TranslateAll(srcs, batch, pad, po)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("%d threads, %d lanes, round %d: translations differ from one translator's", threads, lanes, round)
				}
			}
			// a lane per thread and batch (6 batches), kept for the
			// second call
			if n, lim := int(made.Load()), min(threads, lanes, 6); n < 1 || n > lim || (concurrent && n < 2) {
				t.Errorf("%d threads, %d lanes: %d translators made, want 1 per lane running at once (≤ %d)", threads, lanes, n, lim)
			}
		}
		pool.Close()
	}
}

// A lane's translator that cannot be made is the call's error.
func TestDecoderNewFails(t *testing.T) {
	pool := asm.NewPool(2)
	defer pool.Close()
	bad := errors.New("no room")
	for _, lanes := range []int{1, 2} {
		d := &Decoder{Lanes: lanes, New: func() (Translator, error) { return nil, bad }}
		o := opts(2, 6)
		o.Pool = pool
		if _, err := d.TranslateAll([][]int32{{tA, eos}, {tB, eos}}, 1, pad, o); !errors.Is(err, bad) {
			t.Errorf("%d lanes: error %v, want %v", lanes, err, bad)
		}
	}
	d := &Decoder{Lanes: 2, New: func() (Translator, error) { return nil, bad }}
	if _, err := d.TranslateAll([][]int32{{tA, eos}, {}}, 1, pad, opts(2, 6)); err == nil || errors.Is(err, bad) {
		t.Errorf("an empty source: error %v, want it named before any translator is made", err)
	}
}

// deal gives every batch to exactly one lane, the costliest first to the
// least-loaded lane, within 4/3 of the best split's longest lane.
func TestDeal(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for trial := range 200 {
		bs := make([]batch, 1+r.IntN(40))
		total, most := 0, 0
		for k := range bs {
			bs[k].cost = 1 + r.IntN(100)
			total += bs[k].cost
			most = max(most, bs[k].cost)
		}
		lanes := 1 + r.IntN(len(bs))
		plan := deal(bs, lanes)
		if len(plan) != lanes {
			t.Fatalf("trial %d: %d lanes, want %d", trial, len(plan), lanes)
		}
		var seen []int
		worst := 0
		for l, ks := range plan {
			if len(ks) == 0 {
				t.Fatalf("trial %d: lane %d has no batch", trial, l)
			}
			load := 0
			for _, k := range ks {
				load += bs[k].cost
			}
			worst = max(worst, load)
			seen = append(seen, ks...)
		}
		slices.Sort(seen)
		for k := range bs {
			if k >= len(seen) || seen[k] != k {
				t.Fatalf("trial %d: batches dealt %v, want each of 0..%d once", trial, seen, len(bs)-1)
			}
		}
		// the best split's longest lane is at least the mean and the
		// costliest batch
		if lb := max(most, (total+lanes-1)/lanes); 3*worst > 4*lb {
			t.Errorf("trial %d: longest lane %d, a lower bound of the best %d", trial, worst, lb)
		}
		if !reflect.DeepEqual(plan, deal(bs, lanes)) {
			t.Fatalf("trial %d: deal is not deterministic", trial)
		}
	}
}
