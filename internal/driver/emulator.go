package driver

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/proxytest"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/apiguard/apiguard/policy"
)

// Emulator is an Env in the proxy-wasm Go SDK's host emulator (proxytest),
// which serves one plugin at a time in a process: Close releases it.
type Emulator struct {
	host      proxytest.HostEmulator
	cfg       Config
	failed    bool
	delivered int // callouts answered so far
	stop      func()
	// logs are copies of the plugin's log lines by level (keepLogs).
	logs [6][]string
}

// StartEmulator starts the plugin of vm (the plugin linked into this
// binary, or the compiled module from wasmvm) in the SDK's emulator. The
// emulator gives the module no environment: a Config with Env is
// unsupported (a caller running the plugin natively sets the process's
// environment itself and passes no Env).
func StartEmulator(vm types.VMContext, c Config) (*Emulator, error) {
	if err := EmulatorSupports(c); err != nil {
		return nil, err
	}
	opt := proxytest.NewEmulatorOption().WithVMContext(vm).WithPluginConfiguration(c.Configuration)
	for path, v := range c.Properties {
		opt = opt.WithProperty(strings.Split(path, "."), v)
	}
	if c.PluginName != "" {
		opt = opt.WithProperty([]string{"plugin_name"}, []byte(c.PluginName))
	}
	host, reset := proxytest.NewHostEmulator(opt)
	e := &Emulator{host: host, cfg: c, stop: sync.OnceFunc(reset)}
	defer func() {
		if r := recover(); r != nil {
			e.stop() // a plugin that panics must not keep the emulator
			panic(r)
		}
	}()
	e.failed = host.StartPlugin() != types.OnPluginStartStatusOK
	e.keepLogs()
	return e, nil
}

// keepLogs copies the lines the plugin logged since it last ran. The SDK's
// emulator keeps the strings a plugin hands to proxy_log, and for a
// compiled module they are views of its linear memory
// (proxytest/wasmwrapper.go and root.go, ProxyLog, at v0.24.0). A module
// may write its next line into the same memory, as Envoy allows (it has
// written the line out before proxy_log returns), so every call that runs
// the plugin ends with the lines copied.
func (e *Emulator) keepLogs() {
	for level, get := range []func() []string{e.host.GetTraceLogs, e.host.GetDebugLogs, e.host.GetInfoLogs,
		e.host.GetWarnLogs, e.host.GetErrorLogs, e.host.GetCriticalLogs} {
		all := get()
		if len(all) < len(e.logs[level]) {
			e.logs[level] = e.logs[level][:0] // the emulator's logs were reset
		}
		for _, l := range all[len(e.logs[level]):] {
			e.logs[level] = append(e.logs[level], strings.Clone(l))
		}
	}
}

// cloneHeaders returns a copy of hs whose strings are copies too: what
// the emulator reports of a stream may be views of the module's memory,
// which the module may reuse once its callback has returned (Envoy has
// copied the headers by then).
func cloneHeaders(hs [][2]string) [][2]string {
	if hs == nil {
		return nil
	}
	out := make([][2]string, len(hs))
	for i, h := range hs {
		out[i] = [2]string{strings.Clone(h[0]), strings.Clone(h[1])}
	}
	return out
}

// EmulatorSupports returns an error wrapping ErrUnsupported when the SDK's
// emulator cannot honour c, or nil.
func EmulatorSupports(c Config) error {
	if len(c.Env) > 0 {
		return fmt.Errorf("environment variables: the SDK's emulator (proxytest.NewWasmVMContext) "+
			"instantiates the module without them: %w", ErrUnsupported)
	}
	if len(c.Endpoints) > 0 {
		return fmt.Errorf("real cluster endpoints: the SDK's emulator makes no connections: %w", ErrUnsupported)
	}
	return nil
}

// Host is the SDK's emulator itself, for what Env does not cover.
func (e *Emulator) Host() proxytest.HostEmulator { return e.host }

