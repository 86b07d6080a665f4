package asm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestBF16Rounding: round to nearest even on the 16 dropped bits, ties
// to even, NaN kept (quiet), infinities kept, subnormals to signed zero,
// and overflow of the largest finite values to infinity.
func TestBF16Rounding(t *testing.T) {
	for _, c := range []struct {
		in   uint32
		want uint16
	}{
		{0x3f800000, 0x3f80}, // 1
		{0x3f808000, 0x3f80}, // tie, even stays
		{0x3f818000, 0x3f82}, // tie, odd rounds up
		{0x3f808001, 0x3f81}, // above the tie
		{0x3f807fff, 0x3f80}, // below the tie
		{0xbf80c000, 0xbf81}, // negative
		{0x7f7fffff, 0x7f80}, // the largest float32 rounds to +Inf
		{0x7f800000, 0x7f80}, // +Inf
		{0xff800000, 0xff80}, // -Inf
		{0x7fc00000, 0x7fc0}, // quiet NaN
		{0x7f800001, 0x7fc0}, // signalling NaN with only low bits: still NaN
		{0xffa00000, 0xffe0}, // negative signalling NaN, quieted
		{0x00000001, 0x0000}, // subnormal to +0
		{0x807fffff, 0x8000}, // subnormal to -0
		{0x00800000, 0x0080}, // the smallest normal stays
		{0x80000000, 0x8000}, // -0
	} {
		if got := BF16(math.Float32frombits(c.in)); got != c.want {
			t.Errorf("BF16(%#08x) = %#04x, want %#04x", c.in, got, c.want)
		}
	}
	// Against float64 rounding for random normal values: the bf16 is the
	// nearest representable value (ties aside).
	r := newRand(301)
	for i := 0; i < 100000; i++ {
		x := float32(math.Ldexp(2*r.Float64()-1, r.IntN(60)-30))
		if x == 0 {
			continue
		}
		got := BF16Float(BF16(x))
		d := math.Abs(float64(got) - float64(x))
		ulp := math.Ldexp(1, math.Ilogb(float64(x))-7)
		if d > ulp/2 {
			t.Fatalf("BF16(%v) = %v, off by %g > half an ulp %g", x, got, d, ulp/2)
		}
	}
}

// bf16Asm is the assembly bf16 kernel this CPU runs, or nil.
func bf16Asm() *bf16Kernel {
	for _, l := range supported {
		if l.bf16 != nil {
			return l.bf16
		}
	}
	return nil
}

// bf16Impls lists the bf16 GEMMs this CPU runs: the twin, then the
// assembly kernel if the CPU has AVX512-BF16.
func bf16Impls() []named[sgemmFunc] {
	impls := []named[sgemmFunc]{{"go", sgemmBF16Generic}}
	for _, l := range supported {
		if l.bf16 != nil {
			kn := l.bf16
			impls = append(impls, named[sgemmFunc]{l.name + "-bf16",
				func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
					kn.run(nil, transA, transB, m, n, k, alpha, a, lda, b, ldb, nil, nil, beta, c, ldc)
				}}, named[sgemmFunc]{l.name + "-bf16-3threads",
				func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
					kn.run(testPool, transA, transB, m, n, k, alpha, a, lda, b, ldb, nil, nil, beta, c, ldc)
				}})
		}
	}
	// The packed operand at the current level, packed and used on one
	// thread and on three.
	for _, pool := range []*Pool{nil, testPool} {
		name := "packed-" + BF16Level()
		if pool != nil {
			name += "-3threads"
		}
		impls = append(impls, named[sgemmFunc]{name,
			func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
				pb := pool.PackBF16(nil, transB, k, n, b, ldb)
				pool.SgemmBF16Packed(transA, m, alpha, a, lda, pb, beta, c, ldc)
			}})
	}
	return impls
}

