//go:build !purego

package asm

//go:generate go run -C ../gen ./kernelgen -pkg asm -out ../asm/kernels_amd64.s -stubs ../asm/kernels_stubs_amd64.go

// The element-wise kernels of the assembly levels (see cpu_amd64.go):
// avo-generated, in kernels_amd64.s, declared in kernels_stubs_amd64.go
// (generator: gen/kernelgen).

var elementwiseAVX512 = elementwise{
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
	dotRows:            dotRows512,
	axpyRows:           axpyRows512,

	reluDropout:         reluDropout512,
	reluDropoutBackward: reluDropoutBackward512,
	geluDropout:         geluDropout512,
	geluDropoutBackward: geluDropoutBackward512,
	dropoutScaleAddRows: dropoutScaleAddRows512,
}

var elementwiseAVX2 = elementwise{
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
	dotRows:            dotRows256,
	axpyRows:           axpyRows256,

	reluDropout:         reluDropout256,
	reluDropoutBackward: reluDropoutBackward256,
	geluDropout:         geluDropout256,
	geluDropoutBackward: geluDropoutBackward256,
	dropoutScaleAddRows: dropoutScaleAddRows256,
}
