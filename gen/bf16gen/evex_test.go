package main

import (
	"bytes"
	"testing"
)

// Encodings as llvm-mc prints them (llvm-mc -show-encoding, Intel
// syntax: dst, src1, src2).
func TestVDPBF16PSEncoding(t *testing.T) {
	for _, c := range []struct {
		reg, vvvv, rm int
		want          []byte
	}{
		{1, 2, 3, []byte{0x62, 0xf2, 0x6e, 0x48, 0x52, 0xcb}},
		{17, 30, 9, []byte{0x62, 0xc2, 0x0e, 0x40, 0x52, 0xc9}},
		{0, 31, 28, []byte{0x62, 0x92, 0x06, 0x40, 0x52, 0xc4}},
	} {
		if got := vdpbf16ps(c.reg, c.vvvv, c.rm); !bytes.Equal(got, c.want) {
			t.Errorf("vdpbf16ps zmm%d, zmm%d, zmm%d = % x, want % x", c.reg, c.vvvv, c.rm, got, c.want)
		}
	}
	// The placeholder's own encoding (VPDPBUSD zmm1, zmm2, zmm3: pp 66,
	// opcode 50) checks the shared EVEX fields.
	if got, want := evex(1, 0x50, 1, 2, 3), []byte{0x62, 0xf2, 0x6d, 0x48, 0x50, 0xcb}; !bytes.Equal(got, want) {
		t.Errorf("vpdpbusd zmm1, zmm2, zmm3 = % x, want % x", got, want)
	}
}

// VCVTNE2PS2BF16 as GNU objdump decodes these bytes (Intel order dst,
// src1, src2).
func TestVCVTNE2PS2BF16Encoding(t *testing.T) {
	for _, c := range []struct {
		reg, vvvv, rm int
		want          []byte
	}{
		{2, 1, 0, []byte{0x62, 0xf2, 0x77, 0x48, 0x72, 0xd0}},
		{4, 1, 0, []byte{0x62, 0xf2, 0x77, 0x48, 0x72, 0xe0}},
	} {
		if got := vcvtne2ps2bf16(c.reg, c.vvvv, c.rm); !bytes.Equal(got, c.want) {
			t.Errorf("vcvtne2ps2bf16 zmm%d, zmm%d, zmm%d = % x, want % x", c.reg, c.vvvv, c.rm, got, c.want)
		}
	}
}
