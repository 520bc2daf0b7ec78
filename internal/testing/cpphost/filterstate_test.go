package cpphost

import (
	"testing"
)

// TestFilterStateModel: what proxy_set_property stores where, when it is
// refused, and what proxy_get_property then answers, as Envoy's
// Context::setProperty and Context::getProperty do (filterstate.go).
func TestFilterStateModel(t *testing.T) {
	vm := &VM{Properties: map[string][]byte{"plugin_name": []byte("apiguard")}, roots: map[uint32]bool{rootContextID: true}}

	vm.cur = rootContextID
	if st := vm.storeProperty([]byte("apiguard.decision"), []byte("allow")); st != statusNotFound {
		t.Errorf("root context: status %d, want NotFound (%d)", st, statusNotFound)
	}
	if vm.state != nil {
		t.Errorf("root context stored %q", vm.state)
	}

	vm.cur = rootContextID + 1 // a stream
	for _, c := range []struct{ path, value string }{
		{"apiguard.decision", "deny"},
		{"apiguard.decision", "allow"}, // set again: replaced
		{"apiguard.empty", ""},
		{"two\x00segments", "x"},
	} {
		if st := vm.storeProperty([]byte(c.path), []byte(c.value)); st != statusOK {
			t.Fatalf("set %q: status %d", c.path, st)
		}
	}
	want := map[string]string{"wasm.apiguard.decision": "allow", "wasm.apiguard.empty": "", "wasm.two\x00segments": "x"}
	if len(vm.state) != len(want) {
		t.Errorf("filter state %q, want %q", vm.state, want)
	}
	for k, v := range want {
		if got, ok := vm.state[k]; !ok || string(got) != v {
			t.Errorf("filter state %q = %q (present %v), want %q", k, got, ok, v)
		}
	}

	for _, c := range []struct {
		path           string
		value          string
		found, handled bool
	}{
		{"apiguard.decision", "allow", true, true},
		{"apiguard.decision\x00", "allow", true, true},  // the SDK's trailing NUL
		{"apiguard.decision\x00field", "", false, true}, // bytes have no fields
		{"filter_state\x00wasm.apiguard.decision", "allow", true, true},
		{"filter_state\x00wasm.absent", "", false, true},
		{"two\x00segments", "", false, false}, // read as "two": not set
		{"apiguard.absent", "", false, false}, // left to Properties: not found there either
		{"plugin_name", "", false, false},     // an attribute, never filter state
	} {
		v, found, handled := vm.stateProperty([]byte(c.path))
		if string(v) != c.value || found != c.found || handled != c.handled {
			t.Errorf("get %q = %q, found %v, handled %v; want %q, %v, %v", c.path, v, found, handled, c.value, c.found, c.handled)
		}
	}

	vm.cur = rootContextID
	if _, found, _ := vm.stateProperty([]byte("filter_state\x00wasm.apiguard.decision")); found {
		t.Error("filter state read in the root context")
	}
	if _, found, _ := vm.stateProperty([]byte("apiguard.decision")); found {
		t.Error("wasm.apiguard.decision read in the root context")
	}
}
