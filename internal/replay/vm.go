package replay

import (
	"fmt"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/proxytest"

	"github.com/apiguard/apiguard/internal/wasmvm"
)

// Compile loads a filter module as built by make build into a wazero VM of
// the SDK emulator. Compiling takes over a second; a VM serves any number of
// runs, one at a time. Close it when done.
func Compile(wasm []byte) (proxytest.WasmVMContext, error) {
	aliased, err := wasmvm.AliasStart(wasm)
	if err != nil {
		return nil, fmt.Errorf("preparing the module for the emulator: %w", err)
	}
	vm, err := proxytest.NewWasmVMContext(aliased)
	if err != nil {
		return nil, fmt.Errorf("compiling the module: %w", err)
	}
	return vm, nil
}
