package safetensors

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func sample() *File {
	return &File{
		Tensors: []*Tensor{
			NewF32("w.weight", []int{2, 3}, []float32{1, -2.5, 3, float32(math.Inf(1)), 0, 1e-30}),
			NewI32("ids", []int{4}, []int32{0, -1, math.MaxInt32, math.MinInt32}),
			NewI64("step", nil, []int64{1 << 40}),
			NewF32("empty", []int{0, 5}, []float32{}),
			NewF32("a.bias", []int{1}, []float32{0.5}),
		},
		Metadata: map[string]string{"format": "pt", "note": "quote \" and \\ and é"},
	}
}

func encode(t *testing.T, f *File) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Encode(&b, f); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func equalFiles(a, b *File) bool {
	if len(a.Tensors) != len(b.Tensors) || len(a.Metadata) != len(b.Metadata) {
		return false
	}
	for k, v := range a.Metadata {
		if w, ok := b.Metadata[k]; !ok || w != v {
			return false
		}
	}
	for i, x := range a.Tensors {
		y := b.Tensors[i]
		if x.Name != y.Name || x.DType != y.DType || len(x.Shape) != len(y.Shape) ||
			len(x.F32) != len(y.F32) || len(x.I32) != len(y.I32) || len(x.I64) != len(y.I64) {
			return false
		}
		for j := range x.Shape {
			if x.Shape[j] != y.Shape[j] {
				return false
			}
		}
		for j := range x.F32 {
			if math.Float32bits(x.F32[j]) != math.Float32bits(y.F32[j]) {
				return false
			}
		}
		for j := range x.I32 {
			if x.I32[j] != y.I32[j] {
				return false
			}
		}
		for j := range x.I64 {
			if x.I64[j] != y.I64[j] {
				return false
			}
		}
	}
	return true
}

func TestRoundTrip(t *testing.T) {
	f := sample()
	b := encode(t, f)
	g, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !equalFiles(f, g) {
		t.Fatal("decoded file differs from the encoded one")
	}
	if !bytes.Equal(encode(t, g), b) {
		t.Error("re-encoding the decoded file changed the bytes")
	}
	if g.Get("ids").I32[2] != math.MaxInt32 || g.Get("missing") != nil {
		t.Error("Get misbehaves")
	}
	if g.Get("step").Numel() != 1 || len(g.Get("step").Shape) != 0 {
		t.Error("scalar shape not preserved")
	}
}

func TestLayout(t *testing.T) {
	f := &File{
		Tensors:  []*Tensor{NewF32("b", []int{2}, []float32{1, 2}), NewI64("a", []int{1}, []int64{-2})},
		Metadata: map[string]string{"z": "1", "k": "v"},
	}
	b := encode(t, f)
	n := binary.LittleEndian.Uint64(b)
	if n%8 != 0 {
		t.Errorf("header length %d not a multiple of 8", n)
	}
	hdr := string(b[8 : 8+n])
	want := `{"__metadata__":{"k":"v","z":"1"},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"I64","shape":[1],"data_offsets":[8,16]}}`
	if strings.TrimRight(hdr, " ") != want {
		t.Errorf("header\n%s\nwant\n%s", hdr, want)
	}
	data := b[8+n:]
	wantData := []byte{0, 0, 0x80, 0x3f, 0, 0, 0, 0x40, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	if !bytes.Equal(data, wantData) {
		t.Errorf("data % x, want % x", data, wantData)
	}
	// Deterministic: same input, same bytes (map order must not leak).
	for i := 0; i < 20; i++ {
		if !bytes.Equal(encode(t, f), b) {
			t.Fatal("Encode is not deterministic")
		}
	}
}

func TestEncodeErrors(t *testing.T) {
	cases := map[string]*File{
		"holds 6 elements": {Tensors: []*Tensor{NewF32("x", []int{2, 3}, make([]float32, 5))}},
		"unsupported":      {Tensors: []*Tensor{{Name: "x", DType: "BF16", Shape: []int{1}}}},
		"duplicate":        {Tensors: []*Tensor{NewF32("x", nil, []float32{1}), NewF32("x", nil, []float32{2})}},
		"empty name":       {Tensors: []*Tensor{NewF32("", nil, []float32{1})}},
		"reserved":         {Tensors: []*Tensor{NewF32("__metadata__", nil, []float32{1})}},
		"negative":         {Tensors: []*Tensor{NewF32("x", []int{-1}, nil)}},
	}
	for want, f := range cases {
		var b bytes.Buffer
		err := Encode(&b, f)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v", want, err)
		}
		if b.Len() != 0 {
			t.Errorf("%s: %d bytes written despite the error", want, b.Len())
		}
	}
}

// raw builds a file from a literal header and data.
func raw(hdr string, data []byte) []byte {
	b := make([]byte, 8, 8+len(hdr)+len(data))
	binary.LittleEndian.PutUint64(b, uint64(len(hdr)))
	return append(append(b, hdr...), data...)
}

var d8 = make([]byte, 8)

