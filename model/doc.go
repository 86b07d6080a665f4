// Package model is clinic's Transformer, in two shapes: Model, a
// decoder-only language model, and Seq2Seq, an encoder–decoder
// translator (with Translator, its incremental decoder for beam search).
// It holds their config, their parameters laid out in one weight arena
// and one gradient arena under their checkpoint names, their
// initialization, and one explicit forward and one explicit backward
// pass per sublayer over buffers planned once in New (NewSeq2Seq,
// NewTranslator), so a training step allocates nothing.
//
// Every stack (the language model's, the translator's encoder and
// decoder) has one of six residual variants, each defined once in
// variant.go (docs/model.md gives the exact formulas and their sources):
//
//	postln:   x = LN(x + Drop(F(x)))
//	preln:    x = x + Drop(F(LN(x))), with a final LN after the stack
//	admin:    x = LN(ω ⊙ x + Drop(F(x))), ω a trainable vector per sublayer
//	deepnorm: x = LN(α·x + Drop(F(x))), α a constant of the depth, and a
//	          depth-scaled init (DeepNet)
//	rezero:   x = x + α·Drop(F(x)), α a trainable scalar per sublayer
//	          starting at 0, no LayerNorm (ReZero)
//	tfixup:   x = x + Drop(F(x)), no LayerNorm, a depth-scaled init (T-Fixup)
//
// Shapes listed in gen/layergen/configs.go also run layer code generated
// for them (layers_gen.go, fused.go), bit-identical to the generic path.
//
// Admin's ω is set before training by package admin, through the
// SublayerHook the forward pass offers; the model itself knows nothing of
// profiling. Kernels come from package asm.
package model
