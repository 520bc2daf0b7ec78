package cpphost

import (
	"bytes"
	"context"

	"github.com/tetratelabs/wazero/api"
)

// Filter state, as Envoy keeps what a Wasm filter sets with
// proxy_set_property (envoyproxy/envoy
// source/extensions/common/wasm/context.cc at b40935a, Context::setProperty
// and Context::findValue; source/extensions/filters/common/expr/cel_state.h
// at 8b9304c):
//
//   - Where: in the stream's filter state (StreamInfo::filterState), under
//     "wasm." followed by the path exactly as the module sent it, NUL
//     separators included, as a CelState of the default prototype (bytes,
//     not read-only, life span FilterChain) unless the module declared the
//     property with the declare_property foreign function, which this model
//     does not implement. Setting it again replaces the value. The value is
//     copied (CelState::setValue); an empty value is stored empty.
//   - When: only while a stream is current (getRequestStreamInfo has the
//     decoder or encoder callbacks of an HTTP context): in the root context
//     (plugin start, ticks, callbacks of the root's HTTP calls) it answers
//     NotFound and stores nothing.
//   - How long: for the stream (life span FilterChain): the next stream
//     starts with none; the access log, written when the stream ends, reads
//     what the stream left (Result.FilterState).
//   - What a read returns: proxy_get_property of a path whose first segment
//     is no attribute Envoy knows looks up "wasm." + that segment: the value
//     as set when the path has no other segment, NotFound otherwise (a bytes
//     value has no fields), and NotFound when nothing was set or outside a
//     stream. The filter_state attribute reads any key in full:
//     ["filter_state", "wasm.<path>"] returns the same bytes.
//
// %FILTER_STATE(wasm.<path>:PLAIN)% in an access log prints the value
// (CelState::serializeAsString); the model hands the map to the test as
// Result.FilterState, keyed like that.

// filterStatePrefix is Envoy's CelStateKeyPrefix.
const filterStatePrefix = "wasm."

// setProperty is env.proxy_set_property.
func (h *Host) setProperty(_ context.Context, m api.Module, s []uint64) {
	s[0] = h.vm(m).storeProperty(read(m, s[0], s[1]), read(m, s[2], s[3]))
}

// storeProperty stores value (the VM's own copy) at path in the current
// stream's filter state and returns the status.
func (vm *VM) storeProperty(path, value []byte) uint64 {
	if vm.roots[vm.cur] {
		return statusNotFound
	}
	if vm.state == nil {
		vm.state = map[string][]byte{}
	}
	vm.state[filterStatePrefix+string(path)] = value
	return statusOK
}

// stateProperty answers proxy_get_property for a path (segments separated
// by NUL bytes, as the module sent it) from the stream's filter state.
// handled is false when the path names something else: an attribute, or a
// property the test set in VM.Properties.
func (vm *VM) stateProperty(path []byte) (value []byte, found, handled bool) {
	path = bytes.TrimRight(path, "\x00")
	top, rest, more := bytes.Cut(path, []byte{0})
	if string(top) == "filter_state" {
		if vm.roots[vm.cur] || !more || bytes.IndexByte(rest, 0) >= 0 {
			return nil, false, true
		}
		v, ok := vm.state[string(rest)]
		return v, ok, true
	}
	if envoyAttribute(string(top)) {
		return nil, false, false
	}
	if vm.roots[vm.cur] {
		return nil, false, false
	}
	v, ok := vm.state[filterStatePrefix+string(top)]
	if !ok {
		return nil, false, false // the test's own properties, if any
	}
	if more {
		return nil, false, true
	}
	return v, true, true
}

// envoyAttribute reports whether name is a top-level name Envoy's
// getProperty answers before it looks in the filter state: the CEL
// attributes of StreamActivation (source/extensions/filters/common/expr/
// context.h) and the Wasm context's own (plugin_name ...).
func envoyAttribute(name string) bool {
	switch name {
	case "request", "response", "connection", "upstream", "source", "destination", "metadata",
		"filter_state", "upstream_filter_state", "xds", "node", "cluster_name", "cluster_metadata",
		"listener_direction", "listener_metadata", "route_name", "route_metadata",
		"upstream_host_metadata", "plugin_name", "plugin_root_id", "plugin_vm_id", "connection_id":
		return true
	}
	return false
}