// decodeErrors are malformed files and a part of the error each gets.
var decodeErrors = []struct {
	name string
	b    []byte
	want string
}{
	{"short", []byte{1, 2, 3}, "too short"},
	{"zeros", make([]byte, 64), "not a safetensors file (its first 8 bytes give a header of 0 bytes"},
	{"hdr too long", raw(`{}`, nil)[:9], "cut short"},
	{"hdr huge", append([]byte{0, 0, 0, 0, 0, 0, 0, 1}, "{}"...), "limit"},
	{"not object", raw(`[1]`, nil), "not a JSON object"},
	{"bad json", raw(`{"a":`, nil), "JSON"},
	{"trailing", raw(`{} x`, nil), "after the JSON"},
	{"dup key", raw(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, d8), "duplicate"},
	{"dtype", raw(`{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}`, d8[:4]), "unsupported dtype"},
	{"no dtype", raw(`{"a":{"shape":[2],"data_offsets":[0,4]}}`, d8[:4]), "dtype"},
	{"extra field", raw(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}}`, d8[:4]), "unknown header field"},
	{"neg shape", raw(`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, d8[:4]), "shape dimension"},
	{"float shape", raw(`{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}`, d8[:4]), "shape dimension"},
	{"size mismatch", raw(`{"a":{"dtype":"I64","shape":[1],"data_offsets":[0,4]}}`, d8[:4]), "needs 1×8 bytes"},
	{"huge shape", raw(`{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}`, d8[:4]), "needs"},
	{"offsets 3", raw(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}`, d8[:4]), "data_offsets"},
	{"reversed", raw(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}`, d8[:4]), "end before"},
	{"out of range", raw(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, d8[:4]), "run past"},
	{"overlap", raw(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, d8), "overlap"},
	{"gap", raw(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, d8), "gap"},
	{"uncovered", raw(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, d8), "cover 4 of the 8"},
	{"meta type", raw(`{"__metadata__":{"a":1}}`, nil), "__metadata__"},
	{"bad utf8", raw("{\"\xff\":1}", nil), "UTF-8"},
}

func TestDecodeErrors(t *testing.T) {
	for _, c := range decodeErrors {
		_, err := Decode(c.b)
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %q, want one line containing %q", c.name, err, c.want)
		}
	}
	// Valid hand-written files: offsets out of name order, whitespace.
	f, err := Decode(raw(` { "b" : {"dtype":"I32","shape":[1],"data_offsets":[4,8]}, "a":{"dtype":"I32","shape":[],"data_offsets":[0,4]} }   `,
		[]byte{7, 0, 0, 0, 9, 0, 0, 0}))
	if err != nil {
		t.Fatal(err)
	}
	if f.Tensors[0].Name != "a" || f.Tensors[0].I32[0] != 7 || f.Get("b").I32[0] != 9 {
		t.Errorf("decoded %+v %+v", f.Tensors[0], f.Tensors[1])
	}
}

func TestWriteReadFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "model.safetensors")
	f := sample()
	if err := WriteFile(p, f); err != nil {
		t.Fatal(err)
	}
	g, err := ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !equalFiles(f, g) {
		t.Fatal("file round trip differs")
	}
	old, _ := os.ReadFile(p)

	// A failing write leaves the old file and no temp files.
	bad := &File{Tensors: []*Tensor{NewF32("x", []int{3}, []float32{1})}}
	if err := WriteFile(p, bad); err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("bad write: %v", err)
	}
	if err := WriteFile(p, &File{Tensors: []*Tensor{NewF32("x", []int{1}, []float32{1})}, Metadata: nil}); err != nil {
		t.Fatal(err)
	}
	if now, _ := os.ReadFile(p); bytes.Equal(now, old) {
		t.Error("overwrite did not replace the file")
	}
	// Rename onto a directory fails after the temp file is written.
	sub := filepath.Join(dir, "isdir")
	os.Mkdir(sub, 0o755)
	os.WriteFile(filepath.Join(sub, "keep"), nil, 0o644)
	if err := WriteFile(sub, f); err == nil {
		t.Error("writing over a non-empty directory succeeded")
	}
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if len(names) != 2 {
		t.Errorf("directory holds %v, want only the file and isdir (temp files left?)", names)
	}

	if _, err := ReadFile(filepath.Join(dir, "nope")); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("missing file: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "junk"), []byte("junkjunkjunk"), 0o644)
	if _, err := ReadFile(filepath.Join(dir, "junk")); err == nil || !strings.Contains(err.Error(), "junk:") {
		t.Errorf("junk file: %v", err)
	}
	if err := WriteFile(filepath.Join(dir, "no", "such", "dir.st"), f); err == nil || !strings.Contains(err.Error(), "dir.st") {
		t.Errorf("write into missing dir: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	var b bytes.Buffer
	Encode(&b, sample())
	f.Add(b.Bytes())
	f.Add(raw(`{}`, nil))
	f.Add(raw(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, []byte{0, 0, 128, 63}))
	f.Add(raw(`{"a":{"dtype":"I64","shape":[2,0],"data_offsets":[0,0]},"__metadata__":{"x":"y"}}`, nil))
	f.Add([]byte{255, 255, 255, 255, 255, 255, 255, 255})
	f.Fuzz(func(t *testing.T, in []byte) {
		g, err := Decode(in)
		if err != nil {
			return
		}
		// Whatever decodes must re-encode and decode to the same file.
		var out bytes.Buffer
		if err := Encode(&out, g); err != nil {
			t.Fatalf("decoded file does not encode: %v", err)
		}
		h, err := Decode(out.Bytes())
		if err != nil {
			t.Fatalf("re-encoded file does not decode: %v", err)
		}
		if !equalFiles(g, h) {
			t.Fatal("round trip of a decoded file changed it")
		}
	})
}
