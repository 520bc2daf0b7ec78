package cpphost

import (
	"sort"
	"strings"

	"github.com/apiguard/apiguard/internal/testing/abi"
)

// A Profile is what one range of Envoy releases embeds of proxy-wasm-cpp-host:
// which WASI functions it registers and how they answer, and which host
// functions a module may call while cpp-host runs _initialize or the
// module's allocator. The sources are named in doc.go.
type Profile struct {
	// Name is how tests and benchmarks name the profile, e.g. "envoy-1.33".
	Name string
	// CppHost is the proxy-wasm-cpp-host commit the profile was read from.
	CppHost string
	// Envoy says which Envoy releases embed it.
	Envoy string

	// wasi is every WASI function the host registers (under both
	// wasi_unstable and wasi_snapshot_preview1). A module importing any
	// other fails to load, as V8 fails to link it.
	wasi map[string]bool
	// startAllowed and allocAllowed are the allow lists of
	// WasmBase::startVm and WasmBase::allocMemory, as "module.name".
	startAllowed map[string]bool
	allocAllowed map[string]bool
	// pollOneoffErrno is poll_oneoff's answer; 0 means success with no
	// events (cpp-host PR #533), 52 is ENOSYS (PR #427 until #533).
	pollOneoffErrno uint32
}

// Phases in which cpp-host restricts the host functions a module may call.
const (
	// PhaseInitialize is WasmBase::startVm running _initialize (src/wasm.cc).
	PhaseInitialize = "_initialize"
	// PhaseAllocate is WasmBase::allocMemory running the module's
	// allocator (include/proxy-wasm/wasm.h) to return data to it.
	PhaseAllocate = "proxy_on_memory_allocate"
)

// allowed reports whether the module may call fn ("module.name") in phase.
func (p *Profile) allowed(phase, fn string) bool {
	switch phase {
	case PhaseInitialize:
		return p.startAllowed[fn]
	case PhaseAllocate:
		return p.allocAllowed[fn]
	}
	return true
}

// wasiBoth returns the "wasi_unstable.X" and "wasi_snapshot_preview1.X"
// spellings of names, and extra as given.
func wasiBoth(extra []string, names ...string) map[string]bool {
	m := map[string]bool{}
	for _, e := range extra {
		m[e] = true
	}
	for _, n := range names {
		m["wasi_unstable."+n] = true
		m["wasi_snapshot_preview1."+n] = true
	}
	return m
}

// wasiBefore533 is every WASI function cpp-host registers before PR #533
// (FOR_ALL_WASI_FUNCTIONS in include/proxy-wasm/exports.h at beb8a4e):
// internal/testing/abi's list.
var wasiBefore533 = abiWASI()

// abiWASI returns the names of internal/testing/abi's WASI functions.
func abiWASI() []string {
	var names []string
	for full := range abi.HostFunctions {
		if name, ok := strings.CutPrefix(full, "wasi_snapshot_preview1."); ok {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

// WASI functions PR #533 added (the same list at 94091cd).
var wasiAdded533 = []string{"fd_fdstat_set_rights", "clock_res_get", "fd_advise", "fd_allocate",
	"fd_datasync", "fd_filestat_set_size", "fd_filestat_set_times", "fd_pread", "fd_pwrite",
	"fd_readdir", "fd_renumber", "fd_sync", "fd_tell", "path_create_directory",
	"path_filestat_set_times", "path_link", "path_readlink", "path_remove_directory", "path_rename",
	"path_symlink", "path_unlink_file", "sock_accept", "sock_recv", "sock_send", "sock_shutdown",
	"path_filestat_get", "fd_filestat_get"}

// Envoy133 is cpp-host as Envoy 1.33 to 1.38 embed it: after PR #427 (Go
// modules load), before PR #533.
var Envoy133 = &Profile{
	Name:    "envoy-1.33",
	CppHost: "beb8a4e (Envoy's last pin before #533)",
	Envoy:   "1.33-1.38",
	wasi:    wasiBoth(nil, wasiBefore533...),
	startAllowed: wasiBoth([]string{"env.emscripten_notify_memory_growth", "env.proxy_log"},
		"fd_write", "args_sizes_get", "args_get", "environ_sizes_get", "environ_get",
		"fd_prestat_get", "fd_prestat_dir_name", "clock_time_get", "random_get",
		"fd_fdstat_get", "fd_fdstat_set_flags"),
	allocAllowed:    wasiBoth([]string{"env.proxy_log"}, "fd_write", "clock_time_get"),
	pollOneoffErrno: 52,
}

// Envoy139 is cpp-host from PR #533 (94091cd) on, which Envoy picked up
// with envoyproxy/envoy#45756 after 1.38.
var Envoy139 = &Profile{
	Name:    "envoy-1.39",
	CppHost: "94091cd (#533; Envoy pins 09e5f8d, the same in what the model reads)",
	Envoy:   "1.39 and later",
	wasi:    wasiBoth(nil, append(append([]string{}, wasiBefore533...), wasiAdded533...)...),
	startAllowed: wasiBoth([]string{"env.emscripten_notify_memory_growth", "env.proxy_log"},
		append([]string{"fd_write", "args_sizes_get", "args_get", "environ_sizes_get", "environ_get",
			"clock_time_get", "clock_res_get", "random_get", "poll_oneoff", "fd_fdstat_get",
			"fd_fdstat_set_flags", "fd_prestat_get", "fd_prestat_dir_name"},
			// #533 allows every other WASI function it adds while
			// _initialize runs ("to maximize compatibility").
			without(wasiAdded533, "clock_res_get")...)...),
	allocAllowed:    wasiBoth([]string{"env.proxy_log"}, "fd_write", "clock_time_get", "poll_oneoff"),
	pollOneoffErrno: 0,
}

func without(names []string, drop string) []string {
	var out []string
	for _, n := range names {
		if n != drop {
			out = append(out, n)
		}
	}
	return out
}

// Profiles lists every profile, oldest first.
func Profiles() []*Profile { return []*Profile{Envoy133, Envoy139} }
