// Package vmtest runs a behaviour test in every runner, like
// coraza-proxy-wasm's vmTest but with a third kind: natively, with the
// plugin's VMContext linked into the test binary; against the compiled
// module (build/apiguard.wasm) in the proxy-wasm Go SDK's wazero emulator;
// and against the compiled module in internal/cpphost, the host modelled on
// Envoy's proxy-wasm-cpp-host, once per cpp-host profile (envoy-1.33,
// envoy-1.39). The test body is written once: for the first two it gets the
// VMContext to run in proxytest's host emulator, for the third a *HostVM
// that names the profile, and the test's own helpers start the plugin in
// the host that fits.
//
// The wasm run fails, never skips, when the module is missing or older than
// its sources: make test builds it first.
package vmtest

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/proxytest"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
	"github.com/tetratelabs/wazero"

	"github.com/apiguard/apiguard/internal/cpphost"
	"github.com/apiguard/apiguard/internal/wasmvm"
)

// Run runs test as subtests "native", "wasm" and "cpphost/<profile>" for
// each cpp-host profile. native returns a fresh VMContext of the plugin for
// each call.
func Run(t *testing.T, native func() types.VMContext, test func(t *testing.T, vm types.VMContext)) {
	t.Helper()
	t.Run("native", func(t *testing.T) { test(t, native()) })
	t.Run("wasm", func(t *testing.T) {
		vm := WasmVM(t)
		test(t, vm)
	})
	for _, p := range cpphost.Profiles() {
		t.Run("cpphost/"+p.Name, func(t *testing.T) { test(t, &HostVM{Profile: p}) })
	}
}

// HostVM stands, in a test body, for the compiled module in the
// cpp-host-modelled host under Profile. It is a types.VMContext only so
// that one test body serves every runner: it never runs as one.
type HostVM struct {
	types.DefaultVMContext
	Profile *cpphost.Profile
}

// NewHost returns a host of the compiled filter under profile, closed when
// the test ends. At the end of the test it fails the test for every
// restricted call (a trap in Envoy) or unmodelled host call the module made.
func NewHost(t testing.TB, profile *cpphost.Profile, opts cpphost.Options) *cpphost.Host {
	t.Helper()
	Module(t)
	opts.Profile = profile
	if opts.Cache == nil {
		opts.Cache = cache
	}
	h, err := cpphost.New(context.Background(), mod.plain, opts)
	if err != nil {
		t.Fatalf("loading %s in cpphost (%s): %v", wasmvm.DefaultPath, profile.Name, err)
	}
	t.Cleanup(func() {
		for _, v := range h.Violations() {
			t.Errorf("cpphost %s: %s", profile.Name, v)
		}
		h.Close()
	})
	return h
}

// cache keeps the module's compiled code for every host of the test binary.
var cache = wazero.NewCompilationCache()

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
	mod.once.Do(func() { mod.plain, mod.wasm, mod.err = loadModule() })
	if mod.err != "" {
		t.Fatal(mod.err)
	}
	return mod.wasm
}

var mod struct {
	once  sync.Once
	plain []byte // as built, for cpphost
	wasm  []byte // with the _start alias, for the emulator
	err   string
}

// loadModule reads and checks the module once per test binary.
func loadModule() (plain, aliased []byte, problem string) {
	wd, err := os.Getwd()
	if err != nil {
		return nil, nil, err.Error()
	}
	root, err := wasmvm.RepoRoot(wd)
	if err != nil {
		return nil, nil, err.Error()
	}
	path := filepath.Join(root, wasmvm.DefaultPath)
	newer, err := wasmvm.Stale(root, path)
	if err != nil {
		return nil, nil, "the compiled filter is missing (" + err.Error() + "): run make build, or make test, which builds it"
	}
	if newer != "" {
		return nil, nil, path + " is older than " + newer + ": run make build, or make test, which builds it"
	}
	wasm, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err.Error()
	}
	aliased, err = wasmvm.AliasStart(wasm)
	if err != nil {
		return nil, nil, path + ": " + err.Error()
	}
	return wasm, aliased, ""
}

// Plain returns the compiled filter as built (without the emulator's
// _start alias), for cpphost. It fails the test when the module is missing
// or stale.
func Plain(t testing.TB) []byte {
	t.Helper()
	Module(t)
	return mod.plain
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
