package wasmvm

import (
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/proxytest"
)

// Locate returns the path of the compiled filter of the repository that
// holds dir, or an error that says what to run when it is missing or older
// than its sources.
func Locate(dir string) (string, error) {
	root, err := RepoRoot(dir)
	if err != nil {
		return "", err
	}
	path := filepath.Join(root, DefaultPath)
	newer, err := Stale(root, path)
	if err != nil {
		return "", fmt.Errorf("the compiled filter is missing (%v): run make build, or make test, which builds it", err)
	}
	if newer != "" {
		return "", fmt.Errorf("%s is older than %s: run make build, or make test, which builds it", path, newer)
	}
	return path, nil
}

// Load reads the compiled filter that Locate finds.
func Load(dir string) ([]byte, error) {
	path, err := Locate(dir)
	if err != nil {
		return nil, err
	}
	return os.ReadFile(path)
}

// Fixture reads build/fixtures/name, a test or benchmark module that the
// Makefile builds, in the repository that holds dir.
func Fixture(dir, name string) ([]byte, error) {
	root, err := RepoRoot(dir)
	if err != nil {
		return nil, err
	}
	return os.ReadFile(filepath.Join(root, "build", "fixtures", name))
}

// EmulatorVM compiles a filter module as built by make build into a VM of
// the proxy-wasm Go SDK's wazero emulator (proxytest), adding the _start
// alias the emulator needs. Compiling takes over a second; a VM serves any
// number of host emulators, one at a time. Close it when done.
func EmulatorVM(wasm []byte) (proxytest.WasmVMContext, error) {
	aliased, err := AliasStart(wasm)
	if err != nil {
		return nil, fmt.Errorf("preparing the module for the emulator: %w", err)
	}
	vm, err := proxytest.NewWasmVMContext(aliased)
	if err != nil {
		return nil, fmt.Errorf("compiling the module: %w", err)
	}
	return vm, nil
}

// A Pool lends emulator VMs of one module, compiled ahead of use on another
// goroutine, so that the next VM compiles on the other core while the
// current one runs. With Reuse, a VM given back is lent again (the caller
// gives each use a fresh host emulator); without, it is closed and a new
// one compiled. A module other than the pool's first is compiled on demand.
type Pool struct {
	// Reuse lends VMs again once given back.
	Reuse bool
	// Ahead is how many VMs are kept compiled ahead (at least 1).
	Ahead int

	once  sync.Once
	sum   [32]byte
	wasm  []byte
	ready chan vmOrErr
	mu    sync.Mutex
	all   []io.Closer
}

type vmOrErr struct {
	vm  proxytest.WasmVMContext
	err error
}

// Get returns a VM of wasm and the function that gives it back.
func (p *Pool) Get(wasm []byte) (proxytest.WasmVMContext, func(), error) {
	sum := sha256.Sum256(wasm)
	p.once.Do(func() {
		p.sum, p.wasm = sum, wasm
		n := max(p.Ahead, 1)
		p.ready = make(chan vmOrErr, n)
		if p.Reuse {
			for range n {
				go func() { p.ready <- p.compile() }()
			}
			return
		}
		go func() {
			for {
				p.ready <- p.compile()
			}
		}()
	})
	if sum != p.sum {
		vm, err := EmulatorVM(wasm)
		if err != nil {
			return nil, nil, err
		}
		return vm, func() { vm.Close() }, nil
	}
	c := <-p.ready
	if c.err != nil {
		if p.Reuse {
			p.ready <- c
		}
		return nil, nil, c.err
	}
	if p.Reuse {
		return c.vm, func() { p.ready <- c }, nil
	}
	return c.vm, func() { c.vm.Close() }, nil
}

func (p *Pool) compile() vmOrErr {
	vm, err := EmulatorVM(p.wasm)
	if err == nil && p.Reuse {
		p.mu.Lock()
		p.all = append(p.all, vm)
		p.mu.Unlock()
	}
	return vmOrErr{vm, err}
}

// Close closes the VMs a reusing pool compiled.
func (p *Pool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, vm := range p.all {
		vm.Close()
	}
}
