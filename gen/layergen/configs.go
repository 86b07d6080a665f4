package main

// configs are the model configs the layer code is generated for. To run
// a config of your own on generated code, append an entry and run
// `go generate ./...` at the repository root. Entries that share a
// (norm, d_model, heads, d_ff, activation) share one generated layer;
// the layer count, sequence length and batch only size the step
// benchmarks (BenchmarkTrainStep trains every entry marked Bench).
//
// Norms: those of the list norms below. ReZero and T-Fixup, whose forms
// have no fused regions, run the generic path.
var configs = []config{
	// The step benchmarks (the README's performance table); L6_d256 is
	// also 'clinic train's default model.
	{Name: "L6_d256", Norm: "admin", Layers: 6, D: 256, H: 4, F: 1024, T: 128, Batch: 16, Bench: true},
	{Name: "L18_d256", Norm: "admin", Layers: 18, D: 256, H: 4, F: 1024, T: 128, Batch: 16, Bench: true},
	{Name: "L6_d512", Norm: "admin", Layers: 6, D: 512, H: 8, F: 2048, T: 256, Batch: 8, Bench: true},
	{Name: "L6_d256_postln", Norm: "postln", Layers: 6, D: 256, H: 4, F: 1024, T: 128, Batch: 16},
	// The depth experiments ('clinic analyze sweep', language model and
	// translation): d_model 128, 4 heads, d_ff 512.
	{Name: "L18_d128_admin", Norm: "admin", Layers: 18, D: 128, H: 4, F: 512, T: 128, Batch: 16},
	{Name: "L18_d128_postln", Norm: "postln", Layers: 18, D: 128, H: 4, F: 512, T: 128, Batch: 16},
	{Name: "L18_d128_deepnorm", Norm: "deepnorm", Layers: 18, D: 128, H: 4, F: 512, T: 128, Batch: 16},
	{Name: "L18_d128_preln", Norm: "preln", Layers: 18, D: 128, H: 4, F: 512, T: 128, Batch: 16},
	// Translation: the encoder–decoder of the table (6+6, d_model 128)
	// and of the PyTorch comparison (6+6, d_model 256).
	{Name: "T6_d128", Norm: "admin", EncoderLayers: 6, Layers: 6, D: 128, H: 4, F: 512, T: 64, Batch: 32},
	{Name: "T6_d256", Norm: "admin", EncoderLayers: 6, Layers: 6, D: 256, H: 4, F: 1024, T: 32, Batch: 128},
	{Name: "T6_d128_postln", Norm: "postln", EncoderLayers: 6, Layers: 6, D: 128, H: 4, F: 512, T: 64, Batch: 32},
	{Name: "T6_d128_preln", Norm: "preln", EncoderLayers: 6, Layers: 6, D: 128, H: 4, F: 512, T: 64, Batch: 32},
	// The PyTorch fixtures (model/testdata): the fixture tests run their
	// variants through both paths.
	{Name: "fixture_admin_relu", Norm: "admin", Layers: 2, D: 16, H: 2, F: 32, T: 8, Batch: 2},
	{Name: "fixture_admin_gelu_l3", Norm: "admin", Activation: "gelu", Layers: 3, D: 24, H: 3, F: 40, T: 7, Batch: 2},
	{Name: "fixture_postln_relu", Norm: "postln", Layers: 2, D: 16, H: 2, F: 32, T: 8, Batch: 2},
	{Name: "fixture_deepnorm_relu", Norm: "deepnorm", Layers: 3, D: 16, H: 2, F: 32, T: 8, Batch: 2},
	{Name: "fixture_preln_gelu", Norm: "preln", Activation: "gelu", Layers: 2, D: 16, H: 2, F: 32, T: 8, Batch: 2},
	{Name: "fixture_s2s_deepnorm_gelu", Norm: "deepnorm", Activation: "gelu", EncoderLayers: 3, Layers: 2, D: 16, H: 2, F: 32, T: 8, Batch: 2},
}

// norms are the variants layer code is generated for, each with its
// form's fused regions: the form field of its definition in
// model/variant.go, whose regions model/fused.go runs. A variant of an
// existing form joins with one line here (model's
// TestGeneratedForms checks the list against the definitions).
var norms = []struct{ name, fused string }{
	{"postln", sumThenLN},
	{"preln", lnThenBranch},
	{"admin", sumThenLN},
	{"deepnorm", sumThenLN},
}

// The fused regions of model/fused.go, as model/variant.go names them.
const (
	sumThenLN    = "fusedSumThenLN"    // x' = LN(w⊙x + Drop(F(x)))
	lnThenBranch = "fusedLNThenBranch" // x' = x + Drop(F(LN(x)))
)
