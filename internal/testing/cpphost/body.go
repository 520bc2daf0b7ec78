package cpphost

import (
	"context"
	"fmt"

	"github.com/tetratelabs/wazero/api"
)

// Response bodies, modelled on Envoy's Wasm filter
// (envoyproxy/envoy source/extensions/common/wasm/context.cc at b40935a;
// at 031fa2b, which doc.go cites for headers, encodeData did not yet add
// the chunk to the encoding buffer itself):
//
//   - Context::encodeData calls proxy_on_response_body with the size of the
//     body the filter can see and end_of_stream. While the filter buffers
//     (its previous body callback returned StopIterationAndBuffer, 1), the
//     new chunk is added to the encoding buffer first and the filter sees
//     the whole buffered body (getBuffer: encodingBuffer); otherwise only
//     the chunk. Any other answer lets what the filter holds go on.
//   - proxy_get_buffer_bytes of the response body copies [start,
//     start+length) of it; proxy_set_buffer_bytes follows Buffer::copyFrom:
//     start 0 drains length bytes (all, for a length past the end) and
//     prepends the data; a start at or past the end appends; anything else
//     is BadArgument.
//   - Response headers are paused only as cpp-host allows: a paused
//     response-headers callback becomes StopAllIterationAndWatermark
//     (ContextBase::convertVmCallResultToFilterHeadersStatus in
//     proxy-wasm-cpp-host src/context.cc at 3930b7b and 94091cd, unless
//     Envoy's allow_on_headers_stop_iteration is set), after which Envoy
//     calls no body callback; the model records that as a Violation, since
//     the stream would hang.

// bufferHTTPResponseBody is the proxy-wasm BufferType of the response body.
const bufferHTTPResponseBody = 1

// bodyState is the response body of the stream being served.
type bodyState struct {
	buf []byte // what the filter sees in the current callback
}

// BodyResult is what one request with a response body produced.
type BodyResult struct {
	Result
	// HeadersAction is what proxy_on_response_headers returned.
	HeadersAction uint32
	// Body is the response body as the client receives it: every chunk the
	// filter let go, after its changes.
	Body []byte
	// BodyActions are the answers of proxy_on_response_body, one per chunk.
	BodyActions []uint32
}

// ExchangeBody runs one request without a request body through the VM,
// answered by the upstream with response headers and a body in chunks (at
// least one; the last ends the stream).
func (vm *VM) ExchangeBody(headers, response [][2]string, chunks [][]byte) (BodyResult, error) {
	if len(chunks) == 0 {
		return BodyResult{}, fmt.Errorf("ExchangeBody needs at least one chunk")
	}
	if vm.err != nil {
		return BodyResult{}, vm.err
	}
	if vm.FailedOpen {
		var body []byte
		for _, c := range chunks {
			body = append(body, c...)
		}
		return BodyResult{Result: Result{Upstream: headers, Response: response, Skipped: true}, Body: body}, nil
	}
	id := vm.nextID
	vm.nextID++
	vm.cur = id
	defer func() { vm.cur, vm.body = vm.root, nil }()
	vm.request = lowerKeys(headers)
	vm.response = lowerKeys(response)
	vm.local = nil
	if _, err := vm.call("proxy_on_context_create", uint64(id), uint64(vm.root)); err != nil {
		return BodyResult{}, err
	}
	action, err := vm.call("proxy_on_request_headers", uint64(id), uint64(len(vm.request)), 1)
	if err != nil {
		return BodyResult{}, err
	}
	res := BodyResult{Result: Result{Local: vm.local, Action: uint32(action)}}
	if vm.local == nil {
		res.Upstream = vm.request
		ha, err := vm.call("proxy_on_response_headers", uint64(id), uint64(len(vm.response)), 0)
		if err != nil {
			return BodyResult{}, err
		}
		res.HeadersAction = uint32(ha)
		res.Response = vm.response
		if ha != 0 {
			vm.host.violate(Violation{Function: "proxy_on_response_headers", Phase: "paused",
				VM: vm.mod.Name(), During: "Envoy withholds the body after a paused response-headers callback (StopAllIterationAndWatermark)"})
		} else {
			var buffered []byte
			for i, c := range chunks {
				vm.body = &bodyState{buf: append(buffered, c...)}
				last := i == len(chunks)-1
				eos := uint64(0)
				if last {
					eos = 1
				}
				a, err := vm.call("proxy_on_response_body", uint64(id), uint64(len(vm.body.buf)), eos)
				if err != nil {
					return BodyResult{}, err
				}
				res.BodyActions = append(res.BodyActions, uint32(a))
				if a == 1 && !last {
					buffered = vm.body.buf // StopIterationAndBuffer
					continue
				}
				if a == 1 {
					vm.host.violate(Violation{Function: "proxy_on_response_body", Phase: "paused",
						VM: vm.mod.Name(), During: "buffering at the end of the stream: the response would never complete"})
				}
				res.Body = append(res.Body, vm.body.buf...)
				buffered = nil
			}
			res.Response = vm.response // the headers went with the first data
		}
	}
	for _, f := range []string{"proxy_on_done", "proxy_on_log", "proxy_on_delete"} {
		if _, err := vm.call(f, uint64(id)); err != nil {
			return BodyResult{}, err
		}
	}
	return res, nil
}

// violate records a violation.
func (h *Host) violate(v Violation) {
	h.mu.Lock()
	h.violations = append(h.violations, v)
	h.mu.Unlock()
}

// responseBody returns the response body the current callback sees, or nil.
func (vm *VM) responseBody() []byte {
	if vm.body == nil {
		return nil
	}
	return vm.body.buf
}

// setBufferBytes is proxy_set_buffer_bytes for the response body.
func (h *Host) setBufferBytes(_ context.Context, m api.Module, s []uint64) {
	vm := h.vm(m)
	if uint32(s[0]) != bufferHTTPResponseBody || vm.body == nil {
		s[0] = statusNotFound
		return
	}
	start, length := int(uint32(s[1])), int(uint32(s[2]))
	data := read(m, s[3], s[4])
	buf := vm.body.buf
	switch {
	case start == 0:
		length = min(length, len(buf))
		vm.body.buf = append(data, buf[length:]...)
	case start >= len(buf):
		vm.body.buf = append(buf, data...)
	default:
		s[0] = statusBadArgument
		return
	}
	s[0] = statusOK
}
