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
	if testing.Short() {
		t.Skip("-short (make check): needs the compiled filter, which make test builds")
	}
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
			"env.proxy_log":                   "(i32,i32,i32)->i32",
			"env.proxy_made_up":               "()->i32",
			"wasi_snapshot_preview1.fd_write": "(i32,i32)->i32",
			"wasi_snapshot_preview1.fd_tell":  "(i32,i32)->i32", // cpp-host #533 only
		},
		Exports: map[string]sig{"_start": "()->"},
	}
	got := strings.Join(Check(f), "\n")
	for _, want := range []string{
		"env.proxy_made_up()->i32, which Envoy's proxy-wasm host does not provide",
		"wasi_snapshot_preview1.fd_tell(i32,i32)->i32, which Envoy's proxy-wasm host does not provide",
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

// TestABISpecificImports: cpp-host registers proxy_get_log_level only for
// ABI 0.2.1 modules, so a 0.2.0 module importing it fails to load in Envoy.
func TestABISpecificImports(t *testing.T) {
	for _, tc := range []struct {
		marker string
		want   bool // a problem reported
	}{
		{"proxy_abi_version_0_2_0", true},
		{"proxy_abi_version_0_2_1", false},
	} {
		f := Facts{
			Imports: map[string]sig{"env.proxy_get_log_level": "(i32)->i32", "env.proxy_continue_stream": "(i32)->i32"},
			Exports: map[string]sig{tc.marker: "()->"},
		}
		got := strings.Join(Check(f), "\n")
		if has := strings.Contains(got, "env.proxy_get_log_level, which Envoy's proxy-wasm host registers only for ABI 0_2_1"); has != tc.want {
			t.Errorf("%s: problem reported = %v, want %v:\n%s", tc.marker, has, tc.want, got)
		}
		if strings.Contains(got, "proxy_continue_stream") {
			t.Errorf("%s: continue_stream is registered for every 0.2.x module:\n%s", tc.marker, got)
		}
	}
}
