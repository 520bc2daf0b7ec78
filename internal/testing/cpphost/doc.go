// Package cpphost is a proxy-wasm host on wazero that behaves like the one
// Envoy embeds, proxy-wasm-cpp-host, with its default V8 runtime: the test
// and benchmark host in which apiguard's compiled filter must run before it
// runs in Envoy. It models, from cpp-host's own source at two points
// (Profile: Envoy133 and Envoy139):
//
//   - Restricted callbacks. While _initialize runs (WasmBase::startVm,
//     src/wasm.cc) and while the module's allocator runs to return data to
//     it (WasmBase::allocMemory, include/proxy-wasm/wasm.h), a host call
//     outside the phase's allow list traps the VM ("restricted_callback",
//     V8::registerHostFunctionImpl in src/v8/v8.cc). Before PR #533 the
//     allocator may call only env.proxy_log, fd_write and clock_time_get;
//     #533 (94091cd, "go runtime gc sleep") added poll_oneoff. Each
//     restricted call is recorded as a Violation naming the function, the
//     phase and the host call being served.
//   - WASI as cpp-host answers it (src/exports.cc): poll_oneoff is ENOSYS
//     before #533 and success with no events after it; fd_write goes to the
//     VM's log, one line per call (stdout at info, stderr at error), so a
//     message the Go runtime writes in pieces spans several lines; fd_seek,
//     fd_close and proc_exit call context->error, which Envoy's Context
//     logs at trace level before the call returns; #533's additions
//     exist only in the Envoy139 profile. A module importing a function the
//     profile does not register fails to load, as V8 fails to link it.
//   - The env.proxy_* functions cpp-host registers for the module's ABI
//     marker (WasmBase::registerCallbacks: proxy_get_log_level only for
//     ABI 0.2.1), as internal/testing/abi lists them with their signatures (a
//     module importing one with another signature fails to link), each
//     modelled by the handler the table envFuncs names, with Envoy's semantics where apiguard depends on them
//     (envoyproxy/envoy source/extensions/common/wasm/context.cc at
//     031fa2b): a header is read as its first value, removed with every
//     copy, replaced by removing every copy and adding one (setCopy with
//     http_set_copy_replace_all_headers); shared data is one namespace per
//     vm_id with cpp-host's CAS rules (src/shared_data.cc); a counter
//     cannot be incremented by 0 or less; stream properties (request.*,
//     source.* ...) are not found in the root context; the allocator
//     returning 0 is InvalidMemoryAccess. Registered functions the model
//     does not implement answer Unimplemented and are recorded.
//   - Several VMs over one store, as Envoy's workers, and the fail-open of a
//     worker whose proxy_on_configure fails after the main thread accepted
//     the configuration (StartWorker, VM.FailedOpen): Envoy's HTTP filter
//     factory then adds no filter on that worker.
//
// cpp-host commits: beb8a4e, the last one envoyproxy/envoy's
// bazel/repository_locations.bzl pins before #533 (c4d7bb0, #427, which
// made Go modules loadable, is an earlier pin; in what this model reads
// the two differ only in startVm allowing emscripten_notify_memory_growth,
// #461), and 94091cd (#533, in Envoy after 1.38 through
// envoyproxy/envoy#45756, which pins 09e5f8d). docs/compatibility.md says
// which Envoy releases embed which, and what is not verified.
//
// The restricted phases are V8's alone: only src/v8/v8.cc checks
// isHostFunctionAllowed; WAMR, wasmtime and WasmEdge run every host call.
//
// Also modelled from Envoy: the configuration canary (canary.go) and local
// replies going through proxy_on_response_headers (localReplyHeaders).
//
// Env (driver.go) is the host as an internal/driver.Env, the interface the
// filter's tests and the SDK's emulator share; it adds what only this host
// does (driver.Workers, driver.Memory, driver.Canary). The files follow the
// concerns: host.go the host and its linking, vm.go a VM's life and
// callbacks, stream.go an HTTP stream, body.go response bodies, memory.go
// values across linear memory, hostcalls.go and wasi.go the host functions,
// httpcall.go HTTP calls, push.go configuration pushes, profile.go the
// profiles.
//
// It is a test and benchmark tool, not a proxy: response bodies only
// (VM.ExchangeBody, body.go), no request bodies, trailers, gRPC or timers
// beyond Tick.
package cpphost
