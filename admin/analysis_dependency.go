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
	Sublayers int // n
	// Share has a row for each i = 1..n (input of sublayer i, i = n the
	// stack's output) and a column for each component: 0 the embedding,
	// j = 1..n the branch of sublayer j−1, n+1 the LayerNorm biases.
	// Components j ≥ i+1 are absent from row i and hold 0.
	Share [][]float64
	// RowLabels[i−1] names row i; ColLabels[j] names component j.
	RowLabels, ColLabels []string
}

// SublayerName names sublayer k: "L3.attn" is layer 3's self-attention.
func SublayerName(k int) string {
	if k%2 == 0 {
		return fmt.Sprintf("L%d.attn", k/2)
	}
	return fmt.Sprintf("L%d.ffn", k/2)
}

// ResidualDependency runs one forward pass on b with dropout off and
// returns the residual dependency of every sublayer's input.
func ResidualDependency(m *model.Model, b Batch) (*Dependency, error) {
	return residualDependency(m, b, nil)
}

// residualDependency is ResidualDependency; check, when set, sees the
// components of each stream x_{k+1} (before any preln scaling) as soon
// as they are known.
func residualDependency(m *model.Model, b Batch, check func(k int, comps [][]float64, bias []float64)) (*Dependency, error) {
	cfg := m.Cfg
	n, d := cfg.Sublayers(), cfg.DModel
	rows := b.B * b.T
	eps := float64(cfg.LNEps)
	dep := &Dependency{Norm: cfg.Norm, Sublayers: n}
	res := cfg.Residual() // the variant's term
	for i := 1; i <= n; i++ {
		if i < n {
			dep.RowLabels = append(dep.RowLabels, SublayerName(i))
		} else {
			dep.RowLabels = append(dep.RowLabels, "output")
		}
	}
	dep.ColLabels = append(dep.ColLabels, "emb")
	for k := 0; k < n; k++ {
		dep.ColLabels = append(dep.ColLabels, SublayerName(k))
	}
	dep.ColLabels = append(dep.ColLabels, "β")

	var comps [][]float64 // components of the current stream x_k
	bias := make([]float64, rows*d)
	mean, rstd := make([]float64, rows), make([]float64, rows)
	tmp := make([]float64, rows*d)

	// lnStats fills mean and rstd with the per-token statistics of v.
	lnStats := func(v func(i int) float64) {
		for r := 0; r < rows; r++ {
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
			mean[r], rstd[r] = mu, 1/math.Sqrt(q/float64(d)+eps)
		}
	}
	// scale writes γ ⊙ (w⊙c − rowmean(w⊙c)) · rstd (+ β) into dst.
	scale := func(dst, c []float64, w, g, beta []float32) {
		for r := 0; r < rows; r++ {
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
				dr[j] = (dr[j] - mu) * rstd[r] * float64(g[j])
				if beta != nil {
					dr[j] += float64(beta[j])
				}
			}
		}
	}
	// spread is the mean over tokens of the variance over channels.
	spread := func(c []float64) float64 {
		var tot float64
		for r := 0; r < rows; r++ {
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
		return tot / float64(rows)
	}
	// addRow appends the shares of a row whose components' spreads are v
	// (v[len-1] the bias component).
	addRow := func(v []float64) {
		row := make([]float64, n+2)
		var tot float64
		for _, x := range v {
			tot += x
		}
		for j := 0; j < len(v)-1; j++ {
			row[j] = v[j] / tot
		}
		row[n+1] = v[len(v)-1] / tot
		dep.Share = append(dep.Share, row)
	}
	// prelnRow records the shares of LN(x) for a preln stream x.
	prelnRow := func(x []float32, g, beta []float32) {
		lnStats(func(i int) float64 { return float64(x[i]) })
		var v []float64
		for _, c := range comps {
			scale(tmp, c, nil, g, nil)
			v = append(v, spread(tmp))
		}
		scale(tmp, bias, nil, g, beta)
		v = append(v, spread(tmp))
		addRow(v)
	}
	lp := m.P.Layers
	var alpha []float32 // a constant shortcut weight (deepnorm), as ω
	if w, ok := cfg.Shortcut(false); ok {
		alpha = make([]float32, d)
		for i := range alpha {
			alpha[i] = float32(w)
		}
	}
	ln := func(k int) (g, beta, omega []float32) {
		if !cfg.HasLayerNorm() {
			return
		}
		omega = alpha
		l := &lp[k/2]
		if k%2 == 0 {
			g, beta = l.LN1G.W, l.LN1B.W
			if l.Omega1 != nil {
				omega = l.Omega1.W
			}
		} else {
			g, beta = l.LN2G.W, l.LN2B.W
			if l.Omega2 != nil {
				omega = l.Omega2.W
			}
		}
		return
	}

	prev := m.SublayerHook
	defer func() { m.SublayerHook = prev }()
	m.SublayerHook = func(k int, x, branch, _ []float32) {
		if k == 0 {
			c0 := make([]float64, rows*d)
			for i, v := range x {
				c0[i] = float64(v)
			}
			comps = append(comps, c0)
		}
		bk := make([]float64, rows*d)
		for i, v := range branch {
			bk[i] = float64(v)
		}
		g, beta, omega := ln(k)
		switch res {
		case model.PlainSum:
			comps = append(comps, bk)
			var v []float64
			for _, c := range comps {
				v = append(v, spread(c))
			}
			addRow(append(v, 0))
		case model.LNThenBranch:
			if k > 0 {
				prelnRow(x, g, beta) // row k: what sublayer k's branch reads
			}
			comps = append(comps, bk)
		default: // SumThenLN
			lnStats(func(i int) float64 {
				w := 1.0
				if omega != nil {
					w = float64(omega[i%d])
				}
				return w*float64(x[i]) + float64(branch[i])
			})
			for _, c := range comps {
				scale(c, c, omega, g, nil)
			}
			scale(bk, bk, nil, g, nil)
			scale(bias, bias, omega, g, beta)
			comps = append(comps, bk)
			var v []float64
			for _, c := range comps {
				v = append(v, spread(c))
			}
			addRow(append(v, spread(bias)))
		}
		if check != nil {
			check(k, comps, bias)
		}
	}
	if _, err := m.Forward(b.Tokens, nil, b.B, b.T, false); err != nil {
		return nil, err
	}
	if res == model.LNThenBranch {
		fl := m.P.FinalLN
		prelnRow(m.Stream(n), fl[0].W, fl[1].W)
	}
	if len(dep.Share) != n {
		return nil, fmt.Errorf("residual dependency: %d rows for %d sublayers", len(dep.Share), n)
	}
	return dep, nil
}
