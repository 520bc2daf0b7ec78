// Package abi lists what Envoy's proxy-wasm host (proxy-wasm-cpp-host)
// provides to a module and calls in it: the host functions with their
// signatures (HostFunctions; some only for one ABI version, Registered), the
// exports Envoy needs (RequiredExports, ForbiddenExports) and the ABI
// version markers (Version). Check holds a compiled module against the
// list; the package's test does so for build/apiguard.wasm.
//
// It is the one place the list lives. internal/testing/cpphost derives
// from it what it registers for a module: every env function Registered
// names for the module's ABI marker (modelled, or answering Unimplemented),
// with these signatures, and under its envoy-1.33 profile exactly the WASI
// functions listed here. Its envoy-1.39 profile adds the WASI functions
// cpp-host PR #533 registers (cpphost's profile.go): a module that needed
// them would not load in Envoy 1.33 to 1.38, so Check refuses them.
//
// Test-only: nothing that ships imports it.
package abi

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// Where the lists come from (proxy-wasm-cpp-host, the host Envoy embeds):
//   - env.proxy_*: FOR_ALL_HOST_IMPLEMENTED_ABI_FUNCTIONS in
//     include/proxy-wasm/wasm_vm.h and the ABI 0.2.1 specification
//     (proxy-wasm/spec abi-versions/v0.2.1); signatures from the spec.
//   - wasi_snapshot_preview1.*: the WASI functions cpp-host registers in
//     src/exports.cc (also under wasi_unstable). fd_fdstat_set_flags,
//     poll_oneoff and sched_yield arrived with cpp-host PR #427, which is why
//     a Go-built module needs Envoy >= 1.33. Until PR #533 poll_oneoff and
//     fd_fdstat_set_flags answered ENOSYS; the build patches the Go runtime
//     for that (tools/pollpatch).
//   - exports: what cpp-host looks up in src/wasm.cc: _initialize (a WASI
//     reactor), proxy_on_memory_allocate (or malloc), an ABI version marker,
//     and the proxy_on_* callbacks.

// sig is a function signature, e.g. "(i32,i64)->i32".
type sig = string

