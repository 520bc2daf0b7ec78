//go:build wasip1 && !tinygo

package bridge

import _ "unsafe" // go:linkname

// registerHost is the SDK's internal.RegisterMockWasmHost: under upstream Go
// every SDK host call goes through the host registered there. It takes the
// SDK's ProxyWasmHost; hostABI has the same method set (hostabi.go), so the
// itab we pass dispatches correctly.
//
//go:linkname registerHost github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/internal.RegisterMockWasmHost
func registerHost(h hostABI) (release func())

func init() {
	var h hostABI = host{}
	// RegisterMockWasmHost locks a mutex until release is called; we never
	// release it, so nothing else can replace the real host in the module.
	registerHost(h)
	if linkerKeepAlive {
		keepHostMethods(h)
	}
}

// linkerKeepAlive is never set. The compiler cannot prove that, so the call
// to keepHostMethods survives compilation while never running.
var linkerKeepAlive bool

// keepHostMethods is never executed; it exists for the linker. The linker's
// dead-code pass keeps a method in an itab only if some interface call site
// uses the same method name with the same signature type. The SDK calls
// currentHost.ProxyLog(internal.LogLevel, ...) and so on, whose signatures use
// the SDK's named types, while host's methods use uint32: no call matches, so
// without these calls the linker replaces every slot of host's itab with
// runtime.unreachableMethod. The module then has no env.proxy_* imports at all
// and its first host call dies with "fatal error: unreachable method called.
// linker bug?". Calling each method once through hostABI marks them reachable.
func keepHostMethods(h hostABI) {
	h.ProxyLog(0, nil, 0)
	h.ProxySetProperty(nil, 0, nil, 0)
	h.ProxyGetProperty(nil, 0, nil, nil)
	h.ProxySendLocalResponse(0, nil, 0, nil, 0, nil, 0, 0)
	h.ProxyGetSharedData(nil, 0, nil, nil, nil)
	h.ProxySetSharedData(nil, 0, nil, 0, 0)
	h.ProxyRegisterSharedQueue(nil, 0, nil)
	h.ProxyResolveSharedQueue(nil, 0, nil, 0, nil)
	h.ProxyDequeueSharedQueue(0, nil, nil)
	h.ProxyEnqueueSharedQueue(0, nil, 0)
	h.ProxyGetHeaderMapValue(0, nil, 0, nil, nil)
	h.ProxyAddHeaderMapValue(0, nil, 0, nil, 0)
	h.ProxyReplaceHeaderMapValue(0, nil, 0, nil, 0)
	h.ProxyContinueStream(0)
	h.ProxyCloseStream(0)
	h.ProxyRemoveHeaderMapValue(0, nil, 0)
	h.ProxyGetHeaderMapPairs(0, nil, nil)
	h.ProxySetHeaderMapPairs(0, nil, 0)
	h.ProxyGetBufferBytes(0, 0, 0, nil, nil)
	h.ProxySetBufferBytes(0, 0, 0, nil, 0)
	h.ProxyHttpCall(nil, 0, nil, 0, nil, 0, nil, 0, 0, nil)
	h.ProxyCallForeignFunction(nil, 0, nil, 0, nil, nil)
	h.ProxySetTickPeriodMilliseconds(0)
	h.ProxySetEffectiveContext(0)
	h.ProxyDone()
	h.ProxyDefineMetric(0, nil, 0, nil)
	h.ProxyIncrementMetric(0, 0)
	h.ProxyRecordMetric(0, 0)
	h.ProxyGetMetric(0, nil)
}
