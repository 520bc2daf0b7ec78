package cpphost

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/tetratelabs/wazero/api"
)

// proxy-wasm enum values of HTTP callouts.
const (
	mapHTTPCallResponseHeaders  = 6
	mapHTTPCallResponseTrailers = 7
	bufferHTTPCallResponseBody  = 4
)

// HTTPCall is one proxy_http_call the plugin made, as the upstream cluster
// saw it.
type HTTPCall struct {
	Cluster string
	Headers [][2]string
	Body    []byte
	Timeout time.Duration
}

// callout is an HTTP call in flight or finished.
type callout struct {
	token uint32
	root  uint32 // the root context that made the call
	call  HTTPCall
	done  chan struct{}
	// resp is nil when the call failed (connection refused, timeout ...):
	// Envoy then calls proxy_on_http_call_response with no headers, body
	// or trailers (Context::onHttpCallFailure).
	resp *calloutResponse
}

type calloutResponse struct {
	headers  [][2]string
	body     []byte
	trailers [][2]string
}

// httpCall is env.proxy_http_call as Envoy's Context::httpCall answers it:
// BadArgument for a negative timeout, an unknown cluster, or request
// headers without :path, :method or :authority; otherwise the call starts
// and its token is returned. The call really goes to the address the host
// maps the cluster to (Options.Clusters), over plain HTTP/1.1.
func (h *Host) httpCall(_ context.Context, m api.Module, s []uint64) {
	vm := h.vm(m)
	cluster := string(read(m, s[0], s[1]))
	headers, ok := decodePairs(read(m, s[2], s[3]))
	if !ok {
		s[0] = statusBadArgument
		return
	}
	body := read(m, s[4], s[5])
	timeout := int32(uint32(s[8]))
	addr, known := h.opts.Clusters[cluster]
	if timeout < 0 || !known {
		s[0] = statusBadArgument
		return
	}
	method, path, authority := pseudoHeaders(headers)
	if method == "" || path == "" || authority == "" {
		s[0] = statusBadArgument
		return
	}
	vm.nextToken++
	c := &callout{token: vm.nextToken, root: vm.cur, done: make(chan struct{}),
		call: HTTPCall{Cluster: cluster, Headers: headers, Body: body, Timeout: time.Duration(timeout) * time.Millisecond}}
	vm.callouts = append(vm.callouts, c)
	if !vm.canary { // a canary's call is cancelled with it before it is sent (canary.go)
		h.mu.Lock()
		h.calls = append(h.calls, c.call)
		h.mu.Unlock()
		go c.send(addr)
	}
	if !m.Memory().WriteUint32Le(uint32(s[9]), c.token) {
		s[0] = statusInvalidMemoryAccess
		return
	}
	s[0] = statusOK
}

// pseudoHeaders returns the :method, :path and :authority of headers.
func pseudoHeaders(headers [][2]string) (method, path, authority string) {
	for _, p := range headers {
		switch p[0] {
		case ":method":
			method = p[1]
		case ":path":
			path = p[1]
		case ":authority":
			authority = p[1]
		}
	}
	return method, path, authority
}

// send makes the call to addr over plain HTTP/1.1 and closes c.done; c.resp
// stays nil when it fails (a reset, a timeout, a truncated body), as Envoy
// reports a failure.
func (c *callout) send(addr string) {
	defer close(c.done)
	ctx := context.Background()
	if c.call.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.call.Timeout)
		defer cancel()
	}
	method, path, authority := pseudoHeaders(c.call.Headers)
	req, err := http.NewRequestWithContext(ctx, method, "http://"+addr+path, bytes.NewReader(c.call.Body))
	if err != nil {
		return
	}
	req.Host = authority
	for _, p := range c.call.Headers {
		if !strings.HasPrefix(p[0], ":") {
			req.Header.Add(p[0], p[1])
		}
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return // a reset or truncated body is a failed call in Envoy too
	}
	r := &calloutResponse{headers: [][2]string{{":status", fmt.Sprint(resp.StatusCode)}}, body: b}
	for k, vs := range resp.Header {
		for _, v := range vs {
			r.headers = append(r.headers, [2]string{strings.ToLower(k), v})
		}
	}
	for k, vs := range resp.Trailer {
		for _, v := range vs {
			r.trailers = append(r.trailers, [2]string{strings.ToLower(k), v})
		}
	}
	c.resp = r
}

// HTTPCalls returns every HTTP call the host's VMs made, in order.
func (h *Host) HTTPCalls() []HTTPCall {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]HTTPCall(nil), h.calls...)
}

// PendingHTTPCalls returns how many HTTP calls of the VM have not been
// answered yet.
func (vm *VM) PendingHTTPCalls() int { return len(vm.callouts) }

// WaitHTTPCalls waits up to wait until every HTTP call of the VM in flight
// has its answer (or failed), without delivering them, and reports whether
// they all have. Benchmarks use it to time the callbacks alone.
func (vm *VM) WaitHTTPCalls(wait time.Duration) bool {
	deadline := time.After(wait)
	for _, c := range vm.callouts {
		select {
		case <-c.done:
		case <-deadline:
			return false
		}
	}
	return true
}

// DeliverHTTPCalls waits up to wait for the VM's HTTP calls in flight and
// calls proxy_on_http_call_response on the root context for each that
// finished, in the order they were made, as the worker's dispatcher does.
// It returns how many it delivered. Calls made by those callbacks stay in
// flight for the next DeliverHTTPCalls.
func (vm *VM) DeliverHTTPCalls(wait time.Duration) (int, error) {
	deadline := time.After(wait)
	pending := vm.callouts
	// Calls the plugin makes in a callback below go into a fresh list, and
	// wait for the next DeliverHTTPCalls, as a call made in a dispatcher
	// event is answered in a later one.
	vm.callouts = nil
	delivered := 0
	for i, c := range pending {
		select {
		case <-c.done:
		case <-deadline:
			vm.callouts = append(pending[i:len(pending):len(pending)], vm.callouts...)
			return delivered, nil
		}
		if err := vm.deliver(c); err != nil {
			vm.callouts = nil
			return delivered, err
		}
		delivered++
	}
	return delivered, nil
}

func (vm *VM) deliver(c *callout) error {
	if !vm.roots[c.root] {
		// Its plugin is gone (a configuration push): Envoy cancels the
		// requests of a context being deleted, and no callback runs.
		return nil
	}
	vm.cur = c.root
	defer func() { vm.cur = vm.root }()
	vm.callResp = c.resp
	defer func() { vm.callResp = nil }()
	var nh, nb, nt int
	if c.resp != nil {
		nh, nb, nt = len(c.resp.headers), len(c.resp.body), len(c.resp.trailers)
	}
	_, err := vm.call("proxy_on_http_call_response", uint64(c.root), uint64(c.token), uint64(nh), uint64(nb), uint64(nt))
	return err
}