// HostFunctions maps every function Envoy's host provides to its signature.
var HostFunctions = map[string]sig{
	// proxy-wasm ABI 0.2.1, module "env".
	"env.proxy_log":                          "(i32,i32,i32)->i32",
	"env.proxy_get_log_level":                "(i32)->i32",
	"env.proxy_get_status":                   "(i32,i32,i32)->i32",
	"env.proxy_set_property":                 "(i32,i32,i32,i32)->i32",
	"env.proxy_get_property":                 "(i32,i32,i32,i32)->i32",
	"env.proxy_send_local_response":          "(i32,i32,i32,i32,i32,i32,i32,i32)->i32",
	"env.proxy_get_shared_data":              "(i32,i32,i32,i32,i32)->i32",
	"env.proxy_set_shared_data":              "(i32,i32,i32,i32,i32)->i32",
	"env.proxy_register_shared_queue":        "(i32,i32,i32)->i32",
	"env.proxy_resolve_shared_queue":         "(i32,i32,i32,i32,i32)->i32",
	"env.proxy_dequeue_shared_queue":         "(i32,i32,i32)->i32",
	"env.proxy_enqueue_shared_queue":         "(i32,i32,i32)->i32",
	"env.proxy_get_header_map_value":         "(i32,i32,i32,i32,i32)->i32",
	"env.proxy_add_header_map_value":         "(i32,i32,i32,i32,i32)->i32",
	"env.proxy_replace_header_map_value":     "(i32,i32,i32,i32,i32)->i32",
	"env.proxy_remove_header_map_value":      "(i32,i32,i32)->i32",
	"env.proxy_get_header_map_pairs":         "(i32,i32,i32)->i32",
	"env.proxy_set_header_map_pairs":         "(i32,i32,i32)->i32",
	"env.proxy_get_header_map_size":          "(i32,i32)->i32",
	"env.proxy_get_buffer_status":            "(i32,i32,i32)->i32",
	"env.proxy_get_buffer_bytes":             "(i32,i32,i32,i32,i32)->i32",
	"env.proxy_set_buffer_bytes":             "(i32,i32,i32,i32,i32)->i32",
	"env.proxy_continue_stream":              "(i32)->i32",
	"env.proxy_close_stream":                 "(i32)->i32",
	"env.proxy_http_call":                    "(i32,i32,i32,i32,i32,i32,i32,i32,i32,i32)->i32",
	"env.proxy_grpc_call":                    "(i32,i32,i32,i32,i32,i32,i32,i32,i32,i32,i32,i32)->i32",
	"env.proxy_grpc_stream":                  "(i32,i32,i32,i32,i32,i32,i32,i32,i32)->i32",
	"env.proxy_grpc_send":                    "(i32,i32,i32,i32)->i32",
	"env.proxy_grpc_cancel":                  "(i32)->i32",
	"env.proxy_grpc_close":                   "(i32)->i32",
	"env.proxy_set_tick_period_milliseconds": "(i32)->i32",
	"env.proxy_get_current_time_nanoseconds": "(i32)->i32",
	"env.proxy_define_metric":                "(i32,i32,i32,i32)->i32",
	"env.proxy_increment_metric":             "(i32,i64)->i32",
	"env.proxy_record_metric":                "(i32,i64)->i32",
	"env.proxy_get_metric":                   "(i32,i32)->i32",
	"env.proxy_set_effective_context":        "(i32)->i32",
	"env.proxy_done":                         "()->i32",
	"env.proxy_call_foreign_function":        "(i32,i32,i32,i32,i32,i32)->i32",

	// ABI 0.1.0 only (see abiSpecific).
	"env.proxy_get_configuration": "(i32,i32)->i32",
	"env.proxy_continue_request":  "()->i32",
	"env.proxy_continue_response": "()->i32",
	"env.proxy_clear_route_cache": "()->i32",

	// Emscripten's runtime helpers, registered for every module.
	"env.pthread_equal":                   "(i32,i32)->i32",
	"env.emscripten_notify_memory_growth": "(i32)->",

	// WASI preview 1 as cpp-host implements it (FOR_ALL_WASI_FUNCTIONS in
	// include/proxy-wasm/exports.h at beb8a4e, registered under both
	// wasi_snapshot_preview1 and wasi_unstable). cpp-host 94091cd (#533)
	// registers more (internal/testing/cpphost's Envoy139 profile); a module that
	// needs them would not load in Envoy 1.33 to 1.38, so Check refuses them.
	"wasi_snapshot_preview1.args_get":            "(i32,i32)->i32",
	"wasi_snapshot_preview1.args_sizes_get":      "(i32,i32)->i32",
	"wasi_snapshot_preview1.environ_get":         "(i32,i32)->i32",
	"wasi_snapshot_preview1.environ_sizes_get":   "(i32,i32)->i32",
	"wasi_snapshot_preview1.clock_time_get":      "(i32,i64,i32)->i32",
	"wasi_snapshot_preview1.random_get":          "(i32,i32)->i32",
	"wasi_snapshot_preview1.proc_exit":           "(i32)->",
	"wasi_snapshot_preview1.fd_write":            "(i32,i32,i32,i32)->i32",
	"wasi_snapshot_preview1.fd_read":             "(i32,i32,i32,i32)->i32",
	"wasi_snapshot_preview1.fd_seek":             "(i32,i64,i32,i32)->i32",
	"wasi_snapshot_preview1.fd_close":            "(i32)->i32",
	"wasi_snapshot_preview1.fd_fdstat_get":       "(i32,i32)->i32",
	"wasi_snapshot_preview1.fd_prestat_get":      "(i32,i32)->i32",
	"wasi_snapshot_preview1.fd_prestat_dir_name": "(i32,i32,i32)->i32",
	"wasi_snapshot_preview1.path_open":           "(i32,i32,i32,i32,i32,i64,i64,i32,i32)->i32",
	"wasi_snapshot_preview1.fd_fdstat_set_flags": "(i32,i32)->i32",         // cpp-host #427
	"wasi_snapshot_preview1.poll_oneoff":         "(i32,i32,i32,i32)->i32", // cpp-host #427
	"wasi_snapshot_preview1.sched_yield":         "()->i32",                // cpp-host #427
}

// abiSpecific lists the host functions cpp-host registers only for modules
// that carry one of the given ABI markers (WasmBase::registerCallbacks in
// src/wasm.cc): proxy_get_log_level is ABI 0.2.1's, continue_stream and
// close_stream 0.2.x's, get_configuration, continue_request,
// continue_response and clear_route_cache 0.1.0's.
var abiSpecific = map[string][]string{
	"env.proxy_get_log_level":     {"0_2_1"},
	"env.proxy_continue_stream":   {"0_2_0", "0_2_1"},
	"env.proxy_close_stream":      {"0_2_0", "0_2_1"},
	"env.proxy_get_configuration": {"0_1_0"},
	"env.proxy_continue_request":  {"0_1_0"},
	"env.proxy_continue_response": {"0_1_0"},
	"env.proxy_clear_route_cache": {"0_1_0"},
}

// Registered reports whether cpp-host registers the host function fn
// ("module.name", module env or wasi_snapshot_preview1) for a module whose
// ABI marker is abi ("0_2_1", "0_2_0" or "0_1_0"), and its signature.
// wasi_unstable.X is wasi_snapshot_preview1.X.
func Registered(fn, abi string) (signature string, ok bool) {
	if name, found := strings.CutPrefix(fn, "wasi_unstable."); found {
		fn = "wasi_snapshot_preview1." + name
	}
	s, ok := HostFunctions[fn]
	if !ok || (abiSpecific[fn] != nil && !slices.Contains(abiSpecific[fn], abi)) {
		return "", false
	}
	return s, true
}

