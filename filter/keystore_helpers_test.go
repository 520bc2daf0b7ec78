package main

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/proxytest"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

// testKeyCluster is the cluster of the test key store.
const testKeyCluster = "apiguard-keys"

// testKeyStore answers the plugin's HTTP calls with handler: in cpphost
// through a loopback server (real HTTP), in the emulator runners in-process,
// where a handler that aborts (panics) or takes longer than timeout is a
// failed call, as Envoy reports a reset or a timeout.
type testKeyStore struct {
	handler http.Handler
	timeout time.Duration
	srv     *httptest.Server
	// delivered counts the emulator's callouts answered so far.
	delivered int
}

func (ks *testKeyStore) listen(t *testing.T) string {
	ks.srv = httptest.NewServer(ks.handler)
	t.Cleanup(ks.srv.Close)
	return ks.srv.Listener.Addr().String()
}

// serve runs the handler on a callout's request; ok is false for a failed
// call.
func (ks *testKeyStore) serve(hs [][2]string) (headers [][2]string, body []byte, ok bool) {
	method, _ := header(hs, ":method")
	path, _ := header(hs, ":path")
	authority, _ := header(hs, ":authority")
	r := httptest.NewRequest(method, path, nil)
	r.Host = authority
	for _, h := range hs {
		if !strings.HasPrefix(h[0], ":") {
			r.Header.Add(h[0], h[1])
		}
	}
	rec := httptest.NewRecorder()
	done := make(chan bool, 1)
	go func() {
		defer func() { done <- recover() == nil }()
		ks.handler.ServeHTTP(rec, r)
	}()
	select {
	case ok = <-done:
	case <-time.After(ks.timeout):
		return nil, nil, false
	}
	if !ok {
		return nil, nil, false
	}
	res := rec.Result()
	headers = [][2]string{{":status", strconv.Itoa(res.StatusCode)}}
	for k, vs := range res.Header {
		for _, v := range vs {
			headers = append(headers, [2]string{strings.ToLower(k), v})
		}
	}
	return headers, rec.Body.Bytes(), true
}

// tick runs the plugin's proxy_on_tick.
func (e *env) tick() {
	e.t.Helper()
	if e.vm != nil {
		if err := e.vm.Tick(); err != nil {
			e.t.Fatalf("tick: %v", err)
		}
		return
	}
	e.host.Tick()
}

// deliver answers the plugin's pending HTTP calls, and those their
// callbacks make (a snapshot fetched in ranges), and returns how many.
func (e *env) deliver() int {
	e.t.Helper()
	if e.vm != nil {
		total := 0
		for e.vm.PendingHTTPCalls() > 0 {
			n, err := e.vm.DeliverHTTPCalls(10 * time.Second)
			if err != nil {
				e.t.Fatalf("delivering HTTP calls: %v", err)
			}
			if n == 0 {
				e.t.Fatal("an HTTP call got no answer in 10s")
			}
			total += n
		}
		return total
	}
	ks := e.keyStore
	n := 0
	for {
		attrs := e.host.GetCalloutAttributesFromContext(proxytest.PluginContextID)
		if ks.delivered >= len(attrs) {
			return n
		}
		a := attrs[ks.delivered]
		ks.delivered++
		headers, body, ok := ks.serve(a.Headers)
		if !ok {
			e.host.CallOnHttpCallResponse(a.CalloutID, nil, nil, nil)
		} else {
			e.host.CallOnHttpCallResponse(a.CalloutID, headers, nil, body)
		}
		n++
	}
}

// deliverAll is deliver, then settle.
func (e *env) deliverAll() int {
	e.t.Helper()
	n := e.deliver()
	return n + e.settle()
}

// refresh is one refresh interval: a tick, then the answers to its fetch
// (one HTTP call, or one per range) and the ticks that follow at the
// plugin's fast tick period while it fetches ranges or loads. It returns
// how many HTTP calls were answered.
func (e *env) refresh() int {
	e.t.Helper()
	e.tick()
	n := e.deliver()
	if n == 0 {
		e.t.Fatal("refresh: no HTTP call answered")
	}
	n += e.settle()
	return n
}

// settle ticks while the plugin ticks fast (a ranged fetch or a load in
// progress), answering its HTTP calls, and returns how many it answered.
func (e *env) settle() int {
	e.t.Helper()
	n := 0
	for i := 0; e.tickPeriod() == time.Duration(loadTickPeriod)*time.Millisecond; i++ {
		if i == 100000 {
			e.t.Fatal("the plugin still ticks fast after 100000 ticks")
		}
		e.tick()
		n += e.deliver()
	}
	return n
}

func (e *env) tickPeriod() time.Duration {
	if e.vm != nil {
		return e.vm.TickPeriod
	}
	return time.Duration(e.host.GetTickPeriod()) * time.Millisecond
}

// testCall is one HTTP call the plugin made.
type testCall struct {
	cluster string
	headers [][2]string
}

func (e *env) httpCalls() []testCall {
	var out []testCall
	if e.vm != nil {
		for _, c := range e.cpp.HTTPCalls() {
			out = append(out, testCall{c.Cluster, c.Headers})
		}
		return out
	}
	for _, a := range e.host.GetCalloutAttributesFromContext(proxytest.PluginContextID) {
		out = append(out, testCall{a.Upstream, a.Headers})
	}
	return out
}

// pushConfig pushes a new plugin configuration as Envoy does for an update
// that changes only the plugin configuration: the VM is kept and a new
// plugin starts in it. In cpphost that is a new root context
// (cpphost.VM.PushConfig); the SDK's emulator has one plugin context, so
// the old plugin is told it is done and the context is configured again
// with the new configuration.
func (e *env) pushConfig(config []byte) {
	e.t.Helper()
	if e.vm != nil {
		if err := e.vm.PushConfig(config); err != nil {
			e.t.Fatalf("pushing a configuration in cpphost: %v", err)
		}
		e.config = config
		return
	}
	setEmulatorConfiguration(e.t, e.host, config)
	e.host.FinishVM() // proxy_on_done on the plugin context
	if got := e.host.StartPlugin(); got != types.OnPluginStartStatusOK {
		e.t.Fatalf("StartPlugin after a push = %v; logs: %q", got, e.host.GetCriticalLogs())
	}
}

// setEmulatorConfiguration replaces the plugin configuration the SDK's
// emulator hands out: it has no setter, so the field is written through
// reflection (test code only).
func setEmulatorConfiguration(t *testing.T, host proxytest.HostEmulator, config []byte) {
	t.Helper()
	root := reflect.ValueOf(host).Elem().FieldByName("rootHostEmulator")
	if !root.IsValid() || root.IsNil() {
		t.Fatal("the SDK emulator has no rootHostEmulator: its layout changed")
	}
	f := root.Elem().FieldByName("pluginConfiguration")
	if !f.IsValid() || f.Type() != reflect.TypeOf([]byte(nil)) {
		t.Fatal("the SDK emulator has no pluginConfiguration []byte: its layout changed")
	}
	reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().Set(reflect.ValueOf(config))
}
