package main

import (
	"bytes"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/clinic-ml/clinic/"

// packageRows reads docs/design.md's package table: each row's packages
// and what they may import.
func packageRows(t *testing.T) map[string][]string {
	b, err := os.ReadFile("../../docs/design.md")
	if err != nil {
		t.Fatal(err)
	}
	sec := string(b)
	i := strings.Index(sec, "## Packages and what they may import")
	if i < 0 {
		t.Fatal("docs/design.md has no package table")
	}
	sec = sec[i:]
	sec = sec[:strings.Index(sec[3:], "\n## ")+3]
	tick := regexp.MustCompile("`([^`]+)`")
	rows := map[string][]string{}
	for _, line := range strings.Split(sec, "\n") {
		cols := strings.Split(line, " | ")
		if !strings.HasPrefix(line, "| `") || len(cols) != 3 {
			continue
		}
		var allow []string
		for _, m := range tick.FindAllStringSubmatch(cols[2], -1) {
			allow = append(allow, m[1])
		}
		if strings.Contains(cols[2], "everything") {
			allow = append(allow, "everything")
		}
		for _, m := range tick.FindAllStringSubmatch(cols[0], -1) {
			rows[m[1]] = allow
		}
	}
	return rows
}

// allowed is whether a row's list allows importing path (relative to
// the module, or an outside module's path).
func allowed(allow []string, path string) bool {
	for _, a := range allow {
		switch {
		case a == "everything", a == path,
			a == "internal/…" && strings.HasPrefix(path, "internal/"),
			strings.Contains(a, ".") && strings.HasPrefix(path, a):
			return true
		}
	}
	return false
}

// Every package of the module has a row in docs/design.md's table and
// imports only what its row lists (non-test files, every build tag).
func TestPackageTable(t *testing.T) {
	rows := packageRows(t)
	imports := map[string]map[string]bool{}
	root := "../.."
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() && (rel == "gen" || d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".") && rel != ".") {
			return filepath.SkipDir // gen is a module of its own
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), p, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		pkg := filepath.ToSlash(filepath.Dir(rel))
		if imports[pkg] == nil {
			imports[pkg] = map[string]bool{}
		}
		for _, s := range f.Imports {
			path, _ := strconv.Unquote(s.Path.Value)
			imports[pkg][path] = true
		}
		return nil
	})
	if len(imports) < 20 {
		t.Fatalf("found %d packages: not the module's root?", len(imports))
	}
	for pkg, imps := range imports {
		allow, ok := rows[pkg]
		if !ok {
			// a row "dir/…" is every package in dir (each task's)
			allow, ok = rows[filepath.ToSlash(filepath.Dir(pkg))+"/…"]
		}
		if !ok {
			t.Errorf("docs/design.md's package table has no row for %s", pkg)
			continue
		}
		for path := range imps {
			first, _, _ := strings.Cut(path, "/")
			if !strings.Contains(first, ".") {
				continue // the standard library, or cgo's "C"
			}
			if rel, ok := strings.CutPrefix(path, module); ok {
				path = rel
			}
			if !allowed(allow, path) {
				t.Errorf("%s imports %s, which its row in docs/design.md does not list", pkg, path)
			}
		}
	}
}

// Every command is in 'clinic --help', in main.go's package comment and
// in the README; and the flags a resumed run may change are the ones
// the docs list.
func TestCommandsDocumented(t *testing.T) {
	var help bytes.Buffer
	topUsage(&help)
	f, err := parser.ParseFile(token.NewFileSet(), "main.go", nil, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil {
		t.Fatal(err)
	}
	doc := f.Doc.Text()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range commands() {
		if !strings.Contains(help.String(), "  "+c.name+" ") {
			t.Errorf("clinic --help does not list %s", c.name)
		}
		if !regexp.MustCompile(`(?m)^\s*clinic ` + c.name + `\b`).MatchString(doc) {
			t.Errorf("main.go's package comment does not list 'clinic %s'", c.name)
		}
		if !strings.Contains(string(readme), "clinic "+c.name) {
			t.Errorf("README.md does not mention 'clinic %s'", c.name)
		}
	}
	design, err := os.ReadFile("../../docs/design.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range []struct {
		name, text string
	}{{"README.md", string(readme)}, {"docs/design.md", string(design)}} {
		text := strings.Join(strings.Fields(doc.text), " ")
		for _, n := range resumeMayChange {
			if !strings.Contains(text, "`--"+n+"`") {
				t.Errorf("%s's resume section does not list --%s, which a resumed run may change", doc.name, n)
			}
		}
	}
}

// Every help string of 'clinic train' is true for both tasks: the
// command's summary names both, and --seq-len is in bytes for a language
// model only.
func TestTrainHelpBothTasks(t *testing.T) {
	_, top, _ := runCLI(t, "--help")
	if !strings.Contains(top, "train a language model or a translator") {
		t.Errorf("clinic --help: train's summary names the language model only:\n%s", top)
	}
	for _, args := range [][]string{{"train", "--help"}, {"train", "--task", "translate", "--help"}} {
		_, out, _ := runCLI(t, args...)
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, "--seq-len") && !strings.Contains(line, "subword tokens") {
				t.Errorf("%v: %q says nothing of translation's subword tokens", args, line)
			}
		}
	}
}
