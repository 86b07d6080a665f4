//go:build !linux

package asm

import "errors"

func pinSelf(int) error { return errors.New("pinning threads to CPUs needs Linux") }

func allowedCPUs() ([]int, error) { return nil, errors.New("pinning threads to CPUs needs Linux") }
