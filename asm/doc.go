// Package asm holds the numerical kernels clinic's model runs on.
//
// Every kernel is a plain Go function over float32 slices. Each has a
// pure-Go implementation (the reference, or "twin") and, on amd64, may
// have generated AVX-512 and AVX2 assembly chosen at run time. The
// purego build tag selects the twins everywhere.
//
// Matrices are row-major. Kernels never allocate; parallel kernels
// partition their work statically over the worker pool, so for a given
// thread count results are bit-identical from run to run.
package asm
