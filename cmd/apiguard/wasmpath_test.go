package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeRepo makes a directory tree with a go.mod of module and, when built,
// build/apiguard.wasm; it returns its root.
func fakeRepo(t *testing.T, module string, built bool) string {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "deploy", "istio"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "go.mod"), []byte("module "+module+"\n\ngo 1.26.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if built {
		if err := os.MkdirAll(filepath.Join(root, "build"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "build", "apiguard.wasm"), []byte("\x00asm"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestDefaultWasmFromAnyDirectoryInTheRepository(t *testing.T) {
	root := fakeRepo(t, modulePath, true)
	got, err := defaultWasm(filepath.Join(root, "deploy", "istio"))
	if want := filepath.Join(root, "build", "apiguard.wasm"); err != nil || got != want {
		t.Errorf("defaultWasm = %q, %v; want %q", got, err, want)
	}

	unbuilt := fakeRepo(t, modulePath, false)
	if _, err := defaultWasm(filepath.Join(unbuilt, "deploy")); err == nil ||
		!strings.Contains(err.Error(), "run make build in "+unbuilt) || !strings.Contains(err.Error(), "--wasm") {
		t.Errorf("before make build: %v", err)
	}

	// Another Go module is not the repository, even with a build/ directory.
	other := fakeRepo(t, "example.com/other", true)
	if _, err := defaultWasm(other); err == nil || !strings.Contains(err.Error(), "pass --wasm") {
		t.Errorf("in another module: %v", err)
	}
}

// TestReplayOutsideTheRepositorySaysWhatToPass: without --wasm outside the
// repository, replay exits 2 naming the flag.
func TestReplayOutsideTheRepositorySaysWhatToPass(t *testing.T) {
	config, err := filepath.Abs(fixtureConfig)
	if err != nil {
		t.Fatal(err)
	}
	requests, _ := filepath.Abs(fixtureTraffic)
	t.Chdir(t.TempDir())
	r := apiguard(t, "", "replay", "--config", config, "--requests", requests)
	r.wantCode(t, exitError)
	if !strings.Contains(r.stderr, "pass --wasm PATH/TO/apiguard.wasm") {
		t.Errorf("stderr does not say what to pass:\n%s", r.stderr)
	}
}
