//go:build !amd64 || purego

package asm

// Without assembly (the purego tag, or a non-amd64 architecture) only
// the pure-Go twins run.
func asmLevels() []*level { return nil }

func hasAMX() bool { return false }
