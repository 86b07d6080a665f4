//go:build !linux

package asm

import "time"

// threadCPU falls back to the wall clock where the thread CPU clock is
// not wired up.
func threadCPU() time.Duration { return time.Duration(time.Now().UnixNano()) }

// processCPU falls back to the wall clock.
func processCPU() time.Duration { return time.Duration(time.Now().UnixNano()) }