// TestSgemmBF16Impls runs every bf16 GEMM on the same guarded operands
// over shapes with tails in every dimension (rows past the 14-row
// panel, columns past 32, odd k, k past one block of bf16KC pairs), all
// transpositions and leading dimensions with padding. With alpha = 1 and
// beta = 0 the kernel must equal the twin bit for bit; with a beta it
// may differ in the last fused multiply-add's double-rounding ties only.
func TestSgemmBF16Impls(t *testing.T) {
	impls := bf16Impls()
	if bf16Asm() == nil {
		t.Logf("no AVX512-BF16 here: the twin only")
	}
	r := newRand(302)
	type shape struct{ m, n, k int }
	shapes := []shape{{1, 1, 1}, {1, 1, 2}, {3, 5, 7}, {14, 32, 16}, {15, 33, 17}, {13, 31, 2*bf16KC + 3}, {29, 70, 64}, {28, 64, 1}, {2, 100, 2 * bf16KC}, {bf16MCPanels*14 + 30, 40, 33}}
	if testing.Short() {
		shapes = append(shapes[:6], shapes[len(shapes)-1])
	}
	for _, s := range shapes {
		for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
			for _, ab := range [][2]float32{{1, 0}, {0.5, 0}, {1, 1}, {-2, 0.25}} {
				ta, tb := tr[0], tr[1]
				lda, ldb, ldc := s.k+3, s.n+1, s.n+2
				if ta {
					lda = s.m + 1
				}
				if tb {
					ldb = s.k + 2
				}
				ar, ac := s.m, s.k
				if ta {
					ar, ac = s.k, s.m
				}
				br, bc := s.k, s.n
				if tb {
					br, bc = s.n, s.k
				}
				A, B := strided(r, ar, ac, lda), strided(r, br, bc, ldb)
				C := strided(r, s.m, s.n, ldc)
				var want gbuf
				for i, im := range impls {
					cc := C.clone()
					im.fn(ta, tb, s.m, s.n, s.k, ab[0], A.s(), lda, B.s(), ldb, ab[1], cc.s(), ldc)
					lbl := fmt.Sprintf("%s m=%d n=%d k=%d trans=%v alpha=%v beta=%v", im.name, s.m, s.n, s.k, tr, ab[0], ab[1])
					checkGuards(t, lbl, cc)
					if i == 0 {
						want = cc
						continue
					}
					tol := 0.0
					if ab[1] != 0 || ab[0] != 1 && ab[0] != 0.5 {
						tol = 1.2e-7
					}
					bad := 0
					for q, g := range cc.full {
						if !closeTo(float64(g), float64(want.full[q]), tol) && !(math.IsNaN(float64(g)) && math.IsNaN(float64(want.full[q]))) {
							if bad < 3 {
								t.Errorf("%s: element %d = %v, twin %v", lbl, q-guardLen, g, want.full[q])
							}
							bad++
						}
					}
				}
			}
		}
	}
}

