// Package safetensors reads and writes the safetensors tensor file
// format used by Hugging Face tools:
//
//	8 bytes   N, the header length, unsigned little-endian
//	N bytes   JSON header, padded with spaces
//	rest      the tensors' raw little-endian data
//
// The header is a JSON object mapping each tensor name to
// {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, with
// offsets relative to the start of the data section, plus an optional
// "__metadata__" object of string keys and values.
//
// This package supports the dtypes F32, I32 and I64. Encode writes the
// header keys in a fixed order ("__metadata__" first, its keys sorted,
// then the tensors in the order given, their data contiguous in the same
// order) and pads the header to a multiple of 8 bytes, so its output is
// a pure function of its input. Decode checks the header strictly and
// returns an error, never panics, on malformed input.
package safetensors

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"unicode/utf8"

	"github.com/clinic-ml/clinic/internal/atomicfile"
	"github.com/clinic-ml/clinic/internal/fileutil"
)

// Supported dtypes.
const (
	F32 = "F32"
	I32 = "I32"
	I64 = "I64"
)

// MaxHeader is the largest header Decode accepts (100 MB, as in the
// reference implementation).
const MaxHeader = 100 << 20

const metaKey = "__metadata__"

// Tensor is one named tensor. Exactly the slice that matches DType holds
// its data, in row-major order, with as many elements as the product of
// Shape (1 for an empty shape, a scalar).
type Tensor struct {
	Name  string
	DType string
	Shape []int
	F32   []float32
	I32   []int32
	I64   []int64
}

// File is the contents of a safetensors file.
type File struct {
	Tensors  []*Tensor
	Metadata map[string]string
}

// NewF32 returns an F32 tensor holding data (not copied).
func NewF32(name string, shape []int, data []float32) *Tensor {
	return &Tensor{Name: name, DType: F32, Shape: shape, F32: data}
}

// NewI32 returns an I32 tensor holding data (not copied).
func NewI32(name string, shape []int, data []int32) *Tensor {
	return &Tensor{Name: name, DType: I32, Shape: shape, I32: data}
}

// NewI64 returns an I64 tensor holding data (not copied).
func NewI64(name string, shape []int, data []int64) *Tensor {
	return &Tensor{Name: name, DType: I64, Shape: shape, I64: data}
}