// Failed implements Env.
func (e *Emulator) Failed() bool { return e.failed }

// Close implements Env: it releases the process-wide emulator.
func (e *Emulator) Close() { e.stop() }

// stateAbsent stands for a filter state the stream did not set: the
// emulator keeps properties in one map for the whole host (proxytest.go,
// ProxySetProperty) and cannot delete one, where Envoy starts every stream
// with an empty filter state.
const stateAbsent = "\x00absent"

// Do implements Env.
func (e *Emulator) Do(r Request) (res Result, err error) {
	if err := e.host.SetProperty([]string{policy.StateKey}, []byte(stateAbsent)); err != nil {
		return res, err
	}
	defer e.keepLogs()
	id := e.host.InitializeHttpContext()
	res.Action = e.host.CallOnRequestHeaders(id, r.Headers, false)
	if l := e.host.GetSentLocalResponse(id); l != nil {
		res.Local = &Local{Status: int(l.StatusCode), Details: strings.Clone(l.StatusCodeDetail), Headers: cloneHeaders(l.Headers),
			Body: bytes.Clone(l.Data)}
	} else {
		res.Upstream = cloneHeaders(e.host.GetCurrentRequestHeaders(id))
		response := r.Response
		if response == nil {
			response = [][2]string{{":status", "200"}}
		}
		res.HeadersAction = e.host.CallOnResponseHeaders(id, response, false)
		for i, c := range r.Body {
			last := i == len(r.Body)-1
			if e.host.CallOnResponseBody(id, c, last) == types.ActionContinue {
				res.Body = append(res.Body, e.host.GetCurrentResponseBody(id)...)
			} else if last {
				res.Buffered = true
			}
		}
		res.Response = cloneHeaders(e.host.GetCurrentResponseHeaders(id))
	}
	e.host.CompleteHttpContext(id)
	v, err := e.host.GetProperty([]string{policy.StateKey})
	if err != nil {
		return res, fmt.Errorf("reading property %s: %w", policy.StateKey, err)
	}
	res.State = map[string]string{}
	if string(v) != stateAbsent {
		res.State[policy.FilterStatePrefix+policy.StateKey] = string(v)
	}
	return res, nil
}

// Tick implements Env.
func (e *Emulator) Tick() error {
	e.host.Tick()
	e.keepLogs()
	return nil
}

// TickPeriod implements Env.
func (e *Emulator) TickPeriod() time.Duration {
	return time.Duration(e.host.GetTickPeriod()) * time.Millisecond
}

// DeliverHTTPCalls implements Env: each call is answered in-process by its
// cluster's handler.
func (e *Emulator) DeliverHTTPCalls() (int, error) {
	defer e.keepLogs()
	n := 0
	for {
		calls := e.host.GetCalloutAttributesFromContext(proxytest.PluginContextID)
		if e.delivered >= len(calls) {
			return n, nil
		}
		c := calls[e.delivered]
		e.delivered++
		n++
		headers, body, ok := e.serve(c.Upstream, c.Headers)
		if !ok {
			e.host.CallOnHttpCallResponse(c.CalloutID, nil, nil, nil)
			continue
		}
		e.host.CallOnHttpCallResponse(c.CalloutID, headers, nil, body)
	}
}

