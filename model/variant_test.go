package model

import (
	"strings"
	"testing"
)

// Every variant is one complete definition, and what lists the variants
// (Norms, NormList, Validate) comes from the definitions.
func TestVariantDefinitions(t *testing.T) {
	if len(Norms) != len(variants) {
		t.Fatalf("Norms has %d names for %d definitions", len(Norms), len(variants))
	}
	for i, v := range variants {
		f := v.form
		switch {
		case Norms[i] != v.name || variantOf(v.name) != v:
			t.Errorf("definition %d (%s) is not Norms[%d] (%s)", i, v.name, i, Norms[i])
		case f == nil || f.forward == nil || f.backward == nil || f.step == nil:
			t.Errorf("%s: its form lacks a path", v.name)
		case f.fused != fusedNone && !f.ln:
			t.Errorf("%s: fused regions without a LayerNorm", v.name)
		case f.finalLN && f.residual != LNThenBranch, !f.ln && f.residual == SumThenLN:
			t.Errorf("%s: its dependency term does not match its form", v.name)
		case !strings.Contains(NormList, v.name):
			t.Errorf("NormList %q lacks %s", NormList, v.name)
		}
		if err := TinyConfig(v.name, "relu").Validate(); err != nil {
			t.Errorf("%s: %v", v.name, err)
		}
	}
	if err := TinyConfig("sandwich", "relu").Validate(); err == nil || !strings.Contains(err.Error(), NormList) {
		t.Errorf("an unknown norm: %v", err)
	}
}
