package bridge

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// sdkUint32Types are the SDK's internal named types whose underlying type is
// uint32; the mirror spells them as uint32.
var sdkUint32Types = map[string]bool{
	"LogLevel": true, "MapType": true, "BufferType": true,
	"StreamType": true, "MetricType": true, "Status": true,
}

// TestHostABIMatchesSDK reads internal.ProxyWasmHost from the SDK module's
// source and hostABI from this package's source and requires the same
// methods, in the same order, with the same parameter and result types.
// Itab dispatch relies on that (see doc.go).
func TestHostABIMatchesSDK(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/tetratelabs/proxy-wasm-go-sdk").Output()
	if err != nil {
		t.Fatalf("locating the SDK module: %v", err)
	}
	sdkFile := filepath.Join(strings.TrimSpace(string(out)), "proxywasm", "internal", "abi_hostcalls_mock.go")
	want := interfaceMethods(t, sdkFile, "ProxyWasmHost")
	got := interfaceMethods(t, "hostabi.go", "hostABI")
	if len(want) < 29 {
		t.Fatalf("found only %d methods in %s; the SDK layout changed", len(want), sdkFile)
	}
	if len(got) != len(want) {
		t.Fatalf("hostABI has %d methods, SDK ProxyWasmHost has %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("method %d drifted:\n got: %s\nwant: %s", i, got[i], want[i])
		}
	}
}

// interfaceMethods returns "Name(param types) result" for each method of the
// named interface in file, in declaration order.
func interfaceMethods(t *testing.T, file, name string) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var methods []string
	ast.Inspect(f, func(n ast.Node) bool {
		ts, ok := n.(*ast.TypeSpec)
		if !ok || ts.Name.Name != name {
			return true
		}
		it, ok := ts.Type.(*ast.InterfaceType)
		if !ok {
			t.Fatalf("%s in %s is not an interface", name, file)
		}
		for _, m := range it.Methods.List {
			ft := m.Type.(*ast.FuncType)
			var params []string
			for _, p := range ft.Params.List {
				for range max(1, len(p.Names)) {
					params = append(params, typeString(p.Type))
				}
			}
			var results []string
			if ft.Results != nil {
				for _, r := range ft.Results.List {
					results = append(results, typeString(r.Type))
				}
			}
			methods = append(methods, m.Names[0].Name+"("+strings.Join(params, ", ")+") "+strings.Join(results, ", "))
		}
		return false
	})
	if len(methods) == 0 {
		t.Fatalf("interface %s not found in %s", name, file)
	}
	return methods
}

func typeString(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		if sdkUint32Types[e.Name] {
			return "uint32"
		}
		return e.Name
	case *ast.StarExpr:
		return "*" + typeString(e.X)
	default:
		return "<unsupported type expression>"
	}
}
