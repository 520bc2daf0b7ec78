package cpphost

import (
	"strings"
	"testing"

	"github.com/apiguard/apiguard/internal/testing/abi"
)

// TestEnvFuncsAreRegistered: every env function the model implements is
// one internal/testing/abi lists (so cpp-host registers it), and every function
// internal/testing/abi lists that apiguard's SDK can import is modelled.
func TestEnvFuncsAreRegistered(t *testing.T) {
	for name := range envFuncs {
		if _, ok := abi.HostFunctions["env."+name]; !ok {
			t.Errorf("envFuncs models env.%s, which internal/testing/abi does not list", name)
		}
	}
	// Registered but deliberately unmodelled: a call answers Unimplemented
	// and fails the test that made it (unmodelled).
	unmodelledOK := map[string]bool{
		"proxy_get_status": true, "proxy_register_shared_queue": true, "proxy_resolve_shared_queue": true,
		"proxy_dequeue_shared_queue": true, "proxy_enqueue_shared_queue": true, "proxy_get_buffer_status": true,
		"proxy_grpc_call": true, "proxy_grpc_stream": true, "proxy_grpc_send": true,
		"proxy_grpc_cancel": true, "proxy_grpc_close": true, "proxy_done": true, "proxy_call_foreign_function": true,
		"proxy_get_log_level": true, "proxy_get_configuration": true, "proxy_continue_request": true,
		"proxy_continue_response": true, "proxy_clear_route_cache": true, "pthread_equal": true,
		"emscripten_notify_memory_growth": true,
	}
	for full := range abi.HostFunctions {
		name, ok := strings.CutPrefix(full, "env.")
		if !ok {
			continue
		}
		if envFuncs[name] == nil && !unmodelledOK[name] {
			t.Errorf("internal/testing/abi lists %s, which the model neither implements nor lists as unmodelled", full)
		}
		if envFuncs[name] != nil && unmodelledOK[name] {
			t.Errorf("%s is modelled: drop it from unmodelledOK", full)
		}
	}
}

// TestWASIFuncsCoverProfiles: every WASI function a profile registers has
// its model, and every model belongs to a registered function; the
// Envoy133 profile registers exactly internal/testing/abi's WASI list.
func TestWASIFuncsCoverProfiles(t *testing.T) {
	used := map[string]bool{}
	for _, p := range Profiles() {
		for full := range p.wasi {
			_, name, _ := strings.Cut(full, ".")
			if wasiFuncs[name] == nil {
				t.Errorf("%s registers %s, which wasiFuncs does not model", p.Name, full)
			}
			used[name] = true
		}
	}
	for name := range wasiFuncs {
		if !used[name] {
			t.Errorf("wasiFuncs models %s, which no profile registers", name)
		}
	}
	for full := range abi.HostFunctions {
		if strings.HasPrefix(full, "wasi_snapshot_preview1.") && !Envoy133.wasi[full] {
			t.Errorf("internal/testing/abi lists %s, which Envoy133 does not register", full)
		}
	}
	for full := range Envoy133.wasi {
		_, name, _ := strings.Cut(full, ".")
		if _, ok := abi.HostFunctions["wasi_snapshot_preview1."+name]; !ok {
			t.Errorf("Envoy133 registers %s, which internal/testing/abi does not list", full)
		}
	}
}
