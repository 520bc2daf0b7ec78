package cpphost

import (
	"fmt"
	"strings"
)

// Result is what one request produced.
type Result struct {
	// Upstream holds the request headers as forwarded, when not denied.
	Upstream [][2]string
	// Local is set when the plugin answered the request itself.
	Local *LocalResponse
	// Response holds the response headers after the plugin's changes: the
	// upstream's, or the local reply's as Envoy encodes it
	// (localReplyHeaders), which also go through proxy_on_response_headers.
	Response [][2]string
	// Skipped is set when the worker runs without the filter (FailedOpen):
	// the request went upstream as the client sent it.
	Skipped bool
	// Action is what proxy_on_request_headers returned (0 continue,
	// 1 pause).
	Action uint32
	// FilterState is what the plugin set with proxy_set_property, as the
	// access log reads it at the end of the stream: keyed by Envoy's
	// filter-state name ("wasm." + path), nil when nothing was set.
	FilterState map[string][]byte
}

// Request runs one HTTP request without a body through the VM: request
// headers (end of stream), a 200 response from the "upstream" when
// forwarded, and the end of the stream.
func (vm *VM) Request(headers [][2]string) (Result, error) {
	return vm.Exchange(headers, [][2]string{{":status", "200"}})
}

// Exchange is Request with the upstream's response headers.
func (vm *VM) Exchange(headers, response [][2]string) (Result, error) {
	if vm.err != nil {
		return Result{}, vm.err
	}
	if vm.FailedOpen {
		return Result{Upstream: headers, Response: response, Skipped: true}, nil
	}
	id := vm.nextID
	vm.nextID++
	vm.cur = id
	defer func() { vm.cur = vm.root }()
	vm.request = lowerKeys(headers)
	vm.response = lowerKeys(response)
	vm.local, vm.state = nil, nil
	if _, err := vm.call("proxy_on_context_create", uint64(id), uint64(vm.root)); err != nil {
		return Result{}, err
	}
	action, err := vm.call("proxy_on_request_headers", uint64(id), uint64(len(vm.request)), 1)
	if err != nil {
		return Result{}, err
	}
	res := Result{Local: vm.local, Action: uint32(action)}
	endOfStream := uint64(1)
	if vm.local == nil {
		res.Upstream = vm.request
	} else {
		// Envoy sends the local reply through the filter chain, this
		// filter included (localReplyHeaders).
		vm.response = localReplyHeaders(vm.local)
		if len(vm.local.Body) > 0 {
			endOfStream = 0 // the body follows; the model has no body callbacks
		}
	}
	if _, err := vm.call("proxy_on_response_headers", uint64(id), uint64(len(vm.response)), endOfStream); err != nil {
		return Result{}, err
	}
	res.Response = vm.response
	for _, f := range []string{"proxy_on_done", "proxy_on_log", "proxy_on_delete"} {
		if _, err := vm.call(f, uint64(id)); err != nil {
			return Result{}, err
		}
	}
	res.FilterState = vm.state
	return res, nil
}

// localReplyHeaders returns the response headers of a local reply as Envoy
// encodes it: the plugin's proxy_send_local_response is carried out after
// the VM call returns (Context::sendLocalResponse defers
// decoder_callbacks_->sendLocalReply, envoyproxy/envoy
// source/extensions/common/wasm/context.cc at b40935a), and the reply goes
// through the encoder filters, this one included: Context::encodeHeaders
// skips proxy_on_response_headers only for the 503 it sends itself when the
// VM failed (failure_local_reply_sent_). The headers are :status, the
// plugin's headers added one by one (modify_headers, addCopy), then for a
// body content-length and, when none was given, content-type text/plain;
// without a body neither (Utility::prepareLocalReply,
// source/common/http/utility.cc at 0075dc3). gRPC requests, whose local
// replies Envoy turns into trailers-only responses, are not modelled.
func localReplyHeaders(l *LocalResponse) [][2]string {
	hs := [][2]string{{":status", fmt.Sprint(l.Status)}}
	hs = append(hs, lowerKeys(l.Headers)...)
	if len(l.Body) == 0 {
		return remove(remove(hs, "content-length"), "content-type")
	}
	hs = append(remove(hs, "content-length"), [2]string{"content-length", fmt.Sprint(len(l.Body))})
	for _, h := range hs {
		if h[0] == "content-type" {
			return hs
		}
	}
	return append(hs, [2]string{"content-type", "text/plain"})
}

func lowerKeys(hs [][2]string) [][2]string {
	out := make([][2]string, len(hs))
	for i, h := range hs {
		out[i] = [2]string{strings.ToLower(h[0]), h[1]}
	}
	return out
}

func (vm *VM) headerMap(mapType uint32) *[][2]string {
	switch mapType {
	case mapHTTPCallResponseHeaders, mapHTTPCallResponseTrailers:
		if vm.callResp == nil {
			return nil
		}
		if mapType == mapHTTPCallResponseHeaders {
			return &vm.callResp.headers
		}
		return &vm.callResp.trailers
	}
	if vm.roots[vm.cur] {
		return nil // no stream: Envoy's getMap answers null
	}
	switch mapType {
	case mapRequestHeaders:
		return &vm.request
	case mapResponseHeaders:
		return &vm.response
	}
	return nil
}

// streamProperty reports whether path names stream info, which Envoy has
// only while a stream is current.
func streamProperty(path string) bool {
	top, _, _ := strings.Cut(path, ".")
	switch top {
	case "request", "response", "source", "destination", "connection", "upstream", "connection_id":
		return true
	}
	return false
}
