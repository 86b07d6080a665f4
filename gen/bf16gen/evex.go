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

// vcvtne2ps2bf16 is VCVTNE2PS2BF16 zmm(reg), zmm(vvvv), zmm(rm): the 16
// values of rm rounded to the low 16 bf16 of reg, those of vvvv to the
// high 16. EVEX.512.F2.0F38.W0 72 /r.
func vcvtne2ps2bf16(reg, vvvv, rm int) []byte { return evex(3, 0x72, reg, vvvv, rm) }

// stand-ins are the AVX512-VNNI instructions the generator writes in
// place of the bf16 ones (same operand form, registers checked by avo),
// with the instruction each stands for.
var standIns = []struct {
	placeholder, name string
	encode            func(reg, vvvv, rm int) []byte
}{
	{"VPDPBUSD", "VDPBF16PS", vdpbf16ps},
	{"VPDPWSSD", "VCVTNE2PS2BF16", vcvtne2ps2bf16},
}

// placeholder is how avo writes a stand-in, in Go operand order
// (rm, vvvv, reg).
var placeholder = regexp.MustCompile(`^(\s*)(VPDPBUSD|VPDPWSSD)\s+Z([0-9]+), Z([0-9]+), Z([0-9]+)\s*$`)

// substitute replaces every placeholder line of the assembly file path
// by the bytes of the instruction it stands for, and fails on any other
// use of a stand-in's mnemonic.
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
			for _, s := range standIns {
				if bytes.Contains(line, []byte(s.placeholder)) {
					return fmt.Errorf("%s:%d: a %s that is not a register-form placeholder: %s", path, i+1, s.placeholder, line)
				}
			}
			out.Write(line)
			continue
		}
		rm, _ := strconv.Atoi(string(m[3]))
		vvvv, _ := strconv.Atoi(string(m[4]))
		reg, _ := strconv.Atoi(string(m[5]))
		var name string
		var encode func(reg, vvvv, rm int) []byte
		for _, s := range standIns {
			if s.placeholder == string(m[2]) {
				name, encode = s.name, s.encode
			}
		}
		fmt.Fprintf(&out, "%s// %s Z%d, Z%d, Z%d\n%s", m[1], name, rm, vvvv, reg, m[1])
		for j, b := range encode(reg, vvvv, rm) {
			if j > 0 {
				out.WriteString("; ")
			}
			fmt.Fprintf(&out, "BYTE $0x%02x", b)
		}
		out.WriteString("\n")
		n++
	}
	if n == 0 {
		return fmt.Errorf("%s: no bf16 placeholder", path)
	}
	return os.WriteFile(path, out.Bytes(), 0o644)
}
