// Package vmtest runs a behaviour test twice, like coraza-proxy-wasm's vmTest:
// natively, with the plugin's VMContext linked into the test binary, and
// against the compiled module (build/apiguard.wasm) in the proxy-wasm Go
// SDK's wazero emulator. Both runs use the same proxytest host emulator, so
// the test body is written once.
//
// The wasm run fails, never skips, when the module is missing or older than
// its sources: make test builds it first.
package vmtest

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/proxytest"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/apiguard/apiguard/internal/wasmvm"
)

// Run runs test as subtests "native" and "wasm". native returns a fresh
// VMContext of the plugin for each call.
func Run(t *testing.T, native func() types.VMContext, test func(t *testing.T, vm types.VMContext)) {
	t.Helper()
	t.Run("native", func(t *testing.T) { test(t, native()) })
	t.Run("wasm", func(t *testing.T) {
		vm := WasmVM(t)
		test(t, vm)
	})
}

// WasmVM returns an emulator VMContext of the compiled filter, closed when
// the test ends.
func WasmVM(t testing.TB) types.VMContext {
	t.Helper()
	vm, err := vms.get(t)
	if err != nil {
		t.Fatalf("loading %s in the emulator: %v", wasmvm.DefaultPath, err)
	}
	t.Cleanup(func() { vm.Close() })
	return vm
}

// Module returns the compiled filter with its _start alias, ready for
// proxytest.NewWasmVMContext. It fails the test when the module is missing or
// stale.
func Module(t testing.TB) []byte {
	t.Helper()
	mod.once.Do(func() { mod.wasm, mod.err = loadModule() })
	if mod.err != "" {
		t.Fatal(mod.err)
	}
	return mod.wasm
}

var mod struct {
	once sync.Once
	wasm []byte
	err  string
}

// loadModule reads and checks the module once per test binary.
func loadModule() ([]byte, string) {
	wd, err := os.Getwd()
	if err != nil {
		return nil, err.Error()
	}
	root, err := wasmvm.RepoRoot(wd)
	if err != nil {
		return nil, err.Error()
	}
	path := filepath.Join(root, wasmvm.DefaultPath)
	newer, err := wasmvm.Stale(root, path)
	if err != nil {
		return nil, "the compiled filter is missing (" + err.Error() + "): run make build, or make test, which builds it"
	}
	if newer != "" {
		return nil, path + " is older than " + newer + ": run make build, or make test, which builds it"
	}
	wasm, err := os.ReadFile(path)
	if err != nil {
		return nil, err.Error()
	}
	aliased, err := wasmvm.AliasStart(wasm)
	if err != nil {
		return nil, path + ": " + err.Error()
	}
	return aliased, ""
}

// vms compiles emulator VMs one ahead of use on a second goroutine:
// compiling the module takes over a second, and the next test's VM compiles
// on the other core while the current test runs.
var vms vmPool

type vmPool struct {
	once  sync.Once
	ready chan vmOrErr
}

type vmOrErr struct {
	vm  proxytest.WasmVMContext
	err error
}

func (p *vmPool) get(t testing.TB) (proxytest.WasmVMContext, error) {
	wasm := Module(t)
	p.once.Do(func() {
		p.ready = make(chan vmOrErr, 1)
		go func() {
			for {
				vm, err := proxytest.NewWasmVMContext(wasm)
				p.ready <- vmOrErr{vm, err}
			}
		}()
	})
	r := <-p.ready
	return r.vm, r.err
}
