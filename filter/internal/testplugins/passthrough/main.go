// Command passthrough is a benchmark fixture, not part of apiguard: the
// smallest proxy-wasm plugin built the way apiguard is (upstream Go, wasip1,
// c-shared, the same bridge and the same runtime overlay), which continues
// every request and response without looking at them. Its cost per request
// is the floor a Go-built filter cannot go below — the SDK's context
// bookkeeping and the ABI round trips — so apiguard's benchmarks report
// their wasm figures as ratios to it.
package main

import (
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	_ "github.com/apiguard/apiguard/filter/internal/bridge"
)

// init, not main: a c-shared module is a WASI reactor, main.main never runs.
func init() { proxywasm.SetVMContext(&vm{}) }

func main() {}

type vm struct{ types.DefaultVMContext }

func (*vm) NewPluginContext(uint32) types.PluginContext { return &plugin{} }

type plugin struct{ types.DefaultPluginContext }

func (*plugin) NewHttpContext(uint32) types.HttpContext { return &http{} }

// http relies on DefaultHttpContext: every callback returns ActionContinue.
type http struct{ types.DefaultHttpContext }