// TestSgemmBF16Accuracy: the bf16 product is the fp32 product of the
// rounded operands, so it is close to Sgemm's on the raw operands
// (relative error about 2⁻⁸·√k), and exact on values bf16 holds.
func TestSgemmBF16Accuracy(t *testing.T) {
	r := newRand(303)
	m, n, k := 20, 40, 300
	a, b := make([]float32, m*k), make([]float32, k*n)
	fill(r, a, -1, 1)
	fill(r, b, -1, 1)
	c, ref := make([]float32, m*n), make([]float32, m*n)
	SgemmBF16(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
	sgemmGeneric(false, false, m, n, k, 1, a, k, b, n, 0, ref, n)
	var num, den float64
	for i := range c {
		num += float64(c[i]-ref[i]) * float64(c[i]-ref[i])
		den += float64(ref[i]) * float64(ref[i])
	}
	if rel := math.Sqrt(num / den); rel > 1e-2 || rel < 1e-5 {
		t.Errorf("bf16 against fp32: relative error %.3g, want about 2⁻⁸ (a bf16 rounding, not none, not more)", rel)
	}
	// Small integers are exact in bf16 and their sums exact in fp32.
	for i := range a {
		a[i] = float32(r.IntN(9) - 4)
	}
	for i := range b {
		b[i] = float32(r.IntN(9) - 4)
	}
	SgemmBF16(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
	sgemmGeneric(false, false, m, n, k, 1, a, k, b, n, 0, ref, n)
	for i := range c {
		if c[i] != ref[i] {
			t.Fatalf("integer operands: element %d = %v, want %v", i, c[i], ref[i])
		}
	}
}

// TestSgemmBF16Special: NaN and infinity propagate, subnormal operands
// count as zero, and a sum that falls below the normal range flushes
// to zero, in the kernel as in the twin.
func TestSgemmBF16Special(t *testing.T) {
	sub := math.Float32frombits(0x00400000) // subnormal
	tiny := float32(math.Ldexp(1, -70))     // normal, its square is not
	for _, c := range []struct {
		name string
		a, b []float32
		want func(float32) bool
	}{
		{"nan", []float32{1, float32(math.NaN())}, []float32{1, 1}, func(v float32) bool { return v != v }},
		{"inf", []float32{float32(math.Inf(1)), 1}, []float32{1, 1}, func(v float32) bool { return math.IsInf(float64(v), 1) }},
		{"inf-inf", []float32{float32(math.Inf(1)), float32(math.Inf(1))}, []float32{1, -1}, func(v float32) bool { return v != v }},
		{"subnormal", []float32{sub, 1}, []float32{1e30, 2}, func(v float32) bool { return v == 2 }},
		{"underflow", []float32{tiny, 0}, []float32{tiny, 0}, func(v float32) bool { return v == 0 }},
	} {
		for _, im := range bf16Impls() {
			out := []float32{7}
			im.fn(false, false, 1, 1, 2, 1, c.a, 2, c.b, 1, 0, out, 1)
			if !c.want(out[0]) {
				t.Errorf("%s [%s]: got %v", c.name, im.name, out[0])
			}
		}
	}
}

// TestBF16KernelBytes disassembles the bf16 microkernels' machine code
// as it is loaded in this test binary (objdump, where installed) and
// checks that the emitted bytes are the VDPBF16PS instructions the
// generator meant: 2 per row and k step, in the unrolled loop and its
// tail, and no stand-in VPDPBUSD or undecodable bytes.
func TestBF16KernelBytes(t *testing.T) {
	kn := bf16Asm()
	if kn == nil {
		t.Skip("no assembly bf16 kernel in this build or on this CPU")
	}
	objdump, err := exec.LookPath("objdump")
	if err != nil {
		t.Skip("objdump not installed")
	}
	for _, c := range []struct {
		fn   bf16Func
		rows int
	}{{kn.fn, 14}, {kn.edge[5], 5}, {kn.rows[14], 14}, {kn.rows[3], 3}} {
		code := funcCode(t, objdump, reflect.ValueOf(c.fn).Pointer())
		s := disassemble(t, objdump, code.addr, code.bytes)
		if got, want := strings.Count(s, "vdpbf16ps"), 2*c.rows*5; got != want {
			t.Errorf("%d rows: %d vdpbf16ps, want %d:\n%s", c.rows, got, want, s)
		}
		if strings.Contains(s, "vpdpbusd") || strings.Contains(s, "(bad)") {
			t.Errorf("%d rows: a stand-in or undecodable instruction is left:\n%s", c.rows, s)
		}
		if !strings.Contains(s, "vdpbf16ps %zmm28,%zmm30,%zmm0") {
			t.Errorf("%d rows: the first row's product is not vdpbf16ps %%zmm28,%%zmm30,%%zmm0:\n%s", c.rows, s)
		}
	}
	// The packers round with VCVTNE2PS2BF16: packRows in its loop and
	// its tail, packPairs twice in its loop and twice for an odd pair.
	for _, c := range []struct {
		name string
		fn   any
		want int
	}{{"packRows", kn.packRows, 2}, {"packPairs", kn.packPairs, 4}} {
		code := funcCode(t, objdump, reflect.ValueOf(c.fn).Pointer())
		s := disassemble(t, objdump, code.addr, code.bytes)
		if got := strings.Count(s, "vcvtne2ps2bf16"); got != c.want {
			t.Errorf("%s: %d vcvtne2ps2bf16, want %d:\n%s", c.name, got, c.want, s)
		}
		if strings.Contains(s, "vpdpwssd") || strings.Contains(s, "(bad)") {
			t.Errorf("%s: a stand-in or undecodable instruction is left:\n%s", c.name, s)
		}
	}
}

type machineCode struct {
	addr  uintptr
	bytes []byte
}

// funcCode returns the machine code of the assembly function behind the
// Go func value at pc: the value points at the linker's ABI wrapper,
// whose call leads to the assembly; the function ends where the
// runtime's function table says the next one begins.
func funcCode(t *testing.T, objdump string, pc uintptr) machineCode {
	t.Helper()
	w := codeAt(t, pc)
	s := disassemble(t, objdump, pc, w)
	target := uintptr(0)
	for _, l := range strings.Split(s, "\n") {
		if i := strings.Index(l, "call"); i >= 0 {
			f := strings.Fields(l[i:])
			if len(f) >= 2 {
				if v, err := strconv.ParseUint(strings.TrimPrefix(f[1], "0x"), 16, 64); err == nil {
					target = uintptr(v)
					break
				}
			}
		}
	}
	if target == 0 {
		// No wrapper: the value is the function itself.
		target = pc
	}
	return machineCode{target, codeAt(t, target)}
}

// codeAt reads the bytes of the function that contains pc, from pc to
// its end, from /proc/self/mem.
func codeAt(t *testing.T, pc uintptr) []byte {
	t.Helper()
	f := runtime.FuncForPC(pc)
	end := pc
	for end-pc < 1<<16 && runtime.FuncForPC(end) == f {
		end++
	}
	mem, err := os.Open("/proc/self/mem")
	if err != nil {
		t.Skipf("reading this process's code: %v", err)
	}
	defer mem.Close()
	b := make([]byte, end-pc)
	if _, err := mem.ReadAt(b, int64(pc)); err != nil {
		t.Skipf("reading this process's code: %v", err)
	}
	return b
}

func disassemble(t *testing.T, objdump string, addr uintptr, code []byte) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "code.bin")
	if err := os.WriteFile(f, code, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(objdump, "-D", "-b", "binary", "-m", "i386:x86-64", "--no-show-raw-insn",
		fmt.Sprintf("--adjust-vma=%#x", addr), f).Output()
	if err != nil {
		t.Skipf("objdump: %v", err)
	}
	return string(out)
}

// TestBF16Pays: the choice follows the ratio of the peaks, and a CPU
// without the bf16 kernel never picks it.
func TestBF16Pays(t *testing.T) {
	for _, c := range []struct {
		p    Peaks
		want bool
	}{
		{Peaks{FMA: 233, BF16: 476}, true},  // AMD EPYC Zen 5
		{Peaks{FMA: 120, BF16: 60}, false},  // VDPBF16PS at half the FMA rate
		{Peaks{FMA: 200, BF16: 290}, false}, // 1.45×: not enough
		{Peaks{FMA: 200, BF16: 0}, false},
		{Peaks{FMA: 0, BF16: 100}, true},
	} {
		if got, why := c.p.BF16Pays(); got != c.want || why == "" {
			t.Errorf("%+v: BF16Pays = %v (%q), want %v", c.p, got, why, c.want)
		}
	}
	p := MeasurePeaks(5 * time.Millisecond)
	if p.FMA <= 0 && CPULevel() != LevelGeneric {
		t.Errorf("MeasurePeaks at level %s: no FMA rate", CPULevel())
	}
	if (p.BF16 > 0) != (BF16Level() != LevelGeneric) {
		t.Errorf("MeasurePeaks: bf16 rate %v with the bf16 GEMM at %s", p.BF16, BF16Level())
	}
}

// specialFill fills s with random values and, one in eight, a value
// rounding has to get right: ties, NaNs, infinities, subnormals, zeros.
func specialFill(r *rand.Rand, s []float32) {
	special := []uint32{0x3f808000, 0x3f818000, 0x7fc00000, 0xff800001, 0x7f800000, 0xff800000,
		0x00000001, 0x807fffff, 0x80000000, 0x7f7fffff, 0x3f807fff}
	fill(r, s, -3, 3)
	for i := range s {
		if r.IntN(8) == 0 {
			s[i] = math.Float32frombits(special[r.IntN(len(special))])
		}
	}
}

// guardedU32 is n uint32 between guardLen guard words on each side.
func guardedU32(n int) []uint32 {
	full := make([]uint32, n+2*guardLen)
	for i := range full {
		full[i] = guardBits
	}
	return full
}

func checkU32(t *testing.T, lbl string, got, want []uint32) {
	t.Helper()
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("%s: word %d (guards %d) = %#08x, twin %#08x", lbl, i-guardLen, guardLen, got[i], want[i])
			return
		}
	}
}

