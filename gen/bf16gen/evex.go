package main

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"strconv"
)

// evex encodes an EVEX.512.0F38.W0 instruction with three zmm register
// operands and no masking: reg (ModRM.reg, the destination), vvvv (the
// first source) and rm (ModRM.rm, the second source). pp selects the
// implied prefix: 1 = 66, 2 = F3, 3 = F2.
func evex(pp, opcode byte, reg, vvvv, rm int) []byte {
	bit := func(v, i int) byte { return byte(v>>i) & 1 }
	p0 := (1-bit(reg, 3))<<7 | (1-bit(rm, 4))<<6 | (1-bit(rm, 3))<<5 | (1-bit(reg, 4))<<4 | 0b10 // map 0F38
	p1 := (^byte(vvvv)&0xF)<<3 | 1<<2 | pp                                                       // W0
	p2 := byte(0b10)<<5 | (1-bit(vvvv, 4))<<3                                                    // L'L = 512, V'
	modrm := 0b11<<6 | byte(reg&7)<<3 | byte(rm&7)
	return []byte{0x62, p0, p1, p2, opcode, modrm}
}

// vdpbf16ps is VDPBF16PS zmm(reg), zmm(vvvv), zmm(rm):
// EVEX.512.F3.0F38.W0 52 /r.
func vdpbf16ps(reg, vvvv, rm int) []byte { return evex(2, 0x52, reg, vvvv, rm) }

// placeholder is how avo writes the stand-in, in Go operand order
// (rm, vvvv, reg).
var placeholder = regexp.MustCompile(`^(\s*)VPDPBUSD\s+Z([0-9]+), Z([0-9]+), Z([0-9]+)\s*$`)

// substitute replaces every placeholder line of the assembly file path
// by the bytes of its VDPBF16PS, and fails on any other VPDPBUSD.
func substitute(path string) error {
	src, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var out bytes.Buffer
	n := 0
	for i, line := range bytes.SplitAfter(src, []byte("\n")) {
		m := placeholder.FindSubmatch(bytes.TrimRight(line, "\n"))
		if m == nil {
			if bytes.Contains(line, []byte("VPDPBUSD")) {
				return fmt.Errorf("%s:%d: a VPDPBUSD that is not a register-form placeholder: %s", path, i+1, line)
			}
			out.Write(line)
			continue
		}
		rm, _ := strconv.Atoi(string(m[2]))
		vvvv, _ := strconv.Atoi(string(m[3]))
		reg, _ := strconv.Atoi(string(m[4]))
		fmt.Fprintf(&out, "%s// VDPBF16PS Z%d, Z%d, Z%d\n%s", m[1], rm, vvvv, reg, m[1])
		for j, b := range vdpbf16ps(reg, vvvv, rm) {
			if j > 0 {
				out.WriteString("; ")
			}
			fmt.Fprintf(&out, "BYTE $0x%02x", b)
		}
		out.WriteString("\n")
		n++
	}
	if n == 0 {
		return fmt.Errorf("%s: no VDPBF16PS placeholder", path)
	}
	return os.WriteFile(path, out.Bytes(), 0o644)
}