// serve runs the handler of cluster on a call's headers; ok is false for a
// failed call (no such cluster, a panic, or longer than CallTimeout).
func (e *Emulator) serve(cluster string, hs [][2]string) (headers [][2]string, body []byte, ok bool) {
	h := e.cfg.Clusters[cluster]
	if h == nil {
		return nil, nil, false
	}
	method, _ := header(hs, ":method")
	path, _ := header(hs, ":path")
	if method == "" {
		method = http.MethodGet
	}
	if !strings.HasPrefix(path, "/") {
		path = "/"
	}
	r := httptest.NewRequest(method, path, nil)
	if a, ok := header(hs, ":authority"); ok {
		r.Host = a
	}
	for _, kv := range hs {
		if !strings.HasPrefix(kv[0], ":") {
			r.Header.Add(kv[0], kv[1])
		}
	}
	timeout := e.cfg.CallTimeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	rec := httptest.NewRecorder()
	done := make(chan bool, 1)
	go func() {
		defer func() { done <- recover() == nil }()
		h.ServeHTTP(rec, r)
	}()
	select {
	case ok = <-done:
	case <-time.After(timeout):
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

// HTTPCalls implements Env.
func (e *Emulator) HTTPCalls() []Call {
	var out []Call
	for _, a := range e.host.GetCalloutAttributesFromContext(proxytest.PluginContextID) {
		out = append(out, Call{Cluster: a.Upstream, Headers: a.Headers})
	}
	return out
}

// Logs implements Env: copies of the lines, kept as the plugin logged them
// (keepLogs).
func (e *Emulator) Logs(level int) []string {
	e.keepLogs()
	return e.logs[level]
}

// Counter implements Env.
func (e *Emulator) Counter(name string) (uint64, error) { return e.host.GetCounterMetric(name) }

// Gauge implements Env.
func (e *Emulator) Gauge(name string) (int64, error) {
	n, err := e.host.GetGaugeMetric(name)
	return int64(n), err
}

// SetProperty implements Env.
func (e *Emulator) SetProperty(path string, value []byte) error {
	return e.host.SetProperty(strings.Split(path, "."), value)
}

// PushConfig implements Env. The emulator has one plugin context, so the
// old plugin is told it is done and the context is configured again with
// the new configuration.
func (e *Emulator) PushConfig(config []byte) error {
	if err := setConfiguration(e.host, config); err != nil {
		return err
	}
	e.host.FinishVM() // proxy_on_done on the plugin context
	defer e.keepLogs()
	if e.failed = e.host.StartPlugin() != types.OnPluginStartStatusOK; e.failed {
		return errors.New("the plugin refused the pushed configuration")
	}
	e.cfg.Configuration = config
	return nil
}

// Restart implements Env: the plugin context is configured again.
func (e *Emulator) Restart(pluginName string) error {
	if pluginName != "" {
		if err := e.SetProperty("plugin_name", []byte(pluginName)); err != nil {
			return err
		}
	}
	e.failed = e.host.StartPlugin() != types.OnPluginStartStatusOK
	e.keepLogs()
	return nil
}

// Finish implements Env.
func (e *Emulator) Finish() error {
	e.host.FinishVM()
	e.keepLogs()
	return nil
}

// TimeProperty is the request.time property for at, as Envoy encodes it
// (nanoseconds since the epoch, little-endian), which the filter reads as
// the time of the request.
func TimeProperty(at time.Time) []byte {
	return binary.LittleEndian.AppendUint64(nil, uint64(at.UnixNano()))
}

// setConfiguration replaces the plugin configuration the SDK's emulator
// hands out: it has no setter, so the field is written through reflection.
func setConfiguration(host proxytest.HostEmulator, config []byte) error {
	root := reflect.ValueOf(host).Elem().FieldByName("rootHostEmulator")
	if !root.IsValid() || root.IsNil() {
		return errors.New("the SDK emulator has no rootHostEmulator: its layout changed")
	}
	f := root.Elem().FieldByName("pluginConfiguration")
	if !f.IsValid() || f.Type() != reflect.TypeOf([]byte(nil)) {
		return errors.New("the SDK emulator has no pluginConfiguration []byte: its layout changed")
	}
	reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().Set(reflect.ValueOf(config))
	return nil
}

// header returns the first value of name in hs.
func header(hs [][2]string, name string) (string, bool) {
	for _, h := range hs {
		if strings.EqualFold(h[0], name) {
			return h[1], true
		}
	}
	return "", false
}
