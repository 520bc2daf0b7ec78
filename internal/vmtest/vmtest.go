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
	"sync"
	"testing"

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
	module(t)
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
	vm, release, err := vms.Get(Plain(t))
	if err != nil {
		t.Fatalf("loading %s in the emulator: %v", wasmvm.DefaultPath, err)
	}
	t.Cleanup(release)
	return vm
}

// module loads the compiled filter once per test binary and fails the test
// when it is missing or stale.
func module(t testing.TB) []byte {
	t.Helper()
	if testing.Short() {
		t.Skip("-short (make check): needs the compiled filter, which make test builds")
	}
	mod.once.Do(func() { mod.plain, mod.err = loadModule() })
	if mod.err != "" {
		t.Fatal(mod.err)
	}
	return mod.plain
}

var mod struct {
	once  sync.Once
	plain []byte
	err   string
}

// loadModule reads and checks the module once per test binary.
func loadModule() (wasm []byte, problem string) {
	wd, err := os.Getwd()
	if err != nil {
		return nil, err.Error()
	}
	if wasm, err = wasmvm.Load(wd); err != nil {
		return nil, err.Error()
	}
	return wasm, ""
}

// Plain returns the compiled filter as built, for cpphost or
// wasmvm.EmulatorVM. It fails the test when the module is missing or stale.
func Plain(t testing.TB) []byte {
	t.Helper()
	return module(t)
}

// vms compiles emulator VMs one ahead of use on a second goroutine:
// compiling the module takes over a second, and the next test's VM compiles
// on the other core while the current test runs. Each test gets a fresh VM.
var vms wasmvm.Pool
