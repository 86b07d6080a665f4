package model

// Accessors for the amplification analysis (package admin). They expose
// state of the last Forward and change nothing.

// Output returns the stack's output of the last Forward, the rows fed to
// the logits, [rows, d]: the last sublayer's LayerNorm output for postln
// and admin (the same slice as Stream(2L)), the final LayerNorm's output
// for preln.
func (m *Model) Output() []float32 { return m.dec.out() }
