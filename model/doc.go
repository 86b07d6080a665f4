// Package model is clinic's Transformer: its config, its parameters laid
// out in one weight arena and one gradient arena under their checkpoint
// names, their initialization, and one explicit forward and one explicit
// backward pass per sublayer over buffers planned once in New, so a
// training step allocates nothing.
//
// Every stack (the language model's, the translator's encoder and
// decoder) has one of six residual variants (docs/model.md gives the exact
// formulas and their sources):
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
// Admin's ω is set before training by package admin, through the
// SublayerHook the forward pass offers; the model itself knows nothing of
// profiling. Kernels come from package asm.
package model
