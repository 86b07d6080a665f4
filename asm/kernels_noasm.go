//go:build !amd64 || purego

package asm

// asmKernelSets: no assembly kernels without amd64 or under purego.
func asmKernelSets() []*kernelSet { return nil }
