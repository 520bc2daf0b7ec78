// Package bridge lets the proxy-wasm Go SDK (github.com/tetratelabs/proxy-wasm-go-sdk
// v0.24.0) run in a module built by upstream Go rather than TinyGo. make build
// links the filter with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -overlay build/overlay/overlay.json ./filter
//
// (the overlay is tools/pollpatch's runtime patch) and shrinks the result
// with binaryen's wasm-opt into build/apiguard.wasm.
//
// # Why it exists
//
// SDK v0.24.0 targets TinyGo. Its ABI callbacks (proxy_on_*) carry TinyGo's
// //export directives and its host calls are TinyGo //go:wasmimport
// declarations in files built only with the tinygo tag. Under upstream Go
// those files are excluded, the callbacks are plain unexported functions, and
// every host call goes through an interface, internal.ProxyWasmHost, that the
// SDK's own emulator (proxytest) implements. TinyGo cannot be installed where
// apiguard is built, so this package supplies the two missing halves:
//
//   - exports_wasip1.go re-exports each SDK callback under its proxy-wasm name
//     with //go:wasmexport and the ABI's i32 signature;
//   - host_wasip1.go and imports_wasip1.go implement internal.ProxyWasmHost
//     over //go:wasmimport env proxy_* declarations, and register_wasip1.go
//     installs that host where the SDK looks for one.
//
// # What it relies on
//
//   - //go:linkname pulls of unexported SDK symbols (the callbacks and
//     internal.RegisterMockWasmHost). The linker's -checklinkname check only
//     polices symbols of the standard library, so these build.
//   - Itab layout: hostABI (hostabi.go) mirrors internal.ProxyWasmHost method
//     for method, because the SDK's interface names internal types we cannot
//     spell. Interface calls index methods by their position in the sorted
//     method set, so only names, order and parameter layout matter;
//     TestHostABIMatchesSDK fails when the SDK's interface drifts.
//   - A linker keep-alive (register_wasip1.go) without which the dead-code
//     pass replaces every host method with runtime.unreachableMethod.
//   - proxy_on_memory_allocate does not allocate on the Go heap: a
//     collection starting there would call poll_oneoff, which Envoy 1.33
//     to 1.38 trap inside the allocator. Each host call that returns data
//     first sets room aside (reserve, host_wasip1.go) from sizes the
//     callbacks announced or the largest seen; only what still does not
//     fit falls back to the heap, pinned until the host call returns, and
//     is counted (Overflows).
//   - The runtime's own goroutines, the garbage collector's mark worker among
//     them, run only while an export blocks: a reactor returns to the host
//     without scheduling them. The exports yield once after
//     proxy_on_configure and after every 32nd proxy_on_delete (yieldToRuntime),
//     without which collections stop completing and memory grows without
//     bound.
//
// Envoy must call _initialize (a c-shared module is a WASI reactor); the
// plugin must call proxywasm.SetVMContext from init(), because main.main never
// runs in a reactor.
//
// # What the filter uses directly
//
// Besides the blank import in filter/main.go (and in the test plugins of
// filter/internal/testplugins), the filter calls two things of its own:
//
//   - Property and SetProperty (direct_wasip1.go; filter/properties_wasip1.go)
//     read and set properties without the SDK's copies;
//   - ReadInto and ReadRoom (readinto_wasip1.go; filter/keystore.go) let the
//     key store receive an HTTP call's body into its own buffer;
//   - OnContextDeleted (exports_wasip1.go; filter/stream_pool_wasip1.go)
//     tells the filter when the host has deleted a context, so that it can
//     reuse its HTTP contexts.
//
// Overflows (host_wasip1.go) counts the allocator's falls back to the heap;
// nothing reads it yet.
//
// debug_wasip1.go adds the apiguard_debug_mallocs export in the benchmark
// build only (-tags apiguard_debug).
//
// # How to remove it
//
// When an SDK that supports upstream Go's wasip1 port can be used (its
// successor, github.com/proxy-wasm/proxy-wasm-go-sdk, exports the callbacks
// with //go:wasmexport itself), delete this package and its imports, replace
// the direct calls above with the SDK's, and move the plugin to that SDK's
// import paths.
//
// Outside GOOS=wasip1, and under TinyGo, the package holds only ReadInto and
// ReadRoom (readinto_other.go), which run the SDK call as it is, so native
// tests keep using the SDK's proxytest emulator unchanged.
package bridge
