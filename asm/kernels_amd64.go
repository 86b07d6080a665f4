//go:build !purego

package asm

import "golang.org/x/sys/cpu"

//go:generate go run ../gen/kernelgen -out kernels_amd64.s -stubs kernels_stubs_amd64.go

// The avo-generated kernels (kernels_amd64.s, declared in
// kernels_stubs_amd64.go; generator: gen/kernelgen), one set per level.

var kernels512 = &kernelSet{
	name:               LevelAVX512,
	dropout:            dropout512,
	relu:               relu512,
	gelu:               gelu512,
	reluBackward:       reluBackward512,
	geluBackward:       geluBackward512,
	adam:               adam512,
	scale:              scale512,
	sumSq:              sumSq512,
	scaleAddRows:       scaleAddRows512,
	colSum:             colSum512,
	colDot:             colDot512,
	layerNormParamGrad: layerNormParamGrad512,
	layerNorm:          layerNorm512,
	layerNormBackward:  layerNormBackward512,
	softmaxCausal:      softmaxCausal512,
	softmaxBackward:    softmaxBackward512,
	ceStats:            ceStats512,
	ceGrad:             ceGrad512,

	reluDropout:         reluDropout512,
	reluDropoutBackward: reluDropoutBackward512,
	geluDropout:         geluDropout512,
	geluDropoutBackward: geluDropoutBackward512,
	dropoutScaleAddRows: dropoutScaleAddRows512,
}

var kernels256 = &kernelSet{
	name:               LevelAVX2,
	dropout:            dropout256,
	relu:               relu256,
	gelu:               gelu256,
	reluBackward:       reluBackward256,
	geluBackward:       geluBackward256,
	adam:               adam256,
	scale:              scale256,
	sumSq:              sumSq256,
	scaleAddRows:       scaleAddRows256,
	colSum:             colSum256,
	colDot:             colDot256,
	layerNormParamGrad: layerNormParamGrad256,
	layerNorm:          layerNorm256,
	layerNormBackward:  layerNormBackward256,
	softmaxCausal:      softmaxCausal256,
	softmaxBackward:    softmaxBackward256,
	ceStats:            ceStats256,
	ceGrad:             ceGrad256,

	reluDropout:         reluDropout256,
	reluDropoutBackward: reluDropoutBackward256,
	geluDropout:         geluDropout256,
	geluDropoutBackward: geluDropoutBackward256,
	dropoutScaleAddRows: dropoutScaleAddRows256,
}

// asmKernelSets lists the assembly kernel sets of the levels this CPU
// supports (cpuKernels decides which), best first. The AVX-512 kernels
// also use AVX512VL (for ymm/xmm operands in registers 16-31); a CPU
// without it runs the AVX2 set at level avx512.
func asmKernelSets() []*kernelSet {
	var ks []*kernelSet
	for _, g := range cpuKernels() {
		switch g.name {
		case LevelAVX512:
			if cpu.X86.HasAVX512VL {
				ks = append(ks, kernels512)
			} else {
				k := *kernels256
				k.name = LevelAVX512
				ks = append(ks, &k)
			}
		case LevelAVX2:
			ks = append(ks, kernels256)
		}
	}
	return ks
}