// TestBF16Packers runs every level's packers against their pure-Go
// twins bit for bit, on guarded buffers, over row counts, lengths with
// tails of every size below 32 (odd included), column counts and widths
// of both panel kinds, and odd depths.
func TestBF16Packers(t *testing.T) {
	r := newRand(304)
	for _, l := range supported {
		kn := l.bf16
		if kn == nil || kn.packRows == nil {
			continue
		}
		for _, rows := range []int{1, 2, 5, 14} {
			for n := 1; n <= 70; n++ {
				ld, ds := n+r.IntN(5), (n+1)/2+r.IntN(4)
				src := newGuarded((rows-1)*ld + n)
				specialFill(r, src.s())
				size := (rows-1)*ds + (n+1)/2
				got, want := guardedU32(size), guardedU32(size)
				kn.rowsPack(got[guardLen:guardLen+size], src.s(), ld, rows, n, ds)
				packRowsGo(want[guardLen:guardLen+size], src.s(), ld, rows, n, ds)
				checkU32(t, fmt.Sprintf("%s packRows rows=%d n=%d ld=%d stride=%d", l.name, rows, n, ld, ds), got, want)
			}
		}
		for _, width := range []int{1, 13, 14, 16, 17, 32} {
			for cols := 1; cols <= width; cols++ {
				for _, np := range []int{0, 1, 3} {
					for _, odd := range []bool{false, true} {
						nrow := 2*np + b2i(odd)
						if nrow == 0 {
							continue
						}
						ld := cols + r.IntN(40)
						src := newGuarded((nrow-1)*ld + cols)
						specialFill(r, src.s())
						size := (nrow + 1) / 2 * width
						got, want := guardedU32(size), guardedU32(size)
						kn.pairsPack(got[guardLen:guardLen+size], src.s(), ld, np, cols, width, odd)
						packPairsGo(want[guardLen:guardLen+size], src.s(), ld, np, cols, width, odd)
						checkU32(t, fmt.Sprintf("%s packPairs width=%d cols=%d np=%d odd=%v", l.name, width, cols, np, odd), got, want)
					}
				}
			}
		}
	}
}

