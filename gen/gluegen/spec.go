package main

// The spec table: one entry per exported element-wise kernel of package
// asm. Its avo body is in gen/kernelgen and its pure-Go twin (Go+"Generic")
// is hand-written in asm; everything else that names the kernel is
// generated from its entry.
//
// The operand checks are Go source pasted into the checked method, in
// this order:
//
//	Pre                                  (Check)
//	if k.<asm> == nil || Guard {         (Check)
//		<Fallback, or the twin>; return
//	}
//	Count                                (Check)
//	if Empty { return }                  (Check)
//	Bounds
//	k.<asm>(Call)
//
// flat, rowsOf and window give the three usual Checks. Bounds reslices
// every operand to what the assembly reads or writes, so that a short
// operand panics as it would in the twin instead of being overrun.

// A kernel is one spec entry.
type kernel struct {
	Name string // the exported method (and function, unless Func is set)
	Func string // the exported function when it differs from Name
	Go   string // lower-camel name: twin Go+"Generic", test list Go+"Impls", assembly Go unless Asm is set
	Doc  string // the exported function's doc comment
	Sig  string // the exported signature, "(x []float32) float64"

	Raw    string   // the assembly's signature; "" for a kernel that is its twin at every level
	Asm    string   // the assembly's name when it is not Go: field Asm, functions Asm+"512" and Asm+"256"
	Levels []string // the levels with assembly; nil means all
	Hand   bool     // the method is hand-written (asm/elementwise.go); Raw still declares the entry

	Check    check
	Fallback []string // run instead of the twin when the assembly is nil or Guard holds
	Bounds   []string
	Call     string // the assembly's arguments
}

// A check is the part of the operand checks the usual shapes share.
type check struct {
	Pre   []string
	Guard string
	Count []string
	Empty string
}

// flat: n = len(x) elements in every operand.
func flat(x string) check { return check{Empty: "len(" + x + ") == 0"} }

// rowsOf: d-wide rows, as many as fit in x.
func rowsOf(x, d string) check {
	return check{Guard: d + " <= 0", Count: []string{"rows := len(" + x + ") / " + d}, Empty: "rows == 0"}
}

// window: a rows×w window whose rows are stride apart, n elements long.
func window(rows, w string) check {
	return check{Pre: []string{"n := window(" + rows + ", stride, " + w + ")"}, Guard: "n == 0 || stride < 0"}
}

// or adds a condition for running the twin.
func (c check) or(cond string) check {
	if c.Guard != "" {
		cond = c.Guard + " || " + cond
	}
	c.Guard = cond
	return c
}

// first adds statements before the twin's test.
func (c check) first(stmts ...string) check {
	c.Pre = append(stmts, c.Pre...)
	return c
}

// dropArgs are the dropout kernels' trailing assembly arguments: the
// threshold and scale of p, the key's halves and the first counter.
const dropArgs = "DropThreshold(p), 1/(1-p), uint32(key), uint32(key>>32), base"