// Get returns the tensor called name, or nil.
func (f *File) Get(name string) *Tensor {
	for _, t := range f.Tensors {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// Numel returns the number of elements the shape holds.
func (t *Tensor) Numel() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

func dtypeSize(dt string) int {
	switch dt {
	case F32, I32:
		return 4
	case I64:
		return 8
	}
	return 0
}

// dataLen returns the length of the slice that matches t.DType.
func (t *Tensor) dataLen() int {
	switch t.DType {
	case F32:
		return len(t.F32)
	case I32:
		return len(t.I32)
	case I64:
		return len(t.I64)
	}
	return -1
}

// check validates a tensor for Encode and returns its size in bytes.
func (t *Tensor) check() (int, error) {
	if t.Name == "" {
		return 0, errors.New("safetensors: tensor with an empty name")
	}
	if t.Name == metaKey {
		return 0, fmt.Errorf("safetensors: tensor name %q is reserved", metaKey)
	}
	size := dtypeSize(t.DType)
	if size == 0 {
		return 0, fmt.Errorf("safetensors: tensor %q: unsupported dtype %q (want F32, I32 or I64)", t.Name, t.DType)
	}
	n := 1
	for _, d := range t.Shape {
		if d < 0 {
			return 0, fmt.Errorf("safetensors: tensor %q: negative dimension in shape %v", t.Name, t.Shape)
		}
		if d != 0 && n > math.MaxInt/size/d {
			return 0, fmt.Errorf("safetensors: tensor %q: shape %v is too large", t.Name, t.Shape)
		}
		n *= d
	}
	if got := t.dataLen(); got != n {
		return 0, fmt.Errorf("safetensors: tensor %q: shape %v holds %d elements but its %s data has %d", t.Name, t.Shape, n, t.DType, got)
	}
	return n * size, nil
}

// Encode writes f to w in the safetensors format.
func Encode(w io.Writer, f *File) error {
	hdr, err := header(f)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(hdr)))
	bw.Write(lenBuf[:])
	bw.Write(hdr)
	var buf [8]byte
	for _, t := range f.Tensors {
		switch t.DType {
		case F32:
			for _, v := range t.F32 {
				binary.LittleEndian.PutUint32(buf[:], math.Float32bits(v))
				bw.Write(buf[:4])
			}
		case I32:
			for _, v := range t.I32 {
				binary.LittleEndian.PutUint32(buf[:], uint32(v))
				bw.Write(buf[:4])
			}
		case I64:
			for _, v := range t.I64 {
				binary.LittleEndian.PutUint64(buf[:], uint64(v))
				bw.Write(buf[:8])
			}
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("safetensors: write: %w", err)
	}
	return nil
}

// header builds the padded JSON header of f.
func header(f *File) ([]byte, error) {
	var h bytes.Buffer
	h.WriteByte('{')
	first := true
	sep := func() {
		if !first {
			h.WriteByte(',')
		}
		first = false
	}
	str := func(s string) {
		b, _ := json.Marshal(s) // a string always marshals
		h.Write(b)
	}
	if len(f.Metadata) > 0 {
		keys := make([]string, 0, len(f.Metadata))
		for k := range f.Metadata {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		sep()
		str(metaKey)
		h.WriteString(":{")
		for i, k := range keys {
			if i > 0 {
				h.WriteByte(',')
			}
			str(k)
			h.WriteByte(':')
			str(f.Metadata[k])
		}
		h.WriteByte('}')
	}
	seen := make(map[string]bool, len(f.Tensors))
	off := 0
	for _, t := range f.Tensors {
		if t == nil {
			return nil, errors.New("safetensors: nil tensor")
		}
		size, err := t.check()
		if err != nil {
			return nil, err
		}
		if seen[t.Name] {
			return nil, fmt.Errorf("safetensors: duplicate tensor name %q", t.Name)
		}
		seen[t.Name] = true
		sep()
		str(t.Name)
		h.WriteString(`:{"dtype":"`)
		h.WriteString(t.DType)
		h.WriteString(`","shape":[`)
		for i, d := range t.Shape {
			if i > 0 {
				h.WriteByte(',')
			}
			h.WriteString(strconv.Itoa(d))
		}
		h.WriteString(`],"data_offsets":[`)
		h.WriteString(strconv.Itoa(off))
		h.WriteByte(',')
		off += size
		h.WriteString(strconv.Itoa(off))
		h.WriteString("]}")
	}
	h.WriteByte('}')
	for h.Len()%8 != 0 {
		h.WriteByte(' ')
	}
	return h.Bytes(), nil
}

// WriteFile writes f to path atomically (see package atomicfile): on any
// error path is left as it was and no temporary file remains.
func WriteFile(path string, f *File) error {
	// Validate before touching the file system.
	if _, err := header(f); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	var encErr error
	err := atomicfile.Write(path, func(w io.Writer) error {
		encErr = Encode(w, f)
		return encErr
	})
	switch {
	case encErr != nil:
		return fmt.Errorf("%s: %w", path, encErr)
	case err != nil:
		return fmt.Errorf("safetensors: %s: %w", path, fileutil.Cause(err))
	}
	return nil
}

// ReadFile reads and decodes the safetensors file at path. Errors name
// the path.
func ReadFile(path string) (*File, error) {
	return ReadFileFunc(path, nil)
}

// ReadFileFunc is ReadFile with Read's check of the header before the
// data is read. Errors name the path, but check's are returned as is.
func ReadFileFunc(path string, check func(*File) error) (*File, error) {
	r, err := fileutil.OpenRegular(path, 0)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	defer r.Close()
	st, err := r.Stat()
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", fileutil.PathError(path, err))
	}
	var cerr error
	f, err := Read(r, st.Size(), func(h *File) error {
		if check != nil {
			cerr = check(h)
		}
		return cerr
	})
	switch {
	case cerr != nil:
		return nil, cerr
	case err != nil:
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// Read decodes a safetensors file of size bytes from r, as Decode does,
// but in order, checking each part against size before reading the
// next: the header length, then the header (at most MaxHeader bytes),
// whose tensors must tile the rest of the file exactly, and only then
// the tensor data, whose size is then known. So a file that is not a
// safetensors file (a disk image; a sparse file of zeros, whose header
// length is 0) is refused after a few bytes, not read whole. check, if
// not nil, is called with the header before the data is read (the
// metadata and each tensor's name, dtype and shape, with no data), so
// that a caller can refuse tensors it has no use for; its error is
// returned as is.
func Read(r io.Reader, size int64, check func(*File) error) (*File, error) {
	if size < 8 {
		return nil, fmt.Errorf("safetensors: file of %d bytes is too short for the 8-byte header length", size)
	}
	var lenBuf [8]byte
	if _, err := io.ReadFull(r, lenBuf[:]); err != nil {
		return nil, readError(err)
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	if err := checkHeaderLen(n, uint64(size-8)); err != nil {
		return nil, err
	}
	hdr := make([]byte, n)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, readError(err)
	}
	f, entries, err := parseHeader(hdr, uint64(size-8)-n)
	if err != nil {
		return nil, err
	}
	if check != nil {
		if err := check(f); err != nil {
			return nil, err
		}
	}
	if err := readData(f, entries, r); err != nil {
		return nil, readError(err)
	}
	return f, nil
}

// readError is an error reading a file that was sized beforehand: one
// that shrank while being read is cut short.
func readError(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("safetensors: file cut short while being read")
	}
	return fmt.Errorf("safetensors: %w", fileutil.Cause(err))
}

// checkHeaderLen checks the header length n that the first 8 bytes of a
// file give against the rest bytes that follow them.
func checkHeaderLen(n, rest uint64) error {
	if n < 2 { // a file of zeros
		return fmt.Errorf("safetensors: not a safetensors file (its first 8 bytes give a header of %d bytes, too short for a JSON object)", n)
	}
	if n > MaxHeader {
		return fmt.Errorf("safetensors: not a safetensors file (its first 8 bytes give a header of %d bytes, above the %d-byte limit)", n, MaxHeader)
	}
	if n > rest {
		return fmt.Errorf("safetensors: not a safetensors file, or cut short (its first 8 bytes give a header of %d bytes, %d follow)", n, rest)
	}
	return nil
}

type entry struct {
	name       string
	dtype      string
	shape      []int
	begin, end uint64
}

// Decode parses a safetensors file held in b. The tensors are returned
// in the order of their data in the file (for files written by Encode,
// the order they were given in); their data is copied out of b.
// Metadata is never nil, empty when the file has none. Decode
// rejects a bad header length, malformed or duplicate-keyed JSON,
// unsupported dtypes, shapes whose size does not match their offsets,
// and offsets that are out of range, overlap or leave gaps in the data
// section.
func Decode(b []byte) (*File, error) {
	return Read(bytes.NewReader(b), int64(len(b)), nil)
}

// parseHeader parses the JSON header hdr of a file whose data section
// holds dataLen bytes, and checks that its tensors tile that section
// exactly. It returns the file with its metadata and its tensors in data
// order, without their data, and the tensors' entries in the same order.
func parseHeader(hdr []byte, dataLen uint64) (*File, []entry, error) {
	if !utf8.Valid(hdr) {
		return nil, nil, errors.New("safetensors: header is not valid UTF-8")
	}

	dec := json.NewDecoder(bytes.NewReader(hdr))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, nil, errors.New("safetensors: header is not a JSON object")
	}
	f := &File{Metadata: map[string]string{}}
	var entries []entry
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, fmt.Errorf("safetensors: header JSON: %v", err)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, nil, errors.New("safetensors: header JSON: object key is not a string")
		}
		if seen[key] {
			return nil, nil, fmt.Errorf("safetensors: header has duplicate key %q", key)
		}
		seen[key] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, nil, fmt.Errorf("safetensors: header JSON: %v", err)
		}
		if key == metaKey {
			var m map[string]string
			if err := json.Unmarshal(raw, &m); err != nil || m == nil {
				return nil, nil, errors.New("safetensors: __metadata__ is not an object of string values")
			}
			f.Metadata = m
			continue
		}
		e, err := parseEntry(key, raw)
		if err != nil {
			return nil, nil, err
		}
		entries = append(entries, e)
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, nil, fmt.Errorf("safetensors: header JSON: %v", err)
	}
	// Only padding whitespace may follow the object.
	rest := hdr[dec.InputOffset():]
	if len(bytes.TrimLeft(rest, " \t\r\n")) != 0 {
		return nil, nil, errors.New("safetensors: header has data after the JSON object")
	}

	// The tensors must tile the data section exactly.
	sort.SliceStable(entries, func(i, j int) bool {
		if entries[i].begin != entries[j].begin {
			return entries[i].begin < entries[j].begin
		}
		return entries[i].end < entries[j].end
	})
	var pos uint64
	for _, e := range entries {
		if e.begin != pos {
			if e.begin < pos {
				return nil, nil, fmt.Errorf("safetensors: tensor %q: data_offsets [%d,%d] overlap another tensor", e.name, e.begin, e.end)
			}
			return nil, nil, fmt.Errorf("safetensors: tensor %q: data_offsets [%d,%d] leave a gap at byte %d", e.name, e.begin, e.end, pos)
		}
		if e.end > dataLen {
			return nil, nil, fmt.Errorf("safetensors: tensor %q: data_offsets [%d,%d] run past the %d-byte data section", e.name, e.begin, e.end, dataLen)
		}
		pos = e.end
	}
	if pos != dataLen {
		return nil, nil, fmt.Errorf("safetensors: tensors cover %d of the %d bytes in the data section", pos, dataLen)
	}
	f.Tensors = make([]*Tensor, len(entries))
	for i, e := range entries {
		f.Tensors[i] = &Tensor{Name: e.name, DType: e.dtype, Shape: e.shape}
	}
	return f, entries, nil
}