// abiVersion returns the module's ABI marker as cpp-host reads it, newest
// first, or "" when it has none.
func abiVersion(exports map[string]sig) string {
	return Version(func(name string) bool { _, ok := exports[name]; return ok })
}

// Version returns the ABI marker of a module whose exports exported
// reports ("0_2_1", "0_2_0" or "0_1_0", the newest it exports, as cpp-host's
// BytecodeUtil::getAbiVersion reads it), or "" when it has none.
func Version(exported func(name string) bool) string {
	for _, v := range []string{"0_2_1", "0_2_0", "0_1_0"} {
		if exported("proxy_abi_version_" + v) {
			return v
		}
	}
	return ""
}

// RequiredExports are the functions an HTTP filter module must export for
// Envoy, with their signatures.
var RequiredExports = map[string]sig{
	"_initialize":                "()->",
	"proxy_abi_version_0_2_0":    "()->",
	"proxy_on_memory_allocate":   "(i32)->i32",
	"proxy_on_context_create":    "(i32,i32)->",
	"proxy_on_vm_start":          "(i32,i32)->i32",
	"proxy_on_configure":         "(i32,i32)->i32",
	"proxy_on_request_headers":   "(i32,i32,i32)->i32",
	"proxy_on_request_body":      "(i32,i32,i32)->i32",
	"proxy_on_request_trailers":  "(i32,i32)->i32",
	"proxy_on_response_headers":  "(i32,i32,i32)->i32",
	"proxy_on_response_body":     "(i32,i32,i32)->i32",
	"proxy_on_response_trailers": "(i32,i32)->i32",
	"proxy_on_tick":              "(i32)->",
	"proxy_on_done":              "(i32)->i32",
	"proxy_on_log":               "(i32)->",
	"proxy_on_delete":            "(i32)->",
}

// ForbiddenExports must not be exported by a shipped module: "_start" would
// make the host treat the reactor as a command (the emulator's alias is for
// tests only).
var ForbiddenExports = []string{"_start"}

// Facts lists a module's imported and exported functions with signatures.
type Facts struct {
	Imports map[string]sig // "module.name" -> signature
	Exports map[string]sig
	Memory  bool // exports a memory named "memory"
}

// Inspect compiles wasm with wazero and lists its imports and exports.
func Inspect(ctx context.Context, wasm []byte) (Facts, error) {
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer rt.Close(ctx)
	mod, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		return Facts{}, err
	}
	f := Facts{Imports: map[string]sig{}, Exports: map[string]sig{}}
	for _, d := range mod.ImportedFunctions() {
		m, n, _ := d.Import()
		f.Imports[m+"."+n] = signature(d)
	}
	for name, d := range mod.ExportedFunctions() {
		f.Exports[name] = signature(d)
	}
	_, f.Memory = mod.ExportedMemories()["memory"]
	return f, nil
}

// Check returns every way the module falls short of what Envoy's host
// provides and expects; nil means it conforms.
func Check(f Facts) []string {
	var problems []string
	abi := abiVersion(f.Exports)
	for name, s := range f.Imports {
		want, ok := HostFunctions[name]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("imports %s%s, which Envoy's proxy-wasm host does not provide", name, s))
		case abiSpecific[name] != nil && !slices.Contains(abiSpecific[name], abi):
			problems = append(problems, fmt.Sprintf("imports %s, which Envoy's proxy-wasm host registers only for ABI %s (the module is ABI %q)",
				name, strings.Join(abiSpecific[name], " or "), abi))
		case want != s:
			problems = append(problems, fmt.Sprintf("imports %s%s, but the host's signature is %s", name, s, want))
		}
	}
	for name, want := range RequiredExports {
		s, ok := f.Exports[name]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("does not export %s, which Envoy calls", name))
		case s != want:
			problems = append(problems, fmt.Sprintf("exports %s%s, want %s", name, s, want))
		}
	}
	for _, name := range ForbiddenExports {
		if _, ok := f.Exports[name]; ok {
			problems = append(problems, fmt.Sprintf("exports %s: a proxy-wasm reactor must not", name))
		}
	}
	if !f.Memory {
		problems = append(problems, `does not export its memory as "memory"`)
	}
	sort.Strings(problems)
	return problems
}

// Signature returns a function's signature as HostFunctions spells it.
func Signature(d api.FunctionDefinition) string { return signature(d) }

func signature(d api.FunctionDefinition) sig {
	return "(" + types(d.ParamTypes()) + ")->" + types(d.ResultTypes())
}

func types(ts []api.ValueType) string {
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = api.ValueTypeName(t)
	}
	return strings.Join(names, ",")
}
