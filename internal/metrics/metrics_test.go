package metrics

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

type rec struct {
	Step int     `json:"step"`
	Loss float64 `json:"loss"`
}

func TestWriteRead(t *testing.T) {
	p := filepath.Join(t.TempDir(), "run", "metrics.jsonl")
	w, err := Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec{1, 2.5}); err != nil {
		t.Fatal(err)
	}
	// Each line is on disk before Close: a crash would lose nothing.
	b, _ := os.ReadFile(p)
	if string(b) != "{\"step\":1,\"loss\":2.5}\n" {
		t.Fatalf("file before close: %q", b)
	}
	if err := w.Write(map[string]any{"step": 2, "val": math.NaN(), "inf": math.Inf(-1), "name": "x"}); err != nil {
		t.Fatal(err)
	}
	if err := w.Write([]int{1}); err == nil {
		t.Error("non-object accepted")
	}
	if err := w.Write(42); err == nil {
		t.Error("number accepted")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := w.Write(rec{3, 1}); err == nil || !strings.Contains(err.Error(), "after Close") {
		t.Errorf("write after close: %v", err)
	}
	got, err := ReadAll(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0]["loss"] != 2.5 || got[1]["val"] != "NaN" || got[1]["inf"] != "-Infinity" || got[1]["step"] != 2.0 {
		t.Errorf("ReadAll = %v", got)
	}

	// Append keeps what was there; Create truncates.
	w, _ = Append(p)
	w.Write(rec{3, 1})
	w.Close()
	if got, _ := ReadAll(p); len(got) != 3 || got[2]["step"] != 3.0 {
		t.Errorf("after Append: %v", got)
	}
	w, _ = Create(p)
	w.Close()
	if got, err := ReadAll(p); err != nil || len(got) != 0 {
		t.Errorf("after Create: %v %v", got, err)
	}
}

func TestConcurrentLinesIntact(t *testing.T) {
	p := filepath.Join(t.TempDir(), "m.jsonl")
	w, err := Create(p)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				w.Write(map[string]any{"g": g, "i": i, "pad": strings.Repeat("x", 100)})
			}
		}(g)
	}
	wg.Wait()
	w.Close()
	got, err := ReadAll(p)
	if err != nil || len(got) != 200 {
		t.Fatalf("%d records, err %v", len(got), err)
	}
}

func TestReadAllErrors(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "m.jsonl")
	os.WriteFile(p, []byte("{\"a\":1}\n\n{\"a\":2}\n{\"a\":3"), 0o644)
	got, err := ReadAll(p)
	if err != nil || len(got) != 2 {
		t.Errorf("truncated last line: %v %v", got, err)
	}
	os.WriteFile(p, []byte("{\"a\":1}\n{\"a\":2}"), 0o644)
	if got, err := ReadAll(p); err != nil || len(got) != 2 {
		t.Errorf("complete last line without newline: %v %v", got, err)
	}
	os.WriteFile(p, []byte("{\"a\":1}\nbroken\n{\"a\":3}\n"), 0o644)
	if _, err := ReadAll(p); err == nil || !strings.Contains(err.Error(), "m.jsonl:2") {
		t.Errorf("bad middle line: %v", err)
	}
	if _, err := ReadAll(filepath.Join(dir, "none")); err == nil || !strings.Contains(err.Error(), "none") {
		t.Errorf("missing file: %v", err)
	}
	if _, err := Create(filepath.Join(p, "sub", "x.jsonl")); err == nil || !strings.Contains(err.Error(), "x.jsonl") {
		t.Errorf("create under a file: %v", err)
	}
}

// A huge metrics file (a sparse one here, costing no disk) is refused
// on its size, naming it, instead of being read as one endless line.
func TestReadAllHugeRefused(t *testing.T) {
	p := filepath.Join(t.TempDir(), "metrics.jsonl")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, 3<<30); err != nil {
		t.Fatal(err)
	}
	stop := time.AfterFunc(20*time.Second, func() { panic("a huge metrics file is still being read after 20 s") })
	defer stop.Stop()
	if _, err := ReadAll(p); err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "over the 2 GiB limit") {
		t.Errorf("huge metrics: %v, want an error naming the file and the limit", err)
	}
}
