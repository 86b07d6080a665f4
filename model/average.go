package model

import "fmt"

// Average returns the element-wise mean of the parameters of ps, which
// must share one config (the paper evaluates the average of the last
// checkpoints). The sums are taken in float64, in the order given.
func Average(ps []*Params) (*Params, error) {
	if len(ps) == 0 {
		return nil, fmt.Errorf("nothing to average")
	}
	cfg := ps[0].Cfg
	for i, p := range ps[1:] {
		if p.Cfg != cfg {
			return nil, fmt.Errorf("checkpoint %d has config %s, the first has %s", i+2, p.Cfg.JSON(), cfg.JSON())
		}
	}
	out, err := NewParams(cfg)
	if err != nil {
		return nil, err
	}
	inv := 1 / float64(len(ps))
	for i := range out.W {
		var s float64
		for _, p := range ps {
			s += float64(p.W[i])
		}
		out.W[i] = float32(s * inv)
	}
	return out, nil
}
