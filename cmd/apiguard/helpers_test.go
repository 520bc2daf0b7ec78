package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/apiguard/apiguard/internal/wasmvm"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

func TestMain(m *testing.M) {
	// Compiling the module takes seconds: every replay in this package
	// shares a small pool of VMs instead of compiling one per run. A run
	// has its VMs to itself (a baseline comparison borrows two) and a fresh
	// host emulator, so sharing VMs between runs changes nothing but the
	// time.
	compileVM = func(wasm []byte) (types.VMContext, func(), error) { return pool.Get(wasm) }
	code := m.Run()
	pool.Close()
	os.Exit(code)
}

var pool = wasmvm.Pool{Reuse: true, Ahead: 2}

// wasmFile returns the path of the compiled filter, failing the test when
// it is missing or older than its sources.
func wasmFile(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short (make check): needs the compiled filter, which make test builds")
	}
	path, err := wasmvm.Locate(".")
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// repoFile returns the path of a file of the repository.
func repoFile(t *testing.T, rel string) string {
	t.Helper()
	root, err := wasmvm.RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, rel)
}

// result is what one command line did.
type result struct {
	stdout, stderr string
	code           int
}

// apiguard runs the command line args with stdin and returns its output and
// exit status.
func apiguard(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(args, &env{stdin: strings.NewReader(stdin), stdout: &stdout, stderr: &stderr})
	return result{stdout.String(), stderr.String(), code}
}

// wantCode fails the test unless r exited with code.
func (r result) wantCode(t *testing.T, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit status %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
}

// golden compares got with the golden file testdata/name, or rewrites the
// file with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/apiguard -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test ./cmd/apiguard -update rewrites it)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// noKeys fails the test if any of keys appears in any of outputs.
func noKeys(t *testing.T, keys []string, outputs ...string) {
	t.Helper()
	for _, k := range keys {
		for _, out := range outputs {
			if strings.Contains(out, k) {
				t.Errorf("a raw key was printed:\n%s", out)
			}
		}
	}
}

// fileKeys returns the keys of a keys file ("ID<TAB>KEY" lines).
func fileKeys(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for line := range strings.Lines(string(data)) {
		if f := strings.Fields(line); len(f) == 2 && !strings.HasPrefix(f[0], "#") {
			keys = append(keys, f[1])
		}
	}
	if len(keys) == 0 {
		t.Fatalf("%s has no keys", path)
	}
	return keys
}
