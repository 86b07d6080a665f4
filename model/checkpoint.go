package model

import (
	"fmt"
	"math"

	"github.com/clinic-ml/clinic/internal/fileutil"
	"github.com/clinic-ml/clinic/internal/safetensors"
)

// CheckpointFormat is stored under the "format" metadata key.
const CheckpointFormat = "clinic/1"

// Tensors are the weights as the tensors of a checkpoint (sharing W).
func (p *Params) Tensors() []*safetensors.Tensor {
	ts := make([]*safetensors.Tensor, 0, len(p.List))
	for _, q := range p.List {
		ts = append(ts, safetensors.NewF32(q.Name, q.Shape, q.W))
	}
	return ts
}

// SaveCheckpoint writes p's tensors under their documented names
// (docs/model.md) to a safetensors file, atomically. The metadata holds
// "format", "config" (the Config as JSON) and whatever meta adds (the
// Admin profile, the step).
func SaveCheckpoint(path string, p *Params, meta map[string]string) error {
	f := &safetensors.File{Metadata: CheckpointMeta(p, meta), Tensors: p.Tensors()}
	if err := safetensors.WriteFile(path, f); err != nil {
		return fmt.Errorf("writing checkpoint %s: %v", path, err)
	}
	return nil
}

// CheckpointMeta is the metadata SaveCheckpoint writes for p and meta.
func CheckpointMeta(p *Params, meta map[string]string) map[string]string {
	m := map[string]string{}
	for k, v := range meta {
		m[k] = v
	}
	m["format"] = CheckpointFormat
	m["config"] = p.Cfg.JSON()
	return m
}

// MaxCheckpointBytes bounds the size of a checkpoint LoadCheckpoint
// reads.
const MaxCheckpointBytes = 64 << 30

// LoadCheckpoint reads a checkpoint written by SaveCheckpoint (or any
// safetensors file with a "config" metadata entry and the documented
// tensor names) and returns its parameters and metadata. Anything but a
// regular file of at most MaxCheckpointBytes is refused before it is
// opened, so a FIFO or a device cannot block. The header is checked
// before the weights are read (safetensors.Read): it must be that of a
// checkpoint, and its tensors exactly those of the model its config
// describes, so that a file that is not a checkpoint, or holds more
// than its model, is refused without being read whole. Weights that are
// NaN or infinite are refused, naming the first such tensor.
func LoadCheckpoint(path string) (*Params, map[string]string, error) {
	r, err := fileutil.OpenRegular(path, MaxCheckpointBytes)
	if err != nil {
		return nil, nil, fmt.Errorf("checkpoint %v", err)
	}
	defer r.Close()
	st, err := r.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("checkpoint %v", fileutil.PathError(path, err))
	}
	var p *Params
	f, err := safetensors.Read(r, st.Size(), func(h *safetensors.File) (err error) {
		p, err = checkpointParams(h)
		return err
	})
	return loadedCheckpoint(p, f, path, err)
}

// DecodeCheckpoint is LoadCheckpoint on the bytes of a checkpoint file
// (path names it in errors).
func DecodeCheckpoint(b []byte, path string) (*Params, map[string]string, error) {
	f, err := safetensors.Decode(b)
	var p *Params
	if err == nil {
		p, err = checkpointParams(f)
	}
	return loadedCheckpoint(p, f, path, err)
}

// checkpointParams returns zeroed parameters for the model whose config
// the checkpoint (or only its header) f holds, once f's tensors are
// checked to be exactly that model's.
func checkpointParams(f *safetensors.File) (*Params, error) {
	cs, ok := f.Metadata["config"]
	if !ok {
		return nil, fmt.Errorf("no model config in its metadata")
	}
	cfg, err := ParseConfig(cs)
	if err != nil {
		return nil, err
	}
	// The config must account for the tensors the file holds before
	// anything is allocated from it: a config that claims more
	// parameters than the file has is a damaged or crafted file.
	have := 0
	for _, t := range f.Tensors {
		if t.DType == safetensors.F32 {
			have += t.Numel()
		}
	}
	if want := cfg.ParamCount(); want > have {
		return nil, fmt.Errorf("its config has %d parameters, the file holds %d values", want, have)
	}
	p, err := NewParams(cfg)
	if err != nil {
		return nil, err
	}
	if err := p.checkTensors(f, ""); err != nil {
		return nil, err
	}
	return p, nil
}

// loadedCheckpoint fills p, checked against f's header, with f's
// weights; err is that of reading f and checking its header.
func loadedCheckpoint(p *Params, f *safetensors.File, path string, err error) (*Params, map[string]string, error) {
	if err == nil {
		err = p.LoadTensors(f, "")
	}
	if err == nil {
		err = p.CheckFinite()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("checkpoint %s: %v", path, err)
	}
	return p, f.Metadata, nil
}

// CheckFinite returns an error naming the first parameter (in the
// documented order) that holds a NaN or an infinity, with its index.
func (p *Params) CheckFinite() error {
	for _, q := range p.List {
		for i, v := range q.W {
			if f := float64(v); math.IsNaN(f) || math.IsInf(f, 0) {
				return fmt.Errorf("tensor %q holds %v at index %d: the weights are not finite (a diverged run?)", q.Name, v, i)
			}
		}
	}
	return nil
}

// LoadTensors copies every parameter from the tensor named prefix+name
// in f, checking shapes. Extra tensors in f are an error only when they
// carry the prefix and name no parameter.
func (p *Params) LoadTensors(f *safetensors.File, prefix string) error {
	if err := p.checkTensors(f, prefix); err != nil {
		return err
	}
	for _, q := range p.List {
		copy(q.W, f.Get(prefix+q.Name).F32)
	}
	return nil
}

// checkTensors is LoadTensors' check, which needs only the names,
// dtypes and shapes of f's tensors (a header read before the data).
func (p *Params) checkTensors(f *safetensors.File, prefix string) error {
	seen := 0
	for _, t := range f.Tensors {
		if len(t.Name) < len(prefix) || t.Name[:len(prefix)] != prefix {
			continue
		}
		name := t.Name[len(prefix):]
		q := p.Get(name)
		if q == nil {
			return fmt.Errorf("unexpected tensor %q for a %s model", t.Name, p.Cfg.Norm)
		}
		if t.DType != safetensors.F32 {
			return fmt.Errorf("tensor %q has dtype %s, want F32", t.Name, t.DType)
		}
		if fmt.Sprint(t.Shape) != fmt.Sprint(q.Shape) {
			return fmt.Errorf("tensor %q has shape %v, want %v", t.Name, t.Shape, q.Shape)
		}
		seen++
	}
	if seen != len(p.List) {
		for _, q := range p.List {
			if f.Get(prefix+q.Name) == nil {
				return fmt.Errorf("missing tensor %q", prefix+q.Name)
			}
		}
	}
	return nil
}
