package fileutil

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// opens are the calls that open a file by name. Outside the gate
// packages every file clinic reads or writes goes through fileutil
// (ReadRegular, OpenRegular, OpenWrite) or atomicfile, which refuse a
// FIFO, a device or a directory without blocking.
var opens = map[string][]string{
	"os":                    {"Open", "OpenFile", "ReadFile", "Create", "WriteFile", "OpenInRoot", "OpenRoot", "DirFS", "NewFile"},
	"io/ioutil":             {"ReadFile", "WriteFile", "TempFile"},
	"syscall":               {"Open", "Openat", "Creat"},
	"golang.org/x/sys/unix": {"Open", "Openat", "Openat2", "Creat"},
}

// gatePackages may open files directly: they are the gate.
var gatePackages = []string{"internal/fileutil", "internal/atomicfile"}

// ungated returns "file:line: pkg.Func" for each call (or use as a
// value) of a function in opens in src.
func ungated(fset *token.FileSet, name string, src any) ([]string, error) {
	f, err := parser.ParseFile(fset, name, src, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	local := map[string]string{} // import name → path
	for _, im := range f.Imports {
		path, _ := strconv.Unquote(im.Path.Value)
		if _, ok := opens[path]; !ok {
			continue
		}
		n := filepath.Base(path)
		if path == "io/ioutil" {
			n = "ioutil"
		}
		if im.Name != nil {
			n = im.Name.Name
		}
		local[n] = path
	}
	var found []string
	ast.Inspect(f, func(n ast.Node) bool {
		sel, ok := n.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		id, ok := sel.X.(*ast.Ident)
		if !ok {
			return true
		}
		if path, ok := local[id.Name]; ok && slices.Contains(opens[path], sel.Sel.Name) {
			found = append(found, fset.Position(sel.Pos()).String()+": "+id.Name+"."+sel.Sel.Name)
		}
		return true
	})
	return found, nil
}

func TestUngatedFinds(t *testing.T) {
	src := `package p
import (
	o "os"
	"io/ioutil"
	"syscall"
)
var f = o.ReadFile
func g() { o.Create("x"); ioutil.WriteFile("y", nil, 0); syscall.Open("z", 0, 0); o.Stat("w") }
`
	got, err := ungated(token.NewFileSet(), "p.go", src)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"p.go:7:9: o.ReadFile", "p.go:8:12: o.Create", "p.go:8:27: ioutil.WriteFile", "p.go:8:58: syscall.Open"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestEveryOpenIsGated fails if code outside the gate packages opens a
// file by name (tests and the generators' separate module aside).
func TestEveryOpenIsGated(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found: %v", err)
	}
	fset := token.NewFileSet()
	files := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if path == root {
				return nil
			}
			name := d.Name()
			if strings.HasPrefix(name, ".") || name == "testdata" || slices.Contains(gatePackages, rel) {
				return filepath.SkipDir
			}
			// Another module (gen/) is not part of this one.
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		files++
		found, err := ungated(fset, path, nil)
		if err != nil {
			return err
		}
		for _, f := range found {
			f, _ = strings.CutPrefix(f, root+string(filepath.Separator))
			t.Errorf("%s: open files through internal/fileutil or internal/atomicfile", f)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 50 {
		t.Fatalf("scanned only %d files: wrong module root %s?", files, root)
	}
}