// readData reads the data of f's tensors, which entries (in data order,
// tiling it) locate, from r, a chunk at a time, so that no copy of the
// whole data section is held besides the tensors.
func readData(f *File, entries []entry, r io.Reader) error {
	buf := make([]byte, 1<<16)
	for i, e := range entries {
		t := f.Tensors[i]
		size := uint64(dtypeSize(e.dtype))
		n := int((e.end - e.begin) / size)
		switch e.dtype {
		case F32:
			t.F32 = make([]float32, n)
		case I32:
			t.I32 = make([]int32, n)
		case I64:
			t.I64 = make([]int64, n)
		}
		per := len(buf) / int(size)
		for j := 0; j < n; j += per {
			k := min(per, n-j)
			b := buf[:k*int(size)]
			if _, err := io.ReadFull(r, b); err != nil {
				return err
			}
			switch e.dtype {
			case F32:
				for x := range k {
					t.F32[j+x] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*x:]))
				}
			case I32:
				for x := range k {
					t.I32[j+x] = int32(binary.LittleEndian.Uint32(b[4*x:]))
				}
			case I64:
				for x := range k {
					t.I64[j+x] = int64(binary.LittleEndian.Uint64(b[8*x:]))
				}
			}
		}
	}
	return nil
}

// parseEntry checks one tensor's header entry.
func parseEntry(name string, raw json.RawMessage) (entry, error) {
	e := entry{name: name}
	bad := func(format string, a ...any) (entry, error) {
		return entry{}, fmt.Errorf("safetensors: tensor %q: "+format, append([]any{name}, a...)...)
	}
	if name == "" {
		return bad("empty tensor name")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return bad("header entry is not a JSON object")
	}
	for k := range fields {
		if k != "dtype" && k != "shape" && k != "data_offsets" {
			return bad("unknown header field %q", k)
		}
	}
	if err := json.Unmarshal(fields["dtype"], &e.dtype); err != nil {
		return bad("missing or non-string dtype")
	}
	size := dtypeSize(e.dtype)
	if size == 0 {
		return bad("unsupported dtype %q (want F32, I32 or I64)", e.dtype)
	}
	var shape []json.Number
	if err := json.Unmarshal(fields["shape"], &shape); err != nil || shape == nil {
		return bad("missing or malformed shape")
	}
	numel := uint64(1)
	e.shape = make([]int, len(shape))
	for i, s := range shape {
		d, err := strconv.ParseUint(string(s), 10, 63)
		if err != nil {
			return bad("shape dimension %s is not a non-negative integer", s)
		}
		e.shape[i] = int(d)
		if d != 0 && numel > (1<<62)/d {
			numel = 1 << 62 // too large; caught by the size check below
		} else {
			numel *= d
		}
	}
	var offs []json.Number
	if err := json.Unmarshal(fields["data_offsets"], &offs); err != nil || len(offs) != 2 {
		return bad("data_offsets must be a list [begin, end]")
	}
	var err1, err2 error
	e.begin, err1 = strconv.ParseUint(string(offs[0]), 10, 64)
	e.end, err2 = strconv.ParseUint(string(offs[1]), 10, 64)
	if err1 != nil || err2 != nil {
		return bad("data_offsets %s, %s are not non-negative integers", offs[0], offs[1])
	}
	if e.end < e.begin {
		return bad("data_offsets [%d,%d] end before they begin", e.begin, e.end)
	}
	if numel > (1<<62)/uint64(size) || numel*uint64(size) != e.end-e.begin {
		return bad("shape %v of %s needs %d×%d bytes but data_offsets [%d,%d] span %d", e.shape, e.dtype, numel, size, e.begin, e.end, e.end-e.begin)
	}
	return e, nil
}
