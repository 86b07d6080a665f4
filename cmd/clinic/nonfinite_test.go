package main

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clinic-ml/clinic/admin"
	"github.com/clinic-ml/clinic/model"
)

// A checkpoint with NaN or infinite weights is refused by every command
// that loads one, naming the tensor; an Admin profile must fit the
// model it is applied to.
func TestNonFiniteCheckpointAndProfileMismatch(t *testing.T) {
	dir := t.TempDir()
	_, lm := tinyTranslator(t, dir)
	p, meta, err := model.LoadCheckpoint(lm)
	if err != nil {
		t.Fatal(err)
	}
	q := p.List[1]
	q.W[0] = float32(math.NaN())
	nan := filepath.Join(dir, "nan.safetensors")
	if err := model.SaveCheckpoint(nan, p, meta); err != nil {
		t.Fatal(err)
	}
	prof := filepath.Join(dir, "p.json")
	if err := admin.Free(model.Config{Layers: 3, DModel: 16, Heads: 2, DFF: 16, SeqLen: 8, Vocab: 256}).Save(prof); err != nil {
		t.Fatal(err)
	}
	small := []string{"--layers", "2", "--d-model", "16", "--d-ff", "16", "--heads", "2", "--seq-len", "8", "--steps", "1", "--norm", "admin"}
	for _, tc := range []struct {
		code int
		args []string
		want string
	}{
		{1, []string{"sample", "--checkpoint", nan}, q.Name},
		{1, []string{"logits", "--checkpoint", nan, "--text", "ab", "--out", filepath.Join(dir, "l.safetensors")}, q.Name},
		{1, []string{"average", "--out", filepath.Join(dir, "avg.safetensors"), lm, nan}, q.Name},
		{2, append([]string{"train", "--admin-init", "free", "--admin-profile", prof, "--out", filepath.Join(dir, "r1")}, small...), "--admin-profile"},
		{1, append([]string{"train", "--admin-profile", prof, "--out", filepath.Join(dir, "r2")}, small...), "admin profile is for 3 layers, model has 2 layers"},
	} {
		code, _, e := runCLI(t, tc.args...)
		if code != tc.code || !strings.Contains(e, tc.want) || strings.Count(strings.TrimSpace(e), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", tc.args, code, e, tc.code, tc.want)
		}
	}
}
