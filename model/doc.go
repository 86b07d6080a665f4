// Package model is clinic's Transformer: its config, its parameters laid
// out in one weight arena and one gradient arena under their checkpoint
// names, their initialization, and one explicit forward and one explicit
// backward pass per sublayer over buffers planned once in New, so a
// training step allocates nothing.
//
// The decoder-only language model has three residual variants
// (docs/model.md gives the exact formulas):
//
//	postln: x = LN(x + Drop(F(x)))
//	preln:  x = x + Drop(F(LN(x))), with a final LN after the stack
//	admin:  x = LN(ω ⊙ x + Drop(F(x))), ω a trainable vector per sublayer
//
// Admin's ω is set before training by package admin, through the
// SublayerHook the forward pass offers; the model itself knows nothing of
// profiling. Kernels come from package asm.
package model
