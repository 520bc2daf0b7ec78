// Package wasmvm is how anything in apiguard gets the compiled filter and a
// VM to run it in: it locates build/apiguard.wasm and tells when it is stale,
// prepares it for the proxy-wasm Go SDK's wazero emulator (EmulatorVM,
// Pool), for tests, benchmarks and the replay command. The host modelled on
// Envoy's cpp-host is internal/testing/cpphost; internal/testing/vmtest runs behaviour tests
// in both.
package wasmvm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// DefaultPath is where make build writes the filter, relative to the
// repository root.
const DefaultPath = "build/apiguard.wasm"

// RepoRoot returns the directory holding go.mod, searching upwards from dir.
func RepoRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// SourcesTemplate is the go list -f template that prints every source file
// of the main module's packages the filter depends on, one per line: its Go
// files, those its build tags leave out (the benchmark builds' variants) and
// its embedded files. The Makefile's FILTER_SRCS uses the same query.
const SourcesTemplate = `{{if and .Module .Module.Main}}{{$d := .Dir}}` +
	`{{range .GoFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}` +
	`{{range .IgnoredGoFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}` +
	`{{range .EmbedFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}{{end}}`

// Sources returns the files the filter at root is built from, as
// go list -deps computes them for GOOS=wasip1 GOARCH=wasm ./filter: the
// source files of every package of the module it imports, then go.mod and
// go.sum.
func Sources(root string) ([]string, error) {
	cmd := exec.Command("go", "list", "-deps", "-f", SourcesTemplate, "./filter")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "GOFLAGS=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("listing the filter's sources (go list -deps ./filter): %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	files := strings.Fields(string(out))
	return append(files, filepath.Join(root, "go.mod"), filepath.Join(root, "go.sum")), nil
}

// Stale reports the first source file of the filter at root (Sources) that
// is newer than the module at wasmPath, or "" when the module is up to date.
func Stale(root, wasmPath string) (string, error) {
	wi, err := os.Stat(wasmPath)
	if err != nil {
		return "", err
	}
	files, err := Sources(root)
	if err != nil {
		return "", err
	}
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			return "", err
		}
		if fi.ModTime().After(wi.ModTime()) {
			return f, nil
		}
	}
	return "", nil
}

// AliasStart returns a copy of a WASI reactor module whose export section
// also exports its "_initialize" function as "_start".
//
// proxytest.NewWasmVMContext instantiates modules with wazero's default
// start function, "_start", which a reactor does not have: the Go runtime
// would never be initialised and the first callback would trap with
// "wasmexport function called before runtime initialization". Envoy's host
// calls _initialize itself, so the alias is for the emulator only: never ship
// an aliased module.
func AliasStart(wasm []byte) ([]byte, error) {
	if len(wasm) < 8 || !bytes.Equal(wasm[:4], []byte("\x00asm")) {
		return nil, errors.New("not a WebAssembly module")
	}
	out := make([]byte, 0, len(wasm)+16)
	out = append(out, wasm[:8]...)
	rest := wasm[8:]
	patched := false
	for len(rest) > 0 {
		id := rest[0]
		size, n := binary.Uvarint(rest[1:])
		if n <= 0 || size > uint64(len(rest)-1-n) {
			return nil, fmt.Errorf("section %d: bad size", id)
		}
		body := rest[1+n : 1+n+int(size)]
		rest = rest[1+n+int(size):]
		if id == exportSectionID {
			var err error
			if body, err = withStartAlias(body); err != nil {
				return nil, fmt.Errorf("export section: %w", err)
			}
			patched = true
		}
		out = append(out, id)
		out = binary.AppendUvarint(out, uint64(len(body)))
		out = append(out, body...)
	}
	if !patched {
		return nil, errors.New("module has no export section")
	}
	return out, nil
}

const (
	exportSectionID = 7
	exportKindFunc  = 0
)

// withStartAlias appends a "_start" function export pointing at the same
// function as "_initialize"; a module that already exports _start is left as
// it is.
func withStartAlias(sec []byte) ([]byte, error) {
	count, n := binary.Uvarint(sec)
	if n <= 0 {
		return nil, errors.New("bad export count")
	}
	entries := sec[n:]
	var initIndex uint64
	found := false
	p := entries
	for i := uint64(0); i < count; i++ {
		nameLen, n := binary.Uvarint(p)
		if n <= 0 || nameLen > uint64(len(p)-n) {
			return nil, fmt.Errorf("export %d: bad name", i)
		}
		name := string(p[n : n+int(nameLen)])
		p = p[n+int(nameLen):]
		if len(p) < 2 {
			return nil, fmt.Errorf("export %q: truncated", name)
		}
		kind := p[0]
		index, m := binary.Uvarint(p[1:])
		if m <= 0 {
			return nil, fmt.Errorf("export %q: bad index", name)
		}
		p = p[1+m:]
		if kind != exportKindFunc {
			continue
		}
		switch name {
		case "_start":
			return sec, nil
		case "_initialize":
			initIndex, found = index, true
		}
	}
	if !found {
		return nil, errors.New("no _initialize export: not a WASI reactor")
	}
	out := binary.AppendUvarint(nil, count+1)
	out = append(out, entries...)
	out = binary.AppendUvarint(out, uint64(len("_start")))
	out = append(out, "_start"...)
	out = append(out, exportKindFunc)
	return binary.AppendUvarint(out, initIndex), nil
}
