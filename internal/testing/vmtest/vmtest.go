// Package vmtest runs a behaviour test in every runner, like
// coraza-proxy-wasm's vmTest but with a third kind: natively, with the
// plugin's VMContext linked into the test binary; against the compiled
// module (build/apiguard.wasm) in the proxy-wasm Go SDK's wazero emulator;
// and against the compiled module in internal/testing/cpphost, the host
// modelled on Envoy's proxy-wasm-cpp-host, once per cpp-host profile
// (envoy-1.33, envoy-1.39). The test body is written once: it gets a
// Runner, starts the plugin with a driver.Config and drives it through
// driver.Env, the same in every runner. What only one host can do is one of
// driver's optional interfaces, which a test asks the Env for.
//
// The wasm run fails, never skips, when the module is missing or older than
// its sources: make test builds it first.
package vmtest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
	"github.com/tetratelabs/wazero"

	"github.com/apiguard/apiguard/internal/driver"
	"github.com/apiguard/apiguard/internal/testing/cpphost"
	"github.com/apiguard/apiguard/internal/wasmvm"
)

// Runner starts the plugin in one runner's host: it is the factory of
// driver.Envs a test body receives.
type Runner interface {
	// Start starts the plugin with c. The Env is closed when the test ends
	// (or earlier, by Close, to start another: the SDK's emulator runs one
	// plugin at a time in a process). An error is the host's failure, or
	// wraps driver.ErrUnsupported for a Config it cannot honour; a plugin
	// that refused its configuration is an Env whose Failed is true.
	Start(t testing.TB, c driver.Config) (driver.Env, error)
	// Name is the runner's subtest name.
	Name() string
	// sample is a value of the driver.Env type Start returns (never
	// started), for Offers.
	sample() driver.Env
}

// Offers reports whether the driver.Envs r starts implement T, one of
// driver's optional interfaces (driver.Workers, driver.Memory,
// driver.Canary), without starting one: a test that needs T skips before
// it starts a plugin.
func Offers[T any](r Runner) bool {
	_, ok := r.sample().(T)
	return ok
}

// Run runs test as subtests "native", "wasm" and "cpphost/<profile>" for
// each cpp-host profile. native returns a fresh VMContext of the plugin for
// each call.
func Run(t *testing.T, native func() types.VMContext, test func(t *testing.T, r Runner)) {
	t.Helper()
	for _, r := range Runners(native) {
		t.Run(r.Name(), func(t *testing.T) {
			if er, ok := r.(*emulatorRunner); ok {
				er.owner = t // its VM serves every Start of the test, subtests included
			}
			test(t, r)
		})
	}
}

// Runners returns every runner, for a benchmark or a test that loops over
// them itself.
func Runners(native func() types.VMContext) []Runner {
	rs := []Runner{Native(native), Wasm()}
	for _, p := range cpphost.Profiles() {
		rs = append(rs, CppHost(p))
	}
	return rs
}

// Native is the runner of the plugin linked into the test binary, in the
// SDK's emulator; vm returns a fresh VMContext of the plugin. Config.Env is
// set in the process's environment for the test (t.Setenv).
func Native(vm func() types.VMContext) Runner { return &emulatorRunner{name: "native", native: vm} }

// Wasm is the runner of the compiled module in the SDK's emulator. The
// emulator gives the module no environment: Config.Env is unsupported.
func Wasm() Runner { return &emulatorRunner{name: "wasm"} }

// emulatorRunner starts the plugin in the SDK's emulator, on one VM per
// runner value (compiling the module takes over a second), released when
// owner (the test Run gave it, else the first Start's) ends.
type emulatorRunner struct {
	name   string
	native func() types.VMContext
	vm     types.VMContext
	owner  testing.TB
}

func (r *emulatorRunner) Name() string { return r.name }

func (r *emulatorRunner) sample() driver.Env { return (*driver.Emulator)(nil) }

func (r *emulatorRunner) Start(t testing.TB, c driver.Config) (driver.Env, error) {
	t.Helper()
	if r.native != nil {
		for k, v := range c.Env {
			t.Setenv(k, v)
		}
		c.Env = nil
	}
	if err := driver.EmulatorSupports(c); err != nil {
		return nil, err
	}
	if r.vm == nil {
		owner := r.owner
		if owner == nil {
			owner = t
		}
		if r.native != nil {
			r.vm = r.native()
		} else {
			// Plain skips (-short) or fails this test, never the owner from
			// a subtest's goroutine; the VM is released when the owner ends.
			vm, release, err := vms.Get(Plain(t))
			if err != nil {
				return nil, fmt.Errorf("loading %s in the emulator: %w", wasmvm.DefaultPath, err)
			}
			owner.Cleanup(release)
			r.vm = vm
		}
	}
	e, err := driver.StartEmulator(r.vm, c)
	if err != nil {
		return nil, err
	}
	t.Cleanup(e.Close)
	return e, nil
}

// CppHost is the runner of the compiled module in cpphost under profile:
// each Start is a new host (an Envoy process) with one worker VM, and a
// restricted call (a trap in Envoy) or unmodelled host call fails the test
// at its end.
func CppHost(profile *cpphost.Profile) Runner { return hostRunner{profile} }

type hostRunner struct{ profile *cpphost.Profile }

func (r hostRunner) Name() string { return "cpphost/" + r.profile.Name }

func (r hostRunner) sample() driver.Env { return (*cpphost.Env)(nil) }

func (r hostRunner) Start(t testing.TB, c driver.Config) (driver.Env, error) {
	t.Helper()
	e, err := cpphost.NewEnv(NewHost(t, r.profile, cpphost.Options{}), c)
	if err != nil {
		return nil, err
	}
	t.Cleanup(e.Close)
	return e, nil
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
