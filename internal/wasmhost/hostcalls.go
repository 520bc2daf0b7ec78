package wasmhost

import (
	"context"
	"strings"

	"github.com/tetratelabs/wazero/api"
)

// hostFunc returns the implementation of env.<name>, or nil when the host
// does not implement it.
func (h *Host) hostFunc(name string) api.GoModuleFunc {
	switch name {
	case "proxy_log":
		return func(_ context.Context, m api.Module, s []uint64) {
			vm := h.vm(m)
			vm.Logs = append(vm.Logs, string(read(m, s[1], s[2])))
			s[0] = statusOK
		}
	case "proxy_get_buffer_bytes":
		return func(ctx context.Context, m api.Module, s []uint64) {
			if uint32(s[0]) != bufferPluginConfig {
				s[0] = statusNotFound
				return
			}
			s[0] = status(give(h.vm(m), h.vm(m).config, s[3], s[4]))
		}
	case "proxy_get_property":
		return func(ctx context.Context, m api.Module, s []uint64) {
			path := strings.ReplaceAll(strings.TrimRight(string(read(m, s[0], s[1])), "\x00"), "\x00", ".")
			v, ok := h.vm(m).Properties[path]
			if !ok {
				s[0] = statusNotFound
				return
			}
			s[0] = status(give(h.vm(m), v, s[2], s[3]))
		}
	case "proxy_set_tick_period_milliseconds":
		return func(_ context.Context, _ api.Module, s []uint64) { s[0] = statusOK }
	case "proxy_define_metric":
		return func(_ context.Context, m api.Module, s []uint64) {
			name := string(read(m, s[1], s[2]))
			h.mu.Lock()
			defer h.mu.Unlock()
			id := -1
			for i, n := range h.metricNames {
				if n == name {
					id = i
				}
			}
			if id < 0 {
				h.metricNames = append(h.metricNames, name)
				id = len(h.metricNames) - 1
			}
			m.Memory().WriteUint32Le(uint32(s[3]), uint32(id))
			s[0] = statusOK
		}
	case "proxy_increment_metric":
		return func(_ context.Context, _ api.Module, s []uint64) {
			id := int(uint32(s[0]))
			h.mu.Lock()
			defer h.mu.Unlock()
			if id >= len(h.metricNames) {
				s[0] = statusNotFound
				return
			}
			h.metrics[h.metricNames[id]] += s[1]
			s[0] = statusOK
		}
	case "proxy_get_header_map_pairs":
		return func(ctx context.Context, m api.Module, s []uint64) {
			hm := h.vm(m).headerMap(uint32(s[0]))
			if hm == nil {
				s[0] = statusBadArgument
				return
			}
			s[0] = status(give(h.vm(m), encodePairs(*hm), s[1], s[2]))
		}
	case "proxy_get_header_map_value":
		return func(ctx context.Context, m api.Module, s []uint64) {
			hm := h.vm(m).headerMap(uint32(s[0]))
			if hm == nil {
				s[0] = statusBadArgument
				return
			}
			key := strings.ToLower(string(read(m, s[1], s[2])))
			for _, p := range *hm {
				if p[0] == key {
					s[0] = status(give(h.vm(m), []byte(p[1]), s[3], s[4]))
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
			if replace {
				*hm = remove(*hm, key)
			}
			*hm = append(*hm, [2]string{key, string(read(m, s[3], s[4]))})
			s[0] = statusOK
		}
	case "proxy_send_local_response":
		return func(_ context.Context, m api.Module, s []uint64) {
			h.vm(m).local = &LocalResponse{
				Status:  int(uint32(s[0])),
				Body:    read(m, s[3], s[4]),
				Headers: decodePairs(read(m, s[5], s[6])),
			}
			s[0] = statusOK
		}
	case "proxy_get_shared_data":
		return func(ctx context.Context, m api.Module, s []uint64) {
			key := string(read(m, s[0], s[1]))
			h.mu.Lock()
			e, ok := h.shared[key]
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
				hook(h.vm(m), key)
				h.BeforeSharedDataReply = hook
			}
			if !ok {
				s[0] = statusNotFound
				return
			}
			if err := give(h.vm(m), value, s[2], s[3]); err != nil {
				s[0] = status(err)
				return
			}
			m.Memory().WriteUint32Le(uint32(s[4]), cas)
			s[0] = statusOK
		}
	case "proxy_set_shared_data":
		// Envoy's semantics: a CAS token of 0, or a missing key, writes
		// unconditionally; otherwise the token must match.
		return func(_ context.Context, m api.Module, s []uint64) {
			key := string(read(m, s[0], s[1]))
			cas := uint32(s[4])
			value := read(m, s[2], s[3])
			h.mu.Lock()
			defer h.mu.Unlock()
			e, ok := h.shared[key]
			if ok && cas != 0 && cas != e.cas {
				s[0] = statusCasMismatch
				return
			}
			if !ok {
				e = &entry{}
				h.shared[key] = e
			}
			h.nextCas++
			e.value, e.cas = value, h.nextCas
			s[0] = statusOK
		}
	}
	return nil
}

func status(err error) uint64 {
	if err != nil {
		return statusBadArgument
	}
	return statusOK
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
