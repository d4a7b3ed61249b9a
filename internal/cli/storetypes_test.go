package cli

import (
	"encoding/json"
	"fmt"
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

// TestNoStoreTypes: the CLI's code never holds a value of a type declared
// in internal/store, whether it names it or gets it from a luna.Service
// method (an alias in package luna counts as the store's type). The CLI's
// non-test files are type-checked against the compiler's export data, and
// every expression's type is looked at, with the types it is built from
// (pointer, slice, map, unnamed struct fields, function signatures, type
// arguments). luna's own named types are not opened: their unexported
// fields (Service's store) are theirs.
func TestNoStoreTypes(t *testing.T) {
	const storePath = "github.com/clustervision/luna-go/internal/store"
	out, err := exec.Command("go", "list", "-export", "-deps", "-json=ImportPath,Export", ".").Output()
	if err != nil {
		t.Fatalf("go list -export: %v", err)
	}
	exports := map[string]string{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p struct{ ImportPath, Export string }
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		exports[p.ImportPath] = p.Export
	}
	fset := token.NewFileSet()
	imp := importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
		f, ok := exports[path]
		if !ok || f == "" {
			return nil, fmt.Errorf("no export data for %s", path)
		}
		return os.Open(f)
	})
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
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
	if len(files) < 10 {
		t.Fatalf("only %d files of internal/cli parsed", len(files))
	}
	info := &types.Info{Types: map[ast.Expr]types.TypeAndValue{}, Defs: map[*ast.Ident]types.Object{}}
	conf := types.Config{Importer: imp}
	if _, err := conf.Check("github.com/clustervision/luna-go/internal/cli", fset, files, info); err != nil {
		t.Fatalf("type-checking internal/cli: %v", err)
	}
	seen := map[types.Type]bool{}
	var fromStore func(types.Type) string
	fromStore = func(ty types.Type) string {
		ty = types.Unalias(ty)
		if seen[ty] {
			return ""
		}
		seen[ty] = true
		defer delete(seen, ty)
		switch ty := ty.(type) {
		case *types.Named:
			// A named type is its package's own; its unexported fields
			// are its business, and an exported field of a store type
			// the CLI reads is an expression of its own, found below.
			if o := ty.Obj(); o.Pkg() != nil && o.Pkg().Path() == storePath {
				return "store." + o.Name()
			}
			if args := ty.TypeArgs(); args != nil {
				for i := 0; i < args.Len(); i++ {
					if s := fromStore(args.At(i)); s != "" {
						return s
					}
				}
			}
		case *types.Pointer:
			return fromStore(ty.Elem())
		case *types.Slice:
			return fromStore(ty.Elem())
		case *types.Array:
			return fromStore(ty.Elem())
		case *types.Map:
			if s := fromStore(ty.Key()); s != "" {
				return s
			}
			return fromStore(ty.Elem())
		case *types.Chan:
			return fromStore(ty.Elem())
		case *types.Struct:
			for i := 0; i < ty.NumFields(); i++ {
				if s := fromStore(ty.Field(i).Type()); s != "" {
					return s
				}
			}
		case *types.Signature:
			for _, tup := range []*types.Tuple{ty.Params(), ty.Results()} {
				for i := 0; i < tup.Len(); i++ {
					if s := fromStore(tup.At(i).Type()); s != "" {
						return s
					}
				}
			}
		case *types.Tuple:
			for i := 0; i < ty.Len(); i++ {
				if s := fromStore(ty.At(i).Type()); s != "" {
					return s
				}
			}
		}
		return ""
	}
	var bad []string
	for e, tv := range info.Types {
		if tv.Type == nil {
			continue
		}
		if s := fromStore(tv.Type); s != "" {
			bad = append(bad, fmt.Sprintf("%s: %s is %s", fset.Position(e.Pos()), types.ExprString(e), s))
		}
	}
	sort.Strings(bad)
	for _, b := range bad {
		t.Error(b)
	}
}
