// Command kernelgen generates clinic's non-GEMM amd64 kernels with avo:
// an AVX-512 (suffix 512) and an AVX2 (suffix 256) version of each.
//
// It is run by go generate in package asm (see asm/kernels_amd64.go):
//
//	go run -C ../gen ./kernelgen -pkg asm -out ../asm/kernels_amd64.s -stubs ../asm/kernels_stubs_amd64.go
//
// avo writes the Go declarations (kernels_stubs_amd64.go) too; the
// level tables that use them, and the Go glue around them, are written
// by gen/gluegen from its spec table. Each kernel
// is written once against the isa type (isa.go), which hides the vector
// width and the way a partial (tail) vector is masked: a K register and
// masked moves for AVX-512, a lane mask and VMASKMOVPS for AVX2. Masked
// loads never touch memory beyond the operands.
//
// The kernel families are in activations.go, dropout.go, fused.go,
// layernorm.go, softmax.go, adam.go, vector.go, reductions.go and
// attend.go; the shared pieces in isa.go, loops.go, consts.go and exp.go.
package main

import (
	"flag"

	"github.com/clinic-ml/clinic/gen/internal/avoutil"
	. "github.com/mmcloughlin/avo/build"
)

func main() {
	ConstraintExpr("!purego")
	emitConsts()
	for _, s := range []*isa{isa512, isa256} {
		s.dropout()
		s.relu()
		s.reluBackward()
		s.gelu()
		s.geluBackward()
		s.adam()
		s.scale()
		s.sumSq()
		s.scaleAddRows()
		s.colSum()
		s.colDot()
		s.layerNormParamGrad()
		s.layerNorm()
		s.layerNormBackward()
		s.softmaxCausal()
		s.softmaxBackward()
		s.reluDropout()
		s.reluDropoutBackward()
		s.geluDropout()
		s.geluDropoutBackward()
		s.dropoutScaleAddRows()
		s.expv()
		s.ceStats()
		s.ceGrad()
		s.dotRows()
		s.axpyRows()
	}
	Generate()
	avoutil.CheckAVX2Regs("kernelgen", flag.Lookup("out").Value.String())
}