var kernels = []kernel{
	{
		Name: "Scale", Go: "scale",
		Doc: "Scale computes x *= alpha.",
		Sig: "(alpha float32, x []float32)",
		Raw: "(alpha float32, x *float32, n int)",

		Check: flat("x"),
		Call:  "alpha, &x[0], len(x)",
	},
	{
		Name: "SumSq", Go: "sumSq",
		Doc: `SumSq returns Σ x[i]² accumulated in float64 in a fixed blocked order
(16 interleaved partial sums combined pairwise; see sumSqGeneric): the
same bits at every CPU level.`,
		Sig: "(x []float32) float64",
		Raw: "(x *float32, n int) float64",

		Check: flat("x"),
		Call:  "&x[0], len(x)",
	},
	{
		// A copy (memmove) is as fast as assembly would be.
		Name: "BroadcastRows", Go: "broadcastRows",
		Doc: "BroadcastRows sets every d-wide row of y to v (len(v) = d).",
		Sig: "(y, v []float32, d int)",
	},
	{
		Name: "ColSum", Go: "colSum",
		Doc: `ColSum adds the column sums of a rows×len(dst) window of src, whose
rows are stride apart, into dst: dst[j] += Σ_r src[r·stride+j].
Summing down columns (rather than partials per row chunk) keeps the
result independent of how the rows are split over workers.`,
		Sig: "(dst, src []float32, rows, stride int)",
		Raw: "(dst, src *float32, rows, stride, w int)",

		Check:  window("rows", "len(dst)"),
		Bounds: []string{"src = src[:n]"},
		Call:   "&dst[0], &src[0], rows, stride, len(dst)",
	},
	{
		Name: "ColDot", Go: "colDot",
		Doc: "ColDot adds Σ_r a[r·stride+j]·b[r·stride+j] into dst[j].",
		Sig: "(dst, a, b []float32, rows, stride int)",
		Raw: "(dst, a, b *float32, rows, stride, w int)",

		Check:  window("rows", "len(dst)"),
		Bounds: []string{"a, b = a[:n], b[:n]"},
		Call:   "&dst[0], &a[0], &b[0], rows, stride, len(dst)",
	},
	{
		// The method's body is hand-written: one assembly call for the
		// maximum and the sum of exps, then the shift in Go.
		Name: "LogSoftmax", Go: "logSoftmax",
		Doc: `LogSoftmax sets y = x − log Σ_j exp(x_j) (y may alias x), summing the
exps in float64 after subtracting the maximum.`,
		Sig:  "(y, x []float32)",
		Raw:  "(l *float32, n int) (mx float32, sumExp, sum float64)",
		Asm:  "ceStats",
		Hand: true,
	},
	{
		Name: "DotRows", Go: "dotRows",
		Doc: `DotRows sets dst[r] = Σ_j q[j]·k[r·stride+j], j < len(q), for r <
rows: one query against rows of keys (the assembly sums in another
order than the twin, within a reassociation's rounding).`,
		// keys, not k: the methods' receiver is k.
		Sig: "(dst, q, keys []float32, rows, stride int)",
		Raw: "(dst, q, k *float32, rows, stride, w int)",

		Check:  window("rows", "len(q)"),
		Bounds: []string{"dst, keys = dst[:rows], keys[:n]"},
		Call:   "&dst[0], &q[0], &keys[0], rows, stride, len(q)",
	},
	{
		Name: "AxpyRows", Go: "axpyRows",
		Doc: `AxpyRows adds Σ_r p[r]·v[r·stride+j] into o[j], j < len(o), over the
rows r < len(p), in row order: attention weights applied to rows of
values.`,
		Sig: "(o, p, v []float32, stride int)",
		Raw: "(o, p, v *float32, rows, stride, w int)",

		Check:  window("len(p)", "len(o)"),
		Bounds: []string{"v = v[:n]"},
		Call:   "&o[0], &p[0], &v[0], len(p), stride, len(o)",
	},
	{
		Name: "ScaleAddRows", Go: "scaleAddRows",
		Doc: `ScaleAddRows computes y = w⊙x + b row by row, w a d-vector
(Admin's scaled shortcut plus the branch).`,
		Sig: "(y, w, x, b []float32, d int)",
		Raw: "(y, w, x, b *float32, rows, d int)",

		Check:  rowsOf("y", "d"),
		Bounds: []string{"n := rows * d", "w, x, b = w[:d], x[:n], b[:n]"},
		Call:   "&y[0], &w[0], &x[0], &b[0], rows, d",
	},
	{
		Name: "LayerNorm", Go: "layerNorm",
		Doc: `LayerNorm normalizes each d-wide row of x: y = (x-μ)·ρ·γ + β with
ρ = 1/sqrt(var+eps) (biased variance), and stores μ and ρ per row.`,
		Sig: "(y, mean, rstd, x, gamma, beta []float32, d int, eps float32)",
		Raw: "(y, mean, rstd, x, gamma, beta *float32, rows, d int, eps float32)",

		Check: rowsOf("x", "d"),
		Bounds: []string{"n := rows * d",
			"y, mean, rstd, gamma, beta = y[:n], mean[:rows], rstd[:rows], gamma[:d], beta[:d]"},
		Call: "&y[0], &mean[0], &rstd[0], &x[0], &gamma[0], &beta[0], rows, d, eps",
	},
	{
		Name: "LayerNormBackward", Go: "layerNormBackward",
		Doc: `LayerNormBackward writes dx for each row given dy and the saved μ, ρ.
The parameter gradients are LayerNormParamGrad's, a separate column
pass.`,
		Sig: "(dx, dy, x, mean, rstd, gamma []float32, d int)",
		Raw: "(dx, dy, x, mean, rstd, gamma *float32, rows, d int)",

		Check: rowsOf("x", "d"),
		Bounds: []string{"n := rows * d",
			"dx, dy, mean, rstd, gamma = dx[:n], dy[:n], mean[:rows], rstd[:rows], gamma[:d]"},
		Call: "&dx[0], &dy[0], &x[0], &mean[0], &rstd[0], &gamma[0], rows, d",
	},
	{
		Name: "LayerNormParamGrad", Go: "layerNormParamGrad",
		Doc: `LayerNormParamGrad adds the γ and β gradients of a column window:
dgamma[j] += Σ_r dy·x̂, dbeta[j] += Σ_r dy, where dy and x start at
the window's first column and rows are stride apart.`,
		Sig: "(dgamma, dbeta, dy, x, mean, rstd []float32, rows, stride int)",
		Raw: "(dgamma, dbeta, dy, x, mean, rstd *float32, rows, stride, w int)",

		Check: window("rows", "len(dgamma)"),
		Bounds: []string{"w := len(dgamma)",
			"dbeta, dy, x, mean, rstd = dbeta[:w], dy[:n], x[:n], mean[:rows], rstd[:rows]"},
		Call: "&dgamma[0], &dbeta[0], &dy[0], &x[0], &mean[0], &rstd[0], rows, stride, w",
	},
	{
		Name: "ReLU", Go: "relu",
		Doc: "ReLU computes y = max(x, 0).",
		Sig: "(y, x []float32)",
		Raw: "(y, x *float32, n int)",

		Check:  flat("x"),
		Bounds: []string{"y = y[:len(x)]"},
		Call:   "&y[0], &x[0], len(x)",
	},
	{
		Name: "ReLUBackward", Func: "reluBackward", Go: "reluBackward",
		Doc: "reluBackward computes dx = dy where x > 0, else 0 (x the input).",
		Sig: "(dx, dy, x []float32)",
		Raw: "(dx, dy, x *float32, n int)",

		Check:  flat("x"),
		Bounds: []string{"dx, dy = dx[:len(x)], dy[:len(x)]"},
		Call:   "&dx[0], &dy[0], &x[0], len(x)",
	},
	{
		Name: "GELU", Go: "gelu",
		Doc: `GELU is the tanh approximation (PyTorch's approximate="tanh").`,
		Sig: "(y, x []float32)",
		Raw: "(y, x *float32, n int)",

		Check:  flat("x"),
		Bounds: []string{"y = y[:len(x)]"},
		Call:   "&y[0], &x[0], len(x)",
	},
	{
		Name: "GELUBackward", Func: "geluBackward", Go: "geluBackward",
		Doc: "geluBackward computes dx = dy·GELU'(x).",
		Sig: "(dx, dy, x []float32)",
		Raw: "(dx, dy, x *float32, n int)",

		Check:  flat("x"),
		Bounds: []string{"dx, dy = dx[:len(x)], dy[:len(x)]"},
		Call:   "&dx[0], &dy[0], &x[0], len(x)",
	},
	{
		Name: "Dropout", Go: "dropout",
		Doc: `Dropout computes y = x·mask/(1-p), element i of the slice drawing
counter base+i under key. The backward pass is the same call on the
gradient. p must be < 1.`,
		Sig: "(y, x []float32, p float32, key uint64, base uint32)",
		Raw: "(y, x *float32, n int, th uint32, sc float32, klo, khi, base uint32)",

		Check:  flat("x").or("p <= 0"),
		Bounds: []string{"y = y[:len(x)]"},
		Call:   "&y[0], &x[0], len(x), " + dropArgs,
	},
	{
		Name: "SoftmaxCausal", Go: "softmaxCausal",
		Doc: `SoftmaxCausal computes, for each n-wide row r of s, the softmax of
scale·s over columns 0..row0+r (the causal prefix), writing zeros
beyond it. row0 is the query position of the first row.`,
		Sig: "(p, s []float32, n int, scale float32, row0 int)",
		Raw: "(p, s *float32, rows, n int, scale float32, row0 int)",

		Check: rowsOf("s", "n").or("row0 < 0"),
		Bounds: []string{"// The last row reads min(row0+rows, n) scores.",
			"s = s[:(rows-1)*n+min(row0+rows, n)]", "p = p[:rows*n]"},
		Call: "&p[0], &s[0], rows, n, scale, row0",
	},
	{
		Name: "SoftmaxBackward", Go: "softmaxBackward",
		Doc: `SoftmaxBackward computes ds = scale·p⊙(dp − ⟨dp,p⟩) for each n-wide
row, the gradient through y = softmax(scale·s). Masked entries have
p = 0 and so get 0.`,
		Sig: "(ds, dp, p []float32, n int, scale float32)",
		Raw: "(ds, dp, p *float32, rows, n int, scale float32)",

		Check:  rowsOf("p", "n"),
		Bounds: []string{"m := rows * n", "ds, dp = ds[:m], dp[:m]"},
		Call:   "&ds[0], &dp[0], &p[0], rows, n, scale",
	},
	{
		// The method's body is hand-written: a Go loop over the rows
		// around two assembly passes (LogSoftmax's ceStats and ceGrad).
		Name: "SoftmaxCrossEntropy", Go: "softmaxCrossEntropy",
		Doc: `SoftmaxCrossEntropy computes, for each V-wide row of logits, the
cross-entropy against targets[r] with label smoothing eps (the target
distribution is (1-eps)·onehot + eps/V), returns the summed loss in
float64, and writes dlogits = gradScale·(softmax − target). A target
< 0 is ignored: zero loss and zero gradient.`,
		Sig:  "(dlogits, logits []float32, targets []int32, V int, eps, gradScale float32) float64",
		Raw:  "(dl, l *float32, n int, mx, ls, u, gs float32)",
		Asm:  "ceGrad",
		Hand: true,
	},
	{
		Name: "Adam", Go: "adam",
		Doc: `Adam applies one Adam/AdamW step to w in place:

	m = β1·m + (1-β1)·g;  v = β2·v + (1-β2)·g²
	w = w − decay·w − a·m/(s·sqrt(v) + eps)

with a = lr/(1-β1^t) (times RAdam's rectifier), s = 1/sqrt(1-β2^t),
decay = lr·weight_decay (decoupled). s = 0, eps = 1 gives RAdam's
un-rectified momentum step.`,
		Sig: "(w, g, m, v []float32, b1, b2, a, s, eps, decay float32)",
		Raw: "(w, g, m, v *float32, n int, b1, omb1, b2, omb2, a, sc, eps, decay float32)",

		Check:  flat("w"),
		Bounds: []string{"g, m, v = g[:len(w)], m[:len(w)], v[:len(w)]"},
		Call:   "&w[0], &g[0], &m[0], &v[0], len(w), b1, 1-b1, b2, 1-b2, a, s, eps, decay",
	},

	// The fused kernels: each gives its unfused sequence's result bit
	// for bit, and is that sequence when p <= 0.
	{
		Name: "ReLUDropout", Go: "reluDropout",
		Doc: "ReLUDropout computes y = Dropout(ReLU(x)) with the mask of (key, base).",
		Sig: "(y, x []float32, p float32, key uint64, base uint32)",
		Raw: "(y, x *float32, n int, th uint32, sc float32, klo, khi, base uint32)",

		Check:  flat("x").first("if p <= 0 { k.ReLU(y, x); return }"),
		Bounds: []string{"y = y[:len(x)]"},
		Call:   "&y[0], &x[0], len(x), " + dropArgs,
	},
	{
		Name: "ReLUDropoutBackward", Go: "reluDropoutBackward",
		Doc: "ReLUDropoutBackward computes dx = ReLU'(x)·Dropout(dy); dx may alias dy.",
		Sig: "(dx, dy, x []float32, p float32, key uint64, base uint32)",
		Raw: "(dx, dy, x *float32, n int, th uint32, sc float32, klo, khi, base uint32)",

		Check:  flat("x").first("if p <= 0 { k.ReLUBackward(dx, dy, x); return }"),
		Bounds: []string{"dx, dy = dx[:len(x)], dy[:len(x)]"},
		Call:   "&dx[0], &dy[0], &x[0], len(x), " + dropArgs,
	},
	{
		// The twin is written against the generic level's method, so the
		// method falls back on this level's unfused kernels instead.
		Name: "GELUDropout", Go: "geluDropout",
		Doc: "GELUDropout computes y = Dropout(GELU(x)).",
		Sig: "(y, x []float32, p float32, key uint64, base uint32)",
		Raw: "(y, x *float32, n int, th uint32, sc float32, klo, khi, base uint32)",

		Check:    flat("x").or("p <= 0"),
		Fallback: []string{"k.GELU(y, x)", "if p > 0 { k.Dropout(y, y[:len(x)], p, key, base) }"},
		Bounds:   []string{"y = y[:len(x)]"},
		Call:     "&y[0], &x[0], len(x), " + dropArgs,
	},
	{
		// As GELUDropout.
		Name: "GELUDropoutBackward", Go: "geluDropoutBackward",
		Doc: "GELUDropoutBackward computes dx = GELU'(x)·Dropout(dy); dx may alias dy.",
		Sig: "(dx, dy, x []float32, p float32, key uint64, base uint32)",
		Raw: "(dx, dy, x *float32, n int, th uint32, sc float32, klo, khi, base uint32)",

		Check:    flat("x").or("p <= 0"),
		Fallback: []string{"if p > 0 { k.Dropout(dx, dy[:len(x)], p, key, base); dy = dx }", "k.GELUBackward(dx, dy, x)"},
		Bounds:   []string{"dx, dy = dx[:len(x)], dy[:len(x)]"},
		Call:     "&dx[0], &dy[0], &x[0], len(x), " + dropArgs,
	},
	{
		Name: "DropoutScaleAddRows", Go: "dropoutScaleAddRows",
		Doc: `DropoutScaleAddRows computes y = w⊙x + Dropout(b) row by row, w a
d-vector and element i of b drawing counter base+i: the residual
update of Post-LN (w = 1) and Admin (w = ω) before its LayerNorm, and
of Pre-LN (w = 1). y may alias x or b.`,
		Sig: "(y, w, x, b []float32, d int, p float32, key uint64, base uint32)",
		Raw: "(y, w, x, b *float32, rows, d int, th uint32, sc float32, klo, khi, base uint32)",

		// d <= 0 does nothing on every path (ScaleAddRows and the twin
		// return at once).
		Check:  rowsOf("y", "d").first("if p <= 0 { k.ScaleAddRows(y, w, x, b, d); return }"),
		Bounds: []string{"n := rows * d", "w, x, b = w[:d], x[:n], b[:n]"},
		Call:   "&y[0], &w[0], &x[0], &b[0], rows, d, " + dropArgs,
	},
}
