package data

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// The package opens files in one place (readFile, through fileutil's
// regular-file checks): no second check of its own (checkRegular,
// pathErr) and no second reader.
func TestOneFileReader(t *testing.T) {
	names, _ := filepath.Glob("*.go")
	calls := 0
	for _, n := range names {
		if strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), n, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(x ast.Node) bool {
			switch x := x.(type) {
			case *ast.FuncDecl:
				if x.Name.Name == "checkRegular" || x.Name.Name == "pathErr" || x.Name.Name == "readCorpus" {
					t.Errorf("%s declares %s: use fileutil", n, x.Name.Name)
				}
			case *ast.SelectorExpr:
				if id, ok := x.X.(*ast.Ident); ok && id.Name == "fileutil" && (x.Sel.Name == "ReadRegular" || x.Sel.Name == "OpenRegular") {
					calls++
				}
				if id, ok := x.X.(*ast.Ident); ok && id.Name == "os" && (x.Sel.Name == "Open" || x.Sel.Name == "ReadFile") {
					t.Errorf("%s opens a file with os.%s: use readFile", n, x.Sel.Name)
				}
			}
			return true
		})
	}
	if calls != 1 {
		t.Errorf("fileutil's readers are called %d times in package data, want once (readFile)", calls)
	}
}
