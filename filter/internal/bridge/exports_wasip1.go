//go:build wasip1 && !tinygo

package bridge

import (
	"runtime"
	_ "unsafe" // go:linkname

	// The callbacks pulled below live in the SDK's internal package, which
	// the proxywasm package links in.
	_ "github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

// The SDK's ABI callbacks. Under TinyGo they carry //export; under upstream Go
// they are unexported functions of the SDK's internal package. They are pulled
// here by name and re-exported below with the proxy-wasm names and the ABI's
// i32 signatures (Go's int is 64 bits on GOARCH=wasm, the ABI's sizes are 32).

//go:linkname sdkOnVMStart github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/internal.proxyOnVMStart
func sdkOnVMStart(rootContextID uint32, vmConfigurationSize int) types.OnVMStartStatus

//go:linkname sdkOnConfigure github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/internal.proxyOnConfigure
func sdkOnConfigure(pluginContextID uint32, pluginConfigurationSize int) types.OnPluginStartStatus

//go:linkname sdkOnContextCreate github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/internal.proxyOnContextCreate
func sdkOnContextCreate(contextID uint32, parentContextID uint32)

//go:linkname sdkOnLog github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/internal.proxyOnLog
func sdkOnLog(contextID uint32)

//go:linkname sdkOnDone github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/internal.proxyOnDone
func sdkOnDone(contextID uint32) bool

//go:linkname sdkOnDelete github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/internal.proxyOnDelete
func sdkOnDelete(contextID uint32)

//go:linkname sdkOnTick github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/internal.proxyOnTick
func sdkOnTick(pluginContextID uint32)

//go:linkname sdkOnQueueReady github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/internal.proxyOnQueueReady
func sdkOnQueueReady(contextID, queueID uint32)

//go:linkname sdkOnRequestHeaders github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/internal.proxyOnRequestHeaders
func sdkOnRequestHeaders(contextID uint32, numHeaders int, endOfStream bool) types.Action

//go:linkname sdkOnRequestBody github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/internal.proxyOnRequestBody
func sdkOnRequestBody(contextID uint32, bodySize int, endOfStream bool) types.Action

//go:linkname sdkOnRequestTrailers github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/internal.proxyOnRequestTrailers
func sdkOnRequestTrailers(contextID uint32, numTrailers int) types.Action

//go:linkname sdkOnResponseHeaders github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/internal.proxyOnResponseHeaders
func sdkOnResponseHeaders(contextID uint32, numHeaders int, endOfStream bool) types.Action

//go:linkname sdkOnResponseBody github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/internal.proxyOnResponseBody
func sdkOnResponseBody(contextID uint32, bodySize int, endOfStream bool) types.Action

//go:linkname sdkOnResponseTrailers github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/internal.proxyOnResponseTrailers
func sdkOnResponseTrailers(contextID uint32, numTrailers int) types.Action

//go:linkname sdkOnHttpCallResponse github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/internal.proxyOnHttpCallResponse
func sdkOnHttpCallResponse(pluginContextID, calloutID uint32, numHeaders, bodySize, numTrailers int)

//go:linkname sdkOnNewConnection github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/internal.proxyOnNewConnection
func sdkOnNewConnection(contextID uint32) types.Action

//go:linkname sdkOnDownstreamData github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/internal.proxyOnDownstreamData
func sdkOnDownstreamData(contextID uint32, dataSize int, endOfStream bool) types.Action

//go:linkname sdkOnDownstreamConnectionClose github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/internal.proxyOnDownstreamConnectionClose
func sdkOnDownstreamConnectionClose(contextID uint32, peerType types.PeerType)

//go:linkname sdkOnUpstreamData github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/internal.proxyOnUpstreamData
func sdkOnUpstreamData(contextID uint32, dataSize int, endOfStream bool) types.Action

//go:linkname sdkOnUpstreamConnectionClose github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/internal.proxyOnUpstreamConnectionClose
func sdkOnUpstreamConnectionClose(contextID uint32, peerType types.PeerType)

// proxy_abi_version_0_2_0 tells the host which ABI the module speaks; it is
// the marker the SDK itself exports under TinyGo.
//
//go:wasmexport proxy_abi_version_0_2_0
func proxyABIVersion() {}

//go:wasmexport proxy_on_vm_start
func proxyOnVMStart(rootContextID, vmConfigurationSize uint32) uint32 {
	bufferSizes[bufferVMConfiguration] = int(vmConfigurationSize)
	return boolToU32(bool(sdkOnVMStart(rootContextID, int(vmConfigurationSize))))
}

//go:wasmexport proxy_on_configure
func proxyOnConfigure(pluginContextID, pluginConfigurationSize uint32) uint32 {
	bufferSizes[bufferPluginConfiguration] = int(pluginConfigurationSize)
	ok := sdkOnConfigure(pluginContextID, int(pluginConfigurationSize))
	yieldToRuntime()
	return boolToU32(bool(ok))
}

//go:wasmexport proxy_on_context_create
func proxyOnContextCreate(contextID, parentContextID uint32) {
	sdkOnContextCreate(contextID, parentContextID)
}

//go:wasmexport proxy_on_log
func proxyOnLog(contextID uint32) { sdkOnLog(contextID) }

//go:wasmexport proxy_on_done
func proxyOnDone(contextID uint32) uint32 { return boolToU32(sdkOnDone(contextID)) }

//go:wasmexport proxy_on_delete
func proxyOnDelete(contextID uint32) {
	sdkOnDelete(contextID)
	if contextDeleted != nil {
		contextDeleted(contextID)
	}
	deleted++
	if deleted%yieldEvery == 0 || gcMarking() {
		yieldToRuntime()
	}
}

// contextDeleted is called with every context the host deletes, after
// the SDK has forgotten it (OnContextDeleted).
var contextDeleted func(contextID uint32)

// OnContextDeleted has f called with the id of every context the host
// deletes (proxy_on_delete), after the SDK has dropped the context: from
// then on no callback reaches it, so its memory may be used again. The
// filter reuses its HTTP contexts this way (filter/stream_pool.go).
func OnContextDeleted(f func(contextID uint32)) { contextDeleted = f }

// deleted counts the contexts deleted; the runtime's goroutines get a
// chance to run at every yieldEvery-th one, and at every one while a
// collection marks. Yielding costs about 2.6 us even with nothing to run,
// so between collections the sweeper and the scavenger get only some
// chances, not one per stream (TestGarbageCollectionKeepsUp). While a
// collection marks, the mark worker gets one per stream: it is
// *fractional* (one P, a 25 % share of the time since marking began) and,
// when it runs, it runs until it has caught up with its share, so the
// longer the gap between its chances, the longer it holds the worker. At
// every 32nd stream its slices took 0.9 to 1.4 ms of one request under
// steady traffic; at every stream they are a fraction of one request's
// time (docs/performance.md, "Pauses").
var deleted uint32

const yieldEvery = 32

// yieldToRuntime lets the Go runtime's own goroutines run before an export
// returns to the host. A wasip1 reactor never schedules them otherwise: when
// an export returns, Go returns to the host without running other runnable
// goroutines (the //go:wasmexport design, golang/go#65199), so they run only
// while the export's goroutine blocks. The garbage collector's background
// mark worker is one of them, and a collection can wait for it: measured in
// wazero with 10k to 100k keys, a cycle that started during
// proxy_on_configure or under steady traffic never completed, no later
// cycle could start, and the VM's memory grew without bound (47 -> 165 MiB
// over 100k requests, with 0.7 s pauses). Yielding after the plugin starts
// and at every 32nd deleted context lets such a cycle finish
// (TestGarbageCollectionKeepsUp in filter).
func yieldToRuntime() { runtime.Gosched() }

//go:wasmexport proxy_on_tick
func proxyOnTick(pluginContextID uint32) { sdkOnTick(pluginContextID) }

//go:wasmexport proxy_on_queue_ready
func proxyOnQueueReady(pluginContextID, queueID uint32) { sdkOnQueueReady(pluginContextID, queueID) }

//go:wasmexport proxy_on_request_headers
func proxyOnRequestHeaders(contextID, numHeaders, endOfStream uint32) uint32 {
	return uint32(sdkOnRequestHeaders(contextID, int(numHeaders), endOfStream != 0))
}

//go:wasmexport proxy_on_request_body
func proxyOnRequestBody(contextID, bodySize, endOfStream uint32) uint32 {
	bufferSizes[bufferHTTPRequestBody] = int(bodySize)
	return uint32(sdkOnRequestBody(contextID, int(bodySize), endOfStream != 0))
}

//go:wasmexport proxy_on_request_trailers
func proxyOnRequestTrailers(contextID, numTrailers uint32) uint32 {
	return uint32(sdkOnRequestTrailers(contextID, int(numTrailers)))
}

//go:wasmexport proxy_on_response_headers
func proxyOnResponseHeaders(contextID, numHeaders, endOfStream uint32) uint32 {
	return uint32(sdkOnResponseHeaders(contextID, int(numHeaders), endOfStream != 0))
}

//go:wasmexport proxy_on_response_body
func proxyOnResponseBody(contextID, bodySize, endOfStream uint32) uint32 {
	bufferSizes[bufferHTTPResponseBody] = int(bodySize)
	return uint32(sdkOnResponseBody(contextID, int(bodySize), endOfStream != 0))
}

//go:wasmexport proxy_on_response_trailers
func proxyOnResponseTrailers(contextID, numTrailers uint32) uint32 {
	return uint32(sdkOnResponseTrailers(contextID, int(numTrailers)))
}

//go:wasmexport proxy_on_http_call_response
func proxyOnHttpCallResponse(pluginContextID, calloutID, numHeaders, bodySize, numTrailers uint32) {
	bufferSizes[bufferHTTPCallResponseBody] = int(bodySize)
	sdkOnHttpCallResponse(pluginContextID, calloutID, int(numHeaders), int(bodySize), int(numTrailers))
}

//go:wasmexport proxy_on_new_connection
func proxyOnNewConnection(contextID uint32) uint32 { return uint32(sdkOnNewConnection(contextID)) }

//go:wasmexport proxy_on_downstream_data
func proxyOnDownstreamData(contextID, dataSize, endOfStream uint32) uint32 {
	bufferSizes[bufferDownstreamData] = int(dataSize)
	return uint32(sdkOnDownstreamData(contextID, int(dataSize), endOfStream != 0))
}

//go:wasmexport proxy_on_downstream_connection_close
func proxyOnDownstreamConnectionClose(contextID, peerType uint32) {
	sdkOnDownstreamConnectionClose(contextID, types.PeerType(peerType))
}

//go:wasmexport proxy_on_upstream_data
func proxyOnUpstreamData(contextID, dataSize, endOfStream uint32) uint32 {
	bufferSizes[bufferUpstreamData] = int(dataSize)
	return uint32(sdkOnUpstreamData(contextID, int(dataSize), endOfStream != 0))
}

//go:wasmexport proxy_on_upstream_connection_close
func proxyOnUpstreamConnectionClose(contextID, peerType uint32) {
	sdkOnUpstreamConnectionClose(contextID, types.PeerType(peerType))
}

// proxy-wasm buffer types whose sizes the callbacks announce (the index
// into bufferSizes).
const (
	bufferHTTPRequestBody      = 0
	bufferHTTPResponseBody     = 1
	bufferDownstreamData       = 2
	bufferUpstreamData         = 3
	bufferHTTPCallResponseBody = 4
	bufferVMConfiguration      = 6
	bufferPluginConfiguration  = 7
)

func boolToU32(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}
