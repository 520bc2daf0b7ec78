package abi

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/internal/wasmvm"
)

// TestBuiltModuleConforms checks build/apiguard.wasm (make test builds it)
// against what Envoy's proxy-wasm host provides and calls.
func TestBuiltModuleConforms(t *testing.T) {
	root, err := wasmvm.RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	wasm, err := os.ReadFile(filepath.Join(root, wasmvm.DefaultPath))
	if err != nil {
		t.Fatalf("%v: run make build", err)
	}
	f, err := Inspect(context.Background(), wasm)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range Check(f) {
		t.Error(p)
	}
	var imports []string
	for name, s := range f.Imports {
		imports = append(imports, name+s)
	}
	sort.Strings(imports)
	t.Logf("%d imports:\n  %s", len(imports), strings.Join(imports, "\n  "))
	// The bridge must have produced real host imports (the linker keep-alive).
	if _, ok := f.Imports["env.proxy_get_header_map_pairs"]; !ok {
		t.Error("no env.proxy_get_header_map_pairs import: the bridge's host methods were dropped by the linker")
	}
}

func TestCheckReportsProblems(t *testing.T) {
	f := Facts{
		Imports: map[string]sig{
			"env.proxy_log":                    "(i32,i32,i32)->i32",
			"env.proxy_made_up":                "()->i32",
			"wasi_snapshot_preview1.fd_write":  "(i32,i32)->i32",
			"wasi_snapshot_preview1.path_open": "(i32)->i32",
		},
		Exports: map[string]sig{"_start": "()->"},
	}
	got := strings.Join(Check(f), "\n")
	for _, want := range []string{
		"env.proxy_made_up()->i32, which Envoy's proxy-wasm host does not provide",
		"wasi_snapshot_preview1.path_open(i32)->i32, which Envoy's proxy-wasm host does not provide",
		"fd_write(i32,i32)->i32, but the host's signature is (i32,i32,i32,i32)->i32",
		"does not export _initialize",
		"does not export proxy_on_request_headers",
		"exports _start",
		`does not export its memory as "memory"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing problem %q in:\n%s", want, got)
		}
	}
	if strings.Contains(got, "proxy_log") {
		t.Errorf("a provided import was reported:\n%s", got)
	}
}
