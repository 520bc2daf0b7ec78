package wasmvm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestStale builds a small module tree: a filter package that imports
// policy, and a tool it does not import.
func TestStale(t *testing.T) {
	root := t.TempDir()
	write := func(name, content string, at time.Time) {
		t.Helper()
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
	}
	old, built, later := time.Unix(1000, 0), time.Unix(2000, 0), time.Unix(3000, 0)
	const mod = "module example.com/m\n\ngo 1.24\n"
	const filter = "package main\n\nimport _ \"example.com/m/policy\"\n\nfunc main() {}\n"
	write("go.mod", mod, old)
	write("go.sum", "", old)
	write("filter/main.go", filter, old)
	write("policy/p.go", "package policy\n", old)
	write("policy/p_wasip1.go", "//go:build ignore\n\npackage policy\n", old)
	write("policy/p_test.go", "package policy\n", later)             // tests do not go into the module
	write("tools/x/x.go", "package main\n\nfunc main() {}\n", later) // not imported by the filter
	write("build/apiguard.wasm", "", built)
	wasm := filepath.Join(root, "build/apiguard.wasm")
	if newer, err := Stale(root, wasm); err != nil || newer != "" {
		t.Fatalf("fresh module: Stale = %q, %v", newer, err)
	}
	write("go.mod", mod, later)
	if newer, err := Stale(root, wasm); err != nil || filepath.Base(newer) != "go.mod" {
		t.Fatalf("after go.mod changed: Stale = %q, %v", newer, err)
	}
	write("go.mod", mod, old)
	write("policy/p_wasip1.go", "//go:build ignore\n\npackage policy\n", later)
	if newer, err := Stale(root, wasm); err != nil || filepath.Base(newer) != "p_wasip1.go" {
		t.Fatalf("after a source left out by build tags changed: Stale = %q, %v", newer, err)
	}
	write("policy/p_wasip1.go", "//go:build ignore\n\npackage policy\n", old)
	write("policy/p.go", "package policy\n", later)
	if newer, err := Stale(root, wasm); err != nil || filepath.Base(newer) != "p.go" {
		t.Fatalf("after a policy source changed: Stale = %q, %v", newer, err)
	}
	if _, err := Stale(root, filepath.Join(root, "build/missing.wasm")); err == nil {
		t.Fatal("a missing module must be an error")
	}
}

func TestAliasStart(t *testing.T) {
	// A module with one function exported as _initialize (type, function,
	// export and code sections).
	mod := []byte("\x00asm\x01\x00\x00\x00" +
		"\x01\x04\x01\x60\x00\x00" + // type: () -> ()
		"\x03\x02\x01\x00" + // function 0 has type 0
		"\x07\x0f\x01\x0b_initialize\x00\x00" + // export
		"\x0a\x04\x01\x02\x00\x0b") // code: empty body
	out, err := AliasStart(mod)
	if err != nil {
		t.Fatal(err)
	}
	if want := "\x07\x18\x02\x0b_initialize\x00\x00\x06_start\x00\x00"; !strings.Contains(string(out), want) {
		t.Fatalf("no _start alias in %q", out)
	}
	again, err := AliasStart(out)
	if err != nil || string(again) != string(out) {
		t.Fatalf("aliasing twice changed the module: %v", err)
	}
	if _, err := AliasStart([]byte("not wasm")); err == nil {
		t.Fatal("want an error for a non-module")
	}
	noInit := []byte("\x00asm\x01\x00\x00\x00\x07\x01\x00")
	if _, err := AliasStart(noInit); err == nil {
		t.Fatal("want an error for a module without _initialize")
	}
}

// TestMakefileListsSourcesAlike: the Makefile's FILTER_SRCS, which decides
// when make rebuilds the module, asks go list the same query as Sources,
// which tells the tests the module is stale.
func TestMakefileListsSourcesAlike(t *testing.T) {
	root, err := RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	want := "SRCS_TEMPLATE := " + strings.ReplaceAll(SourcesTemplate, "$", "$$")
	if !strings.Contains(string(mk), want+"\n") {
		t.Errorf("the Makefile does not hold\n%s", want)
	}
	if !strings.Contains(string(mk), "list -deps -f '$(SRCS_TEMPLATE)' ./filter") {
		t.Error("the Makefile's FILTER_SRCS no longer runs go list -deps with SRCS_TEMPLATE")
	}
}
