package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/apiguard/apiguard/internal/wasmvm"
)

// modulePath is this repository's Go module, which marks its root.
const modulePath = "github.com/apiguard/apiguard"

// defaultWasm returns the module replay runs when --wasm is not given:
// build/apiguard.wasm at the root of the apiguard repository holding dir
// (any directory inside it). Outside the repository, or before make build,
// the error says exactly what to pass.
func defaultWasm(dir string) (string, error) {
	root, err := apiguardRoot(dir)
	if err != nil {
		return "", fmt.Errorf("no --wasm given and %v: pass --wasm PATH/TO/apiguard.wasm "+
			"(make build writes %s in the repository)", err, wasmvm.DefaultPath)
	}
	path := filepath.Join(root, wasmvm.DefaultPath)
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("no --wasm given and %s does not exist: run make build in %s, or pass --wasm PATH/TO/apiguard.wasm", path, root)
	}
	return path, nil
}

// apiguardRoot returns the nearest directory at or above dir whose go.mod
// declares this module.
func apiguardRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil &&
			bytes.HasPrefix(bytes.TrimSpace(data), []byte("module "+modulePath+"\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("the working directory is not inside the apiguard repository")
		}
		dir = parent
	}
}
