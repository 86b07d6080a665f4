package main

import (
	"encoding/json"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// fileFloors are cmd/clinic's files by floor: a file uses only what
// files of lower floors declare (and its own). The CLI's plumbing is
// at the bottom, flags and files above it, the commands above those,
// and the dispatchers on top; no command reaches into another's file.
var fileFloors = map[string]int{
	"cli.go":   0,
	"flags.go": 1, "outputs.go": 1,
	"rundir.go": 2, "analyzeflags.go": 2, "signals.go": 2,
	"resume.go": 3, "sweepdir.go": 3,
	"train.go": 4, "profile.go": 4, "sample.go": 4, "average.go": 4, "logits.go": 4, "bpe.go": 4,
	"translate.go": 4, "bleu.go": 4, "corpus.go": 4, "board.go": 4, "version.go": 4, "tasks.go": 4,
	"analyze_change.go": 4, "analyze_grads.go": 4, "analyze_dependency.go": 4, "analyze_sweep.go": 4,
	"analyze_lrrange.go": 4, "analyze_scaling.go": 4,
	"analyze.go": 5,
	"main.go":    6,
}

// typeCheck type-checks the package's non-test files against the
// export data of its dependencies ('go list -export').
func typeCheck(t *testing.T) (*token.FileSet, []*ast.File, *types.Info) {
	t.Helper()
	out, err := exec.Command("go", "list", "-export", "-deps", "-json=ImportPath,Export", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	exports := map[string]string{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p struct{ ImportPath, Export string }
		if dec.Decode(&p) != nil {
			break
		}
		exports[p.ImportPath] = p.Export
	}
	fset := token.NewFileSet()
	var files []*ast.File
	names, _ := filepath.Glob("*.go")
	for _, n := range names {
		if strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, n, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	imp := importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) { return os.Open(exports[path]) })
	info := &types.Info{Uses: map[*ast.Ident]types.Object{}}
	if _, err := (&types.Config{Importer: imp}).Check("main", fset, files, info); err != nil {
		t.Fatal(err)
	}
	return fset, files, info
}

// No file of cmd/clinic uses what a file of its floor or above declares.
func TestFileFloors(t *testing.T) {
	fset, files, info := typeCheck(t)
	for _, f := range files {
		name := fset.Position(f.Pos()).Filename
		if _, ok := fileFloors[name]; !ok {
			t.Errorf("%s is not in fileFloors (layout_test.go): give it a floor", name)
		}
	}
	bad := map[string]bool{}
	for id, obj := range info.Uses {
		if obj.Pkg() == nil || obj.Pkg().Path() != "main" || !obj.Pos().IsValid() {
			continue
		}
		from, to := fset.Position(id.Pos()).Filename, fset.Position(obj.Pos()).Filename
		if from == to || filepath.Ext(to) != ".go" {
			continue
		}
		if fileFloors[to] >= fileFloors[from] {
			bad[from+" uses "+obj.Name()+" of "+to] = true
		}
	}
	var msgs []string
	for m := range bad {
		msgs = append(msgs, m)
	}
	sort.Strings(msgs)
	for _, m := range msgs {
		t.Error(m + " (same floor or above)")
	}
}

// --threads, the worker threads of a command's pool, is declared once
// (shared.take), and every command that runs a pool takes it with the
// same meaning.
func TestThreadsDeclaredOnce(t *testing.T) {
	_, files, _ := typeCheck(t)
	n := 0
	for _, f := range files {
		ast.Inspect(f, func(x ast.Node) bool {
			if lit, ok := x.(*ast.BasicLit); ok && strings.Contains(lit.Value, "worker threads (0: one per CPU)") {
				n++
			}
			return true
		})
	}
	if n != 1 {
		t.Errorf("--threads is declared %d times, want once", n)
	}
	for _, cmd := range [][]string{{"train"}, {"train", "--task", "translate"}, {"profile"}, {"sample"}, {"logits"}, {"translate"},
		{"analyze", "change"}, {"analyze", "grads"}, {"analyze", "dependency"}, {"analyze", "sweep"}, {"analyze", "sweep", "--task", "translate"}} {
		code, out, _ := runCLI(t, append(cmd, "--help")...)
		if code != 0 || !strings.Contains(out, "--threads int") || !strings.Contains(out, "worker threads (0: one per CPU)") {
			t.Errorf("clinic %s --help: exit %d, no shared --threads", strings.Join(cmd, " "), code)
		}
	}
}

// The file checks are fileutil's: cmd/clinic declares none of its own.
func TestNoFileCheckHelpers(t *testing.T) {
	_, files, _ := typeCheck(t)
	for _, f := range files {
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok {
				switch fd.Name.Name {
				case "unwrapPathErr", "fileExists", "checkRegular", "pathErr", "readCorpus", "loadCodes", "saveCodes":
					t.Errorf("cmd/clinic declares %s: use internal/fileutil (or bpe.ReadFile, bpe.WriteFile)", fd.Name.Name)
				}
			}
		}
	}
}

// The CLI parses and prints: cmd/clinic stays within 2,000 lines, and no
// function of it or of the packages the experiments, inference, tasks
// and run directories moved to is over 80 lines.
func TestSizeTargets(t *testing.T) {
	lines := 0
	names, _ := filepath.Glob("*.go")
	for _, n := range names {
		if !strings.HasSuffix(n, "_test.go") {
			b, err := os.ReadFile(n)
			if err != nil {
				t.Fatal(err)
			}
			lines += strings.Count(string(b), "\n")
		}
	}
	if lines > 2000 {
		t.Errorf("cmd/clinic has %d non-test lines, over 2,000", lines)
	}
	for _, dir := range []string{".", "../../internal/experiment", "../../internal/translate", "../../internal/task", "../../internal/task/lm",
		"../../internal/task/translation", "../../internal/rundir", "../../internal/limits", "../../internal/stop", "../../internal/logits"} {
		names, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		if len(names) == 0 {
			t.Errorf("%s: no Go files", dir)
		}
		for _, n := range names {
			if strings.HasSuffix(n, "_test.go") {
				continue
			}
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, n, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range f.Decls {
				if fd, ok := d.(*ast.FuncDecl); ok {
					if l := fset.Position(fd.End()).Line - fset.Position(fd.Pos()).Line + 1; l > 80 {
						t.Errorf("%s: %s is %d lines, over 80", n, fd.Name.Name, l)
					}
				}
			}
		}
	}
}
