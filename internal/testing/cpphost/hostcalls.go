package cpphost

import (
	"context"
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

// hostFunc is the model of one host function: it reads the parameters
// from s and writes the result to s[0], as a wazero api.GoModuleFunc does.
type hostFunc func(h *Host, ctx context.Context, m api.Module, s []uint64)

// bind makes fn a function of the module for h.
func (h *Host) bind(fn hostFunc) api.GoModuleFunc {
	return func(ctx context.Context, m api.Module, s []uint64) { fn(h, ctx, m, s) }
}

// unmodelled is a host function cpp-host registers (WasmBase::registerCallbacks
// in src/wasm.cc; internal/testing/abi holds the list) that this model does not
// implement: it answers Unimplemented and is recorded as a violation, so
// that a test notices a call whose Envoy behaviour is not modelled.
func unmodelled(name string) hostFunc {
	return func(h *Host, _ context.Context, m api.Module, s []uint64) {
		h.mu.Lock()
		h.violations = append(h.violations, Violation{Function: "env." + name, Phase: "unmodelled", VM: m.Name()})
		h.mu.Unlock()
		s[0] = statusUnimplemented
	}
}

// envFuncs is the model of every env.* host function it implements, by
// name, built once. Which functions cpp-host registers for a module, and
// with which signature, comes from internal/testing/abi (abi.Registered); one that
// is registered but missing here answers Unimplemented (unmodelled).
// TestEnvFuncsAreRegistered checks this table against internal/testing/abi.
var envFuncs = map[string]hostFunc{
	"proxy_http_call":                    (*Host).httpCall,
	"proxy_set_property":                 (*Host).setProperty,
	"proxy_log":                          (*Host).log,
	"proxy_get_buffer_bytes":             (*Host).getBufferBytes,
	"proxy_set_buffer_bytes":             (*Host).setBufferBytes, // body.go
	"proxy_get_property":                 (*Host).getProperty,
	"proxy_set_effective_context":        (*Host).setEffectiveContext,
	"proxy_set_tick_period_milliseconds": (*Host).setTickPeriodMilliseconds,
	"proxy_get_current_time_nanoseconds": (*Host).getCurrentTimeNanoseconds,
	"proxy_define_metric":                (*Host).defineMetric,
	"proxy_increment_metric":             func(h *Host, _ context.Context, m api.Module, s []uint64) { h.updateMetric(false, m, s) },
	"proxy_record_metric":                func(h *Host, _ context.Context, m api.Module, s []uint64) { h.updateMetric(true, m, s) },
	"proxy_get_metric":                   (*Host).getMetric,
	"proxy_get_header_map_pairs":         (*Host).getHeaderMapPairs,
	"proxy_get_header_map_size":          (*Host).getHeaderMapSize,
	"proxy_get_header_map_value":         (*Host).getHeaderMapValue,
	"proxy_remove_header_map_value":      (*Host).removeHeaderMapValue,
	"proxy_replace_header_map_value":     func(h *Host, _ context.Context, m api.Module, s []uint64) { h.addHeader(true, m, s) },
	"proxy_add_header_map_value":         func(h *Host, _ context.Context, m api.Module, s []uint64) { h.addHeader(false, m, s) },
	"proxy_set_header_map_pairs":         (*Host).setHeaderMapPairs,
	"proxy_send_local_response":          (*Host).sendLocalResponse,
	"proxy_continue_stream":              (*Host).continueStream,
	"proxy_close_stream":                 (*Host).continueStream,
	"proxy_get_shared_data":              (*Host).getSharedData,
	"proxy_set_shared_data":              (*Host).setSharedData,
}

// log is env.proxy_log.
func (h *Host) log(_ context.Context, m api.Module, s []uint64) {
	level := int(uint32(s[0]))
	if level > 5 {
		s[0] = statusBadArgument
		return
	}
	vm := h.vm(m)
	vm.Logs = append(vm.Logs, Log{Level: level, Msg: string(read(m, s[1], s[2]))})
	s[0] = statusOK
}

// getBufferBytes is env.proxy_get_buffer_bytes.
func (h *Host) getBufferBytes(_ context.Context, m api.Module, s []uint64) {
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
	s[0] = give(vm, "proxy_get_buffer_bytes", data, s[3], s[4])
}

// getProperty is env.proxy_get_property.
func (h *Host) getProperty(_ context.Context, m api.Module, s []uint64) {
	vm := h.vm(m)
	raw := read(m, s[0], s[1])
	if v, found, ok := vm.stateProperty(raw); ok {
		if !found {
			s[0] = statusNotFound
			return
		}
		s[0] = give(vm, "proxy_get_property", v, s[2], s[3])
		return
	}
	path := strings.ReplaceAll(strings.TrimRight(string(raw), "\x00"), "\x00", ".")
	v, ok := vm.Properties[path]
	if !ok || (vm.roots[vm.cur] && streamProperty(path)) {
		s[0] = statusNotFound
		return
	}
	s[0] = give(vm, "proxy_get_property", v, s[2], s[3])
}

// setEffectiveContext is env.proxy_set_effective_context.
//
// cpp-host's set_effective_context: BadArgument for a context the
// VM does not have; the SDK calls it before the callback of an HTTP
// call, with the id of the context that made the call. The model
// knows the root context and the stream being served.
func (h *Host) setEffectiveContext(_ context.Context, m api.Module, s []uint64) {
	vm := h.vm(m)
	id := uint32(s[0])
	if !vm.roots[id] && id != vm.cur {
		s[0] = statusBadArgument
		return
	}
	vm.cur = id
	s[0] = statusOK
}

// setTickPeriodMilliseconds is env.proxy_set_tick_period_milliseconds.
func (h *Host) setTickPeriodMilliseconds(_ context.Context, m api.Module, s []uint64) {
	vm := h.vm(m)
	vm.TickPeriod = msDuration(uint32(s[0]))
	s[0] = statusOK
}

// getCurrentTimeNanoseconds is env.proxy_get_current_time_nanoseconds.
func (h *Host) getCurrentTimeNanoseconds(_ context.Context, m api.Module, s []uint64) {
	if !m.Memory().WriteUint64Le(uint32(s[0]), uint64(h.vm(m).walltime())) {
		s[0] = statusInvalidMemoryAccess
		return
	}
	s[0] = statusOK
}

// defineMetric is env.proxy_define_metric.
func (h *Host) defineMetric(_ context.Context, m api.Module, s []uint64) {
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

// updateMetric is env.proxy_increment_metric and env.proxy_record_metric.
func (h *Host) updateMetric(record bool, _ api.Module, s []uint64) {
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

// getMetric is env.proxy_get_metric.
func (h *Host) getMetric(_ context.Context, m api.Module, s []uint64) {
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

// getHeaderMapPairs is env.proxy_get_header_map_pairs.
func (h *Host) getHeaderMapPairs(_ context.Context, m api.Module, s []uint64) {
	vm := h.vm(m)
	hm := vm.headerMap(uint32(s[0]))
	if hm == nil {
		// Envoy's getHeaderMapPairs serializes an absent map as
		// no pairs.
		s[0] = give(vm, "proxy_get_header_map_pairs", encodePairs(nil), s[1], s[2])
		return
	}
	s[0] = give(vm, "proxy_get_header_map_pairs", encodePairs(*hm), s[1], s[2])
}

// getHeaderMapSize is env.proxy_get_header_map_size.
func (h *Host) getHeaderMapSize(_ context.Context, m api.Module, s []uint64) {
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

// getHeaderMapValue is env.proxy_get_header_map_value.
func (h *Host) getHeaderMapValue(_ context.Context, m api.Module, s []uint64) {
	vm := h.vm(m)
	hm := vm.headerMap(uint32(s[0]))
	if hm == nil {
		s[0] = statusBadArgument
		return
	}
	key := strings.ToLower(string(read(m, s[1], s[2])))
	for _, p := range *hm {
		if p[0] == key { // the first value only, as Envoy answers
			s[0] = give(vm, "proxy_get_header_map_value", []byte(p[1]), s[3], s[4])
			return
		}
	}
	s[0] = statusNotFound
}

// removeHeaderMapValue is env.proxy_remove_header_map_value.
func (h *Host) removeHeaderMapValue(_ context.Context, m api.Module, s []uint64) {
	hm := h.vm(m).headerMap(uint32(s[0]))
	if hm == nil {
		s[0] = statusBadArgument
		return
	}
	// HeaderMap::remove drops every entry of the name.
	*hm = remove(*hm, strings.ToLower(string(read(m, s[1], s[2]))))
	s[0] = statusOK
}

// addHeader is env.proxy_replace_header_map_value and env.proxy_add_header_map_value.
func (h *Host) addHeader(replace bool, m api.Module, s []uint64) {
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

// setHeaderMapPairs is env.proxy_set_header_map_pairs.
func (h *Host) setHeaderMapPairs(_ context.Context, m api.Module, s []uint64) {
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

// sendLocalResponse is env.proxy_send_local_response.
func (h *Host) sendLocalResponse(_ context.Context, m api.Module, s []uint64) {
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

// continueStream is env.proxy_continue_stream and env.proxy_close_stream:
// the model has no paused streams to resume or close.
func (h *Host) continueStream(_ context.Context, _ api.Module, s []uint64) { s[0] = statusOK }

// getSharedData is env.proxy_get_shared_data.
func (h *Host) getSharedData(_ context.Context, m api.Module, s []uint64) {
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
	if st := give(vm, "proxy_get_shared_data", value, s[2], s[3]); st != statusOK {
		s[0] = st
		return
	}
	if !m.Memory().WriteUint32Le(uint32(s[4]), cas) {
		s[0] = statusInvalidMemoryAccess
		return
	}
	s[0] = statusOK
}

// setSharedData is env.proxy_set_shared_data.
//
// SharedData::set (src/shared_data.cc): a CAS token of 0, or a
// missing key, writes unconditionally; otherwise the token must
// match. Every write takes the next token.
func (h *Host) setSharedData(_ context.Context, m api.Module, s []uint64) {
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

func remove(pairs [][2]string, key string) [][2]string {
	out := pairs[:0]
	for _, p := range pairs {
		if p[0] != key {
			out = append(out, p)
		}
	}
	return out
}
