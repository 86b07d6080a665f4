package admin

import (
	"fmt"
	"math"

	"github.com/clinic-ml/clinic/model"
)

// Dependency is the residual dependency of a model on one batch (the
// β_{i,j} of Liu et al. 2020, Transformer-Clinic's plot_variance): how
// much of the input of each sublayer is made of the embedding and of
// each earlier residual branch.
//
// The stream is split exactly into components. With n = 2L sublayers,
// x_0 the embedding output and b_k = F_k(·) the branch output of
// sublayer k (dropout off), each variant's term is its form's
// (model.Residual, from the variant's definition):
//
//	SumThenLN (postln, admin, deepnorm):
//	              x_{k+1} = γ_k ⊙ (ω_k ⊙ x_k + b_k − μ_k)/σ_k + β_k
//	              (ω = 1 for postln, the constant shortcut for deepnorm;
//	              μ_k, σ_k the per-token mean and sqrt(variance + ε)
//	              over the d channels)
//	LNThenBranch (preln): x_{k+1} = x_k + b_k
//	PlainSum (rezero, tfixup): x_{k+1} = x_k + b_k (b_k = α_k·F_k for
//	              rezero), and sublayer k reads x_k itself: no
//	              LayerNorm, no β
//
// so x_k = Σ_j c_{k,j} + c_{k,β}, where each component c_{k,j} is the
// embedding (j = 0) or a branch b_{j−1} (j = 1..k) carried through every
// later LayerNorm (scaled per channel by γ·ω, per token by 1/σ, and
// centred per token), and c_{k,β} collects the LayerNorms' biases β
// (zero at initialization). For postln and admin the input of sublayer
// i is x_i itself; for preln it is what sublayer i's branch reads,
// LN_i(x_i) (and for i = n the final LayerNorm's output), which applies
// γ_i/σ_i to every component. The share of component j in row i is
//
//	Share[i−1][j] = V_{i,j} / Σ_j' V_{i,j'},
//	V_{i,j} = mean over tokens of the variance over channels of c_{i,j},
//
// so each row sums to 1 by construction. Where the components are
// uncorrelated Σ_j V_{i,j} is the variance of the input itself. Like the
// reference code this accounts for the LayerNorm gains and ω; unlike it,
// it also applies each token's 1/σ (which only reweights tokens), and it
// reports variance shares instead of standard deviations.
type Dependency struct {
	Norm      string
	Stack     string // the stack's name: "encoder" or "decoder"
	Sublayers int    // n
	// Share has a row for each i = 1..n (input of sublayer i, i = n the
	// stack's output) and a column for each component: 0 the embedding,
	// j = 1..n the branch of sublayer j−1, n+1 the LayerNorm biases.
	// Components j ≥ i+1 are absent from row i and hold 0.
	Share [][]float64
	// RowLabels[i−1] names row i; ColLabels[j] names component j.
	RowLabels, ColLabels []string
}

// SublayerName names sublayer k of a language model: "L3.attn" is
// layer 3's self-attention (model.StackView.SublayerName names any
// stack's).
func SublayerName(k int) string {
	if k%2 == 0 {
		return fmt.Sprintf("L%d.attn", k/2)
	}
	return fmt.Sprintf("L%d.ffn", k/2)
}

// ResidualDependency runs one forward pass with dropout off and returns
// the residual dependency of every sublayer's input, one Dependency per
// stack of n in its order. Over a padded batch the variances are taken
// over the real tokens only.
func ResidualDependency(n *Net) ([]*Dependency, error) {
	return residualDependency(n, nil)
}

// residualDependency is ResidualDependency; check, when set, sees the
// components of each stream x_{k+1} of stack s (before any preln scaling)
// as soon as they are known.
func residualDependency(n *Net, check func(s, k int, comps [][]float64, bias []float64)) ([]*Dependency, error) {
	var ds []*depStack
	for si, v := range n.Stacks {
		ds = append(ds, newDepStack(n.P.Cfg, v))
		h := v.Hooks
		prev := h.SublayerHook
		defer func() { h.SublayerHook = prev }()
		h.SublayerHook = ds[si].hook(func(k int, comps [][]float64, bias []float64) {
			if check != nil {
				check(si, k, comps, bias)
			}
		})
	}
	if _, err := n.forward(false); err != nil {
		return nil, err
	}
	var out []*Dependency
	for _, d := range ds {
		dep, err := d.finish()
		if err != nil {
			return nil, err
		}
		out = append(out, dep)
	}
	return out, nil
}

// depStack follows the components of one stack's stream through a
// forward pass.
type depStack struct {
	v          model.StackView
	dep        *Dependency
	res        model.Residual
	n, d       int
	eps        float64
	comps      [][]float64 // components of the current stream x_k
	bias       []float64
	mean, rstd []float64
	tmp        []float64
	rows       []int // the real tokens' rows, known once the pass starts
}

func newDepStack(cfg model.Config, v model.StackView) *depStack {
	n := v.Sublayers()
	ds := &depStack{v: v, res: cfg.Residual(), n: n, d: cfg.DModel, eps: float64(cfg.LNEps),
		dep: &Dependency{Norm: cfg.Norm, Stack: v.Name, Sublayers: n}}
	for i := 1; i <= n; i++ {
		if i < n {
			ds.dep.RowLabels = append(ds.dep.RowLabels, v.SublayerName(i))
		} else {
			ds.dep.RowLabels = append(ds.dep.RowLabels, "output")
		}
	}
	ds.dep.ColLabels = append(ds.dep.ColLabels, "emb")
	for k := 0; k < n; k++ {
		ds.dep.ColLabels = append(ds.dep.ColLabels, v.SublayerName(k))
	}
	ds.dep.ColLabels = append(ds.dep.ColLabels, "β")
	return ds
}