// TestSgemmBF16PackedBias: the bias fused tile by tile gives the bits of
// filling C with it and running the packed GEMM with beta 1, on guarded
// operands, one thread and three, both op(A), and k past one block.
func TestSgemmBF16PackedBias(t *testing.T) {
	r := newRand(305)
	for _, s := range [][3]int{{1, 1, 1}, {15, 33, 17}, {29, 70, 2*bf16KC + 5}, {bf16MCPanels*14 + 3, 40, 64}} {
		m, n, k := s[0], s[1], s[2]
		for _, ta := range []bool{false, true} {
			lda := k + 1
			if ta {
				lda = m + 2
			}
			ar, ac := m, k
			if ta {
				ar, ac = k, m
			}
			A := strided(r, ar, ac, lda)
			B := strided(r, k, n, n+3)
			bias := randGuarded(r, n, -1, 1)
			ldc := n + 1
			want := newGuarded((m-1)*ldc + n)
			for i := 0; i < m; i++ {
				copy(want.s()[i*ldc:i*ldc+n], bias.s())
			}
			pb := (*Pool)(nil).PackBF16(nil, false, k, n, B.s(), n+3)
			(*Pool)(nil).SgemmBF16Packed(ta, m, 1, A.s(), lda, pb, 1, want.s(), ldc)
			for _, pool := range []*Pool{nil, testPool} {
				got := newGuarded((m-1)*ldc + n)
				pool.SgemmBF16PackedBias(ta, m, A.s(), lda, pb, bias.s(), got.s(), ldc)
				lbl := fmt.Sprintf("m=%d n=%d k=%d transA=%v pool=%v", m, n, k, ta, pool != nil)
				checkGuards(t, lbl, got, bias)
				if !bitsEqual(got.full, want.full) {
					t.Errorf("%s: fused bias differs from bias then GEMM", lbl)
				}
			}
		}
	}
}

// TestPackBF16Layout checks every word PackBF16 writes against pairAt,
// for both layouts of a weight, on values that rounding and moving must
// keep bit for bit (NaN payloads, ties, subnormals), with k over a block
// and n off the panel width: the transposing pack moves pairs with the
// fp32 transposer, which must not touch their bits.
func TestPackBF16Layout(t *testing.T) {
	kn := bf16Asm()
	if kn == nil {
		t.Skip("no assembly bf16 kernel here")
	}
	r := newRand(306)
	for _, s := range [][2]int{{1, 1}, {7, 45}, {2*bf16KC + 3, 37}, {64, 64}} {
		k, n := s[0], s[1]
		for _, trans := range []bool{false, true} {
			rows, cols := k, n
			if trans {
				rows, cols = n, k
			}
			ld := cols + 2
			b := make([]float32, (rows-1)*ld+cols)
			specialFill(r, b)
			pb := testPool.PackBF16(nil, trans, k, n, b, ld)
			kp, nPanels := (k+1)/2, (n+kn.nr-1)/kn.nr
			for p0 := 0; p0 < kp; p0 += bf16KC {
				kcp := min(bf16KC, kp-p0)
				for jp := 0; jp < nPanels; jp++ {
					for p := 0; p < kcp; p++ {
						for x := 0; x < kn.nr; x++ {
							got := pb.data[p0*nPanels*kn.nr+jp*kn.nr*kcp+p*kn.nr+x]
							want := uint32(0)
							if jp*kn.nr+x < n {
								want = pairAt(b, trans, true, jp*kn.nr+x, p0+p, k, ld)
							}
							if got != want {
								t.Fatalf("k=%d n=%d transB=%v: pair %d of column %d = %#08x, want %#08x", k, n, trans, p0+p, jp*kn.nr+x, got, want)
							}
						}
					}
				}
			}
		}
	}
}
