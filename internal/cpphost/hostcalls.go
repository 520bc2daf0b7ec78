package cpphost

import (
	"context"
	"encoding/binary"
	"strings"

	"github.com/tetratelabs/wazero/api"
)

// Metric types and the id layout of Envoy's Wasm::defineMetric
// (source/extensions/common/wasm/wasm.h: the type lives in the low bits).
const (
	metricCounter   = 0
	metricGauge     = 1
	metricHistogram = 2
	metricTypeMask  = 0x3
)

// envFunc returns the implementation of env.<name> as cpp-host registers it
// for a module of ABI version abi (WasmBase::registerCallbacks in
// src/wasm.cc), or nil when cpp-host does not register it: the module then
// fails to load. Registered functions this model does not implement answer
// Unimplemented and are recorded as violations, so that a test notices a
// call whose Envoy behaviour is not modelled.
func (h *Host) envFunc(name string, abi string) api.GoModuleFunc {
	if fn := h.implemented(name); fn != nil {
		return fn
	}
	registered := map[string]bool{
		"pthread_equal": true, "emscripten_notify_memory_growth": true,
	}
	for _, n := range []string{"log", "get_status", "set_property", "get_property", "send_local_response",
		"get_shared_data", "set_shared_data", "register_shared_queue", "resolve_shared_queue",
		"dequeue_shared_queue", "enqueue_shared_queue", "get_header_map_value", "add_header_map_value",
		"replace_header_map_value", "remove_header_map_value", "get_header_map_pairs",
		"set_header_map_pairs", "get_header_map_size", "get_buffer_status", "get_buffer_bytes",
		"set_buffer_bytes", "http_call", "grpc_call", "grpc_stream", "grpc_close", "grpc_cancel",
		"grpc_send", "set_tick_period_milliseconds", "get_current_time_nanoseconds", "define_metric",
		"increment_metric", "record_metric", "get_metric", "set_effective_context", "done",
		"call_foreign_function"} {
		registered["proxy_"+n] = true
	}
	switch abi {
	case "0_1_0":
		for _, n := range []string{"get_configuration", "continue_request", "continue_response", "clear_route_cache"} {
			registered["proxy_"+n] = true
		}
	case "0_2_0":
		registered["proxy_continue_stream"], registered["proxy_close_stream"] = true, true
	case "0_2_1":
		registered["proxy_continue_stream"], registered["proxy_close_stream"] = true, true
		registered["proxy_get_log_level"] = true
	}
	if !registered[name] {
		return nil
	}
	return func(_ context.Context, m api.Module, s []uint64) {
		h.mu.Lock()
		h.violations = append(h.violations, Violation{Function: "env." + name, Phase: "unmodelled", VM: m.Name()})
		h.mu.Unlock()
		s[0] = statusUnimplemented
	}
}