// lnStats fills mean and rstd with the per-token statistics of v.
func (ds *depStack) lnStats(v func(i int) float64) {
	d := ds.d
	for r := range ds.mean {
		var s float64
		for c := 0; c < d; c++ {
			s += v(r*d + c)
		}
		mu := s / float64(d)
		var q float64
		for c := 0; c < d; c++ {
			u := v(r*d+c) - mu
			q += u * u
		}
		ds.mean[r], ds.rstd[r] = mu, 1/math.Sqrt(q/float64(d)+ds.eps)
	}
}

// scale writes γ ⊙ (w⊙c − rowmean(w⊙c)) · rstd (+ β) into dst.
func (ds *depStack) scale(dst, c []float64, w, g, beta []float32) {
	d := ds.d
	for r := range ds.rstd {
		cr, dr := c[r*d:r*d+d], dst[r*d:r*d+d]
		var s float64
		for j := range cr {
			dr[j] = cr[j]
			if w != nil {
				dr[j] *= float64(w[j])
			}
			s += dr[j]
		}
		mu := s / float64(d)
		for j := range dr {
			dr[j] = (dr[j] - mu) * ds.rstd[r] * float64(g[j])
			if beta != nil {
				dr[j] += float64(beta[j])
			}
		}
	}
}

// spread is the mean over the real tokens of the variance over channels.
func (ds *depStack) spread(c []float64) float64 {
	d := ds.d
	var tot float64
	for _, r := range ds.rows {
		cr := c[r*d : r*d+d]
		var s, q float64
		for _, v := range cr {
			s += v
		}
		mu := s / float64(d)
		for _, v := range cr {
			q += (v - mu) * (v - mu)
		}
		tot += q / float64(d)
	}
	return tot / float64(len(ds.rows))
}

// addRow appends the shares of a row whose components' spreads are v
// (v[len-1] the bias component).
func (ds *depStack) addRow(v []float64) {
	row := make([]float64, ds.n+2)
	var tot float64
	for _, x := range v {
		tot += x
	}
	for j := 0; j < len(v)-1; j++ {
		row[j] = v[j] / tot
	}
	row[ds.n+1] = v[len(v)-1] / tot
	ds.dep.Share = append(ds.dep.Share, row)
}

// prelnRow records the shares of LN(x) for a preln stream x.
func (ds *depStack) prelnRow(x []float32, g, beta []float32) {
	ds.lnStats(func(i int) float64 { return float64(x[i]) })
	var v []float64
	for _, c := range ds.comps {
		ds.scale(ds.tmp, c, nil, g, nil)
		v = append(v, ds.spread(ds.tmp))
	}
	ds.scale(ds.tmp, ds.bias, nil, g, beta)
	v = append(v, ds.spread(ds.tmp))
	ds.addRow(v)
}

// hook is the stack's SublayerHook: it splits x_{k+1} into its
// components, then calls check.
func (ds *depStack) hook(check func(k int, comps [][]float64, bias []float64)) func(k int, x, branch, _ []float32) {
	return func(k int, x, branch, _ []float32) {
		if k == 0 {
			rows := len(x) / ds.d
			ds.rows = ds.v.ValidRows()
			ds.bias, ds.tmp = make([]float64, len(x)), make([]float64, len(x))
			ds.mean, ds.rstd = make([]float64, rows), make([]float64, rows)
			c0 := make([]float64, len(x))
			for i, v := range x {
				c0[i] = float64(v)
			}
			ds.comps = [][]float64{c0}
		}
		bk := make([]float64, len(branch))
		for i, v := range branch {
			bk[i] = float64(v)
		}
		g, beta, shortcut := ds.v.Norm(k)
		switch ds.res {
		case model.PlainSum:
			ds.comps = append(ds.comps, bk)
			var v []float64
			for _, c := range ds.comps {
				v = append(v, ds.spread(c))
			}
			ds.addRow(append(v, 0))
		case model.LNThenBranch:
			if k > 0 {
				ds.prelnRow(x, g, beta) // row k: what sublayer k's branch reads
			}
			ds.comps = append(ds.comps, bk)
		default: // SumThenLN
			d := ds.d
			ds.lnStats(func(i int) float64 { return float64(shortcut[i%d])*float64(x[i]) + float64(branch[i]) })
			for _, c := range ds.comps {
				ds.scale(c, c, shortcut, g, nil)
			}
			ds.scale(bk, bk, nil, g, nil)
			ds.scale(ds.bias, ds.bias, shortcut, g, beta)
			ds.comps = append(ds.comps, bk)
			var v []float64
			for _, c := range ds.comps {
				v = append(v, ds.spread(c))
			}
			ds.addRow(append(v, ds.spread(ds.bias)))
		}
		check(k, ds.comps, ds.bias)
	}
}

// finish adds the output's row (preln: the final LayerNorm's) and checks
// that every sublayer was seen.
func (ds *depStack) finish() (*Dependency, error) {
	if ds.res == model.LNThenBranch {
		g, beta := ds.v.FinalLN()
		ds.prelnRow(ds.v.Stream(ds.n), g, beta)
	}
	if len(ds.dep.Share) != ds.n {
		return nil, fmt.Errorf("residual dependency: %d rows for %d sublayers", len(ds.dep.Share), ds.n)
	}
	return ds.dep, nil
}
