// Package gatehouse_test holds checks of the whole source tree, the SDK
// module included, that belong to no one package.
package gatehouse_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEveryPackageHasADocComment: every Go package of the repository
// (both modules, commands and examples included) says what it is for in
// one doc comment that starts "Package <name> " ("Command <name> " for a
// command), as go doc expects; a second doc comment in another file of the
// package would be merged with it, so there is none.
func TestEveryPackageHasADocComment(t *testing.T) {
	type pkg struct {
		name string
		docs []string // the files holding a package doc comment
		doc  string
	}
	pkgs := map[string]*pkg{}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != "." && (strings.HasPrefix(d.Name(), ".") || strings.HasPrefix(d.Name(), "_") ||
				d.Name() == "testdata" || d.Name() == "vendor" || d.Name() == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.PackageClauseOnly|parser.ParseComments)
		if err != nil {
			return err
		}
		dir := filepath.Dir(path)
		p := pkgs[dir]
		if p == nil {
			p = &pkg{name: f.Name.Name}
			pkgs[dir] = p
		}
		if f.Doc != nil {
			p.docs = append(p.docs, path)
			p.doc = f.Doc.Text()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join("sdk", "go.mod")); err != nil || pkgs["sdk"] == nil {
		t.Fatalf("the SDK module was not walked: %v", err)
	}
	if len(pkgs) < 30 {
		t.Fatalf("only %d packages found", len(pkgs))
	}
	for dir, p := range pkgs {
		want := "Package " + p.name + " "
		if p.name == "main" {
			want = "Command " + filepath.Base(dir) + " "
		}
		switch {
		case len(p.docs) == 0:
			t.Errorf("%s: package %s has no doc comment", dir, p.name)
		case len(p.docs) > 1:
			t.Errorf("%s: package %s has doc comments in %d files (%s); keep one", dir, p.name, len(p.docs), strings.Join(p.docs, ", "))
		case !strings.HasPrefix(p.doc, want):
			t.Errorf("%s: the doc comment of package %s starts %.40q, want %q", dir, p.name, p.doc, want)
		}
	}
}