// implemented returns the model of env.<name>, or nil.
func (h *Host) implemented(name string) api.GoModuleFunc {
	switch name {
	case "proxy_http_call":
		return h.httpCall
	case "proxy_set_property":
		return h.setProperty // filterstate.go
	case "proxy_log":
		return func(_ context.Context, m api.Module, s []uint64) {
			level := int(uint32(s[0]))
			if level > 5 {
				s[0] = statusBadArgument
				return
			}
			vm := h.vm(m)
			vm.Logs = append(vm.Logs, Log{Level: level, Msg: string(read(m, s[1], s[2]))})
			s[0] = statusOK
		}
	case "proxy_get_buffer_bytes":
		return func(_ context.Context, m api.Module, s []uint64) {
			vm := h.vm(m)
			var data []byte
			switch uint32(s[0]) {
			case bufferPluginConfig:
				data = vm.plugin.Configuration
			case bufferHTTPCallResponseBody:
				if vm.callResp == nil {
					s[0] = statusNotFound
					return
				}
				data = vm.callResp.body
			case bufferHTTPResponseBody: // body.go
				if data = vm.responseBody(); data == nil {
					s[0] = statusNotFound
					return
				}
			default:
				s[0] = statusNotFound
				return
			}
			start, max := int(uint32(s[1])), int(uint32(s[2]))
			if start > len(data) {
				s[0] = statusBadArgument
				return
			}
			data = data[start:]
			if max < len(data) {
				data = data[:max]
			}
			s[0] = give(vm, name, data, s[3], s[4])
		}
	case "proxy_set_buffer_bytes":
		return h.setBufferBytes // body.go
	case "proxy_get_property":
		return func(_ context.Context, m api.Module, s []uint64) {
			vm := h.vm(m)
			raw := read(m, s[0], s[1])
			if v, found, ok := vm.stateProperty(raw); ok {
				if !found {
					s[0] = statusNotFound
					return
				}
				s[0] = give(vm, name, v, s[2], s[3])
				return
			}
			path := strings.ReplaceAll(strings.TrimRight(string(raw), "\x00"), "\x00", ".")
			v, ok := vm.Properties[path]
			if !ok || (vm.roots[vm.cur] && streamProperty(path)) {
				s[0] = statusNotFound
				return
			}
			s[0] = give(vm, name, v, s[2], s[3])
		}
	case "proxy_set_effective_context":
		// cpp-host's set_effective_context: BadArgument for a context the
		// VM does not have; the SDK calls it before the callback of an HTTP
		// call, with the id of the context that made the call. The model
		// knows the root context and the stream being served.
		return func(_ context.Context, m api.Module, s []uint64) {
			vm := h.vm(m)
			id := uint32(s[0])
			if !vm.roots[id] && id != vm.cur {
				s[0] = statusBadArgument
				return
			}
			vm.cur = id
			s[0] = statusOK
		}
	case "proxy_set_tick_period_milliseconds":
		return func(_ context.Context, m api.Module, s []uint64) {
			vm := h.vm(m)
			vm.TickPeriod = msDuration(uint32(s[0]))
			s[0] = statusOK
		}
	case "proxy_get_current_time_nanoseconds":
		return func(_ context.Context, m api.Module, s []uint64) {
			if !m.Memory().WriteUint64Le(uint32(s[0]), uint64(h.vm(m).walltime())) {
				s[0] = statusInvalidMemoryAccess
				return
			}
			s[0] = statusOK
		}
	case "proxy_define_metric":
		return func(_ context.Context, m api.Module, s []uint64) {
			typ := uint32(s[0])
			if typ > metricHistogram {
				s[0] = statusBadArgument
				return
			}
			metric := string(read(m, s[1], s[2]))
			h.mu.Lock()
			defer h.mu.Unlock()
			id := -1
			for i, n := range h.metricNames {
				if n == metric {
					id = i
				}
			}
			if id < 0 {
				h.metricNames = append(h.metricNames, metric)
				id = len(h.metricNames) - 1
			}
			if !m.Memory().WriteUint32Le(uint32(s[3]), uint32(id)<<2|typ) {
				s[0] = statusInvalidMemoryAccess
				return
			}
			s[0] = statusOK
		}
	case "proxy_increment_metric", "proxy_record_metric":
		record := name == "proxy_record_metric"
		return func(_ context.Context, _ api.Module, s []uint64) {
			id, typ := int(uint32(s[0])>>2), uint32(s[0])&metricTypeMask
			h.mu.Lock()
			defer h.mu.Unlock()
			if id >= len(h.metricNames) {
				s[0] = statusNotFound
				return
			}
			metric := h.metricNames[id]
			switch {
			case record && typ == metricGauge:
				h.metrics[metric] = s[1]
			case record:
				h.metrics[metric] += s[1]
			case typ == metricCounter && int64(s[1]) <= 0:
				// Envoy's Context::incrementMetric refuses to lower a counter.
				s[0] = statusBadArgument
				return
			case typ == metricCounter || typ == metricGauge:
				h.metrics[metric] += s[1]
			default:
				s[0] = statusBadArgument
				return
			}
			s[0] = statusOK
		}
	case "proxy_get_metric":
		return func(_ context.Context, m api.Module, s []uint64) {
			id := int(uint32(s[0]) >> 2)
			h.mu.Lock()
			defer h.mu.Unlock()
			if id >= len(h.metricNames) {
				s[0] = statusNotFound
				return
			}
			if !m.Memory().WriteUint64Le(uint32(s[1]), h.metrics[h.metricNames[id]]) {
				s[0] = statusInvalidMemoryAccess
				return
			}
			s[0] = statusOK
		}
	case "proxy_get_header_map_pairs":
		return func(_ context.Context, m api.Module, s []uint64) {
			vm := h.vm(m)
			hm := vm.headerMap(uint32(s[0]))
			if hm == nil {
				// Envoy's getHeaderMapPairs serializes an absent map as
				// no pairs.
				s[0] = give(vm, name, encodePairs(nil), s[1], s[2])
				return
			}
			s[0] = give(vm, name, encodePairs(*hm), s[1], s[2])
		}
	case "proxy_get_header_map_size":
		return func(_ context.Context, m api.Module, s []uint64) {
			hm := h.vm(m).headerMap(uint32(s[0]))
			if hm == nil {
				s[0] = statusBadArgument
				return
			}
			size := 0 // HeaderMap::byteSize: keys and values, nothing else
			for _, p := range *hm {
				size += len(p[0]) + len(p[1])
			}
			if !m.Memory().WriteUint32Le(uint32(s[1]), uint32(size)) {
				s[0] = statusInvalidMemoryAccess
				return
			}
			s[0] = statusOK
		}
	case "proxy_get_header_map_value":
		return func(_ context.Context, m api.Module, s []uint64) {
			vm := h.vm(m)
			hm := vm.headerMap(uint32(s[0]))
			if hm == nil {
				s[0] = statusBadArgument
				return
			}
			key := strings.ToLower(string(read(m, s[1], s[2])))
			for _, p := range *hm {
				if p[0] == key { // the first value only, as Envoy answers
					s[0] = give(vm, name, []byte(p[1]), s[3], s[4])
					return
				}
			}
			s[0] = statusNotFound
		}
	case "proxy_remove_header_map_value":
		return func(_ context.Context, m api.Module, s []uint64) {
			hm := h.vm(m).headerMap(uint32(s[0]))
			if hm == nil {
				s[0] = statusBadArgument
				return
			}
			// HeaderMap::remove drops every entry of the name.
			*hm = remove(*hm, strings.ToLower(string(read(m, s[1], s[2]))))
			s[0] = statusOK
		}
	case "proxy_replace_header_map_value", "proxy_add_header_map_value":
		replace := name == "proxy_replace_header_map_value"
		return func(_ context.Context, m api.Module, s []uint64) {
			hm := h.vm(m).headerMap(uint32(s[0]))
			if hm == nil {
				s[0] = statusBadArgument
				return
			}
			key := strings.ToLower(string(read(m, s[1], s[2])))
			value := string(read(m, s[3], s[4]))
			if replace {
				// HeaderMap::setCopy with envoy.reloadable_features.
				// http_set_copy_replace_all_headers (the default): every
				// entry of the name goes, one is added.
				*hm = remove(*hm, key)
			}
			*hm = append(*hm, [2]string{key, value})
			s[0] = statusOK
		}
	case "proxy_set_header_map_pairs":
		return func(_ context.Context, m api.Module, s []uint64) {
			hm := h.vm(m).headerMap(uint32(s[0]))
			if hm == nil {
				s[0] = statusBadArgument
				return
			}
			pairs, ok := decodePairs(read(m, s[1], s[2]))
			if !ok {
				s[0] = statusBadArgument
				return
			}
			*hm = lowerKeys(pairs)
			s[0] = statusOK
		}
	case "proxy_send_local_response":
		return func(_ context.Context, m api.Module, s []uint64) {
			vm := h.vm(m)
			headers, ok := decodePairs(read(m, s[5], s[6]))
			if !ok {
				s[0] = statusBadArgument
				return
			}
			vm.local = &LocalResponse{
				Status:  int(uint32(s[0])),
				Details: string(read(m, s[1], s[2])),
				Body:    read(m, s[3], s[4]),
				Headers: headers,
			}
			s[0] = statusOK
		}
	case "proxy_continue_stream", "proxy_close_stream":
		return func(_ context.Context, _ api.Module, s []uint64) { s[0] = statusOK }
	case "proxy_get_shared_data":
		return func(_ context.Context, m api.Module, s []uint64) {
			vm := h.vm(m)
			key := string(read(m, s[0], s[1]))
			h.mu.Lock()
			e, ok := h.shared[vm.plugin.VMID][key]
			var value []byte
			var cas uint32
			if ok {
				value, cas = append([]byte(nil), e.value...), e.cas
			}
			h.mu.Unlock()
			// The hook runs without the lock: it makes another VM call in.
			if h.BeforeSharedDataReply != nil {
				hook := h.BeforeSharedDataReply
				h.BeforeSharedDataReply = nil // no recursion through the other VM
				hook(vm, key)
				h.BeforeSharedDataReply = hook
			}
			if !ok {
				s[0] = statusNotFound
				return
			}
			if st := give(vm, name, value, s[2], s[3]); st != statusOK {
				s[0] = st
				return
			}
			if !m.Memory().WriteUint32Le(uint32(s[4]), cas) {
				s[0] = statusInvalidMemoryAccess
				return
			}
			s[0] = statusOK
		}
	case "proxy_set_shared_data":
		// SharedData::set (src/shared_data.cc): a CAS token of 0, or a
		// missing key, writes unconditionally; otherwise the token must
		// match. Every write takes the next token.
		return func(_ context.Context, m api.Module, s []uint64) {
			vm := h.vm(m)
			key := string(read(m, s[0], s[1]))
			value := read(m, s[2], s[3])
			cas := uint32(s[4])
			h.mu.Lock()
			defer h.mu.Unlock()
			ns := h.shared[vm.plugin.VMID]
			if ns == nil {
				ns = map[string]*entry{}
				h.shared[vm.plugin.VMID] = ns
			}
			e, ok := ns[key]
			if ok && cas != 0 && cas != e.cas {
				s[0] = statusCasMismatch
				return
			}
			if !ok {
				e = &entry{}
				ns[key] = e
			}
			h.nextCas++
			if h.nextCas == 0 {
				h.nextCas++
			}
			e.value, e.cas = value, h.nextCas
			s[0] = statusOK
		}
	}
	return nil
}

func remove(pairs [][2]string, key string) [][2]string {
	out := pairs[:0]
	for _, p := range pairs {
		if p[0] != key {
			out = append(out, p)
		}
	}
	return out
}

// le64 encodes v as Envoy serializes an int64 or timestamp property.
func le64(v int64) []byte { return binary.LittleEndian.AppendUint64(nil, uint64(v)) }
