// Command floor is a benchmark fixture, not part of apiguard: a plugin built
// the way apiguard is (upstream Go, wasip1, c-shared, the same bridge and
// runtime overlay) that makes the host calls an allowed, rate-limited
// request of apiguard needs and decides nothing: it reads the request
// headers, request.time and source.address, reads and writes one
// shared-data entry, increments one counter, removes the credential
// header, writes three request headers and a filter-state record of the
// size of apiguard's and, on the response, two response headers
// (filter/floor_test.go checks that these are the host calls the filter
// makes for the benchmarks' allowed request). Its cost per request is the
// floor of a Go-built filter doing apiguard's host work, so apiguard's
// benchmarks in cpphost report their figures as ratios to it.
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

type plugin struct {
	types.DefaultPluginContext
	counter proxywasm.MetricCounter
}

func (p *plugin) OnPluginStart(int) types.OnPluginStartStatus {
	p.counter = proxywasm.DefineCounterMetric("floor.requests")
	return types.OnPluginStartStatusOK
}

func (p *plugin) NewHttpContext(uint32) types.HttpContext { return &http{plugin: p} }

type http struct {
	types.DefaultHttpContext
	plugin *plugin
}

var bucketKey = "floor:bucket"

// stateKey and stateRecord are a filter-state record like apiguard's
// (policy.StateKey, filter/filterstate.go) for an allowed request.
var (
	stateKey    = []string{"apiguard"}
	stateRecord = []byte(`{"decision":"allow","reason":"allowed","route":"get-order","consumer":"billing","key_id":"billing-2026","remaining":999}`)
)

func (h *http) OnHttpRequestHeaders(int, bool) types.Action {
	if _, err := proxywasm.GetHttpRequestHeaders(); err != nil {
		return types.ActionContinue
	}
	_, _ = proxywasm.GetProperty([]string{"request", "time"})
	_, _ = proxywasm.GetProperty([]string{"source", "address"})
	v, cas, err := proxywasm.GetSharedData(bucketKey)
	if err != nil {
		v = make([]byte, 16)
	}
	_ = proxywasm.SetSharedData(bucketKey, v, cas)
	h.plugin.counter.Increment(1)
	_ = proxywasm.RemoveHttpRequestHeader("x-api-key")
	_ = proxywasm.ReplaceHttpRequestHeader("x-apiguard-consumer", "billing")
	_ = proxywasm.ReplaceHttpRequestHeader("x-apiguard-key-id", "billing-2026")
	_ = proxywasm.ReplaceHttpRequestHeader("x-apiguard-scopes", "orders:read orders:write")
	_ = proxywasm.SetProperty(stateKey, stateRecord)
	return types.ActionContinue
}

func (h *http) OnHttpResponseHeaders(int, bool) types.Action {
	_ = proxywasm.ReplaceHttpResponseHeader("ratelimit-policy", "1000;w=1")
	_ = proxywasm.ReplaceHttpResponseHeader("ratelimit", "limit=1000, remaining=999, reset=1")
	return types.ActionContinue
}
