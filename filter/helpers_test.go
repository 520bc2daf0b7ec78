package main

import (
	"encoding/binary"
	"encoding/json"
	"math/rand"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/proxytest"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/apiguard/apiguard/internal/cpphost"
	"github.com/apiguard/apiguard/internal/vmtest"
	"github.com/apiguard/apiguard/policy/keymat"
)

// testNow is the emulated request time of every test unless it sets another.
var testNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// testKey returns a well-formed demo key, the same for the same seed.
func testKey(t testing.TB, seed int64) string {
	t.Helper()
	k, err := keymat.Generate("agk_", rand.New(rand.NewSource(seed)))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Keys used by the test configuration.
type testKeys struct {
	billing, billingRevoked, billingExpired, billingFuture, reader, unknown string
}

func newTestKeys(t testing.TB) testKeys {
	return testKeys{
		billing:        testKey(t, 1),
		billingRevoked: testKey(t, 2),
		billingExpired: testKey(t, 3),
		billingFuture:  testKey(t, 4),
		reader:         testKey(t, 5),
		unknown:        testKey(t, 6),
	}
}

// testConfig is the filter configuration the behaviour tests run with;
// edit, when not nil, changes it before it is encoded.
func testConfig(t testing.TB, k testKeys, edit func(map[string]any)) []byte {
	t.Helper()
	cfg := map[string]any{
		"key_sources": []any{
			map[string]any{"header": "x-api-key"},
			map[string]any{"header": "authorization", "scheme": "ApiKey"},
			map[string]any{"query": "api_key"},
		},
		"key_format":       map[string]any{"prefix": "agk_", "checksum": true},
		"hide_credentials": true,
		"consumers": []any{
			map[string]any{"id": "billing", "scopes": []any{"orders:read", "orders:write"}, "rate_limit": "gold",
				"keys": []any{
					map[string]any{"id": "billing-2026", "sha256": keymat.Hash(k.billing)},
					map[string]any{"id": "billing-2025", "sha256": keymat.Hash(k.billingRevoked), "revoked": true},
					map[string]any{"id": "billing-2024", "sha256": keymat.Hash(k.billingExpired), "not_after": "2026-01-01T00:00:00Z"},
					map[string]any{"id": "billing-2027", "sha256": keymat.Hash(k.billingFuture), "not_before": "2027-01-01T00:00:00Z"},
				}},
			map[string]any{"id": "reader", "scopes": []any{"files:read"},
				"keys": []any{map[string]any{"id": "reader-1", "sha256": keymat.Hash(k.reader)}}},
		},
		"routes": []any{
			map[string]any{"name": "list-orders", "methods": []any{"GET"}, "path": "/v1/orders", "scopes": []any{"orders:read"}, "pagination": "standard"},
			map[string]any{"name": "get-order", "methods": []any{"GET"}, "path": "/v1/orders/{id}", "scopes": []any{"orders:read"}},
			map[string]any{"name": "files", "path": "/v1/files/*", "scopes": []any{"files:read"}},
			map[string]any{"name": "health", "path": "/healthz", "public": true, "rate_limit": "anonymous"},
		},
		"pagination": map[string]any{
			"standard": map[string]any{"limit_param": "limit", "default_limit": 20, "max_limit": 100,
				"offset_param": "offset", "max_offset": 10000, "page_param": "page", "max_page": 500,
				"cursor_param": "cursor", "max_cursor_length": 64,
				"on_violation": "reject"},
		},
		"rate_limits": map[string]any{
			"gold":      map[string]any{"requests": 1000, "per": "1s", "burst": 1000},
			"anonymous": map[string]any{"requests": 1, "per": "1s", "burst": 2},
		},
		"anonymous_buckets": 64,
	}
	if edit != nil {
		edit(cfg)
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// env is one started plugin, in proxytest's host emulator (native and
// SDK-emulator runners) or in cpphost (the cpp-host-modelled runner).
type env struct {
	t *testing.T
	// host is the emulator; nil in the cpphost runner.
	host proxytest.HostEmulator
	// vm is the plugin's VM in the cpphost runner; nil otherwise.
	vm *cpphost.VM
	// cpp is vm's host and config the plugin configuration, for restart.
	cpp    *cpphost.Host
	config []byte

	// The key store of the test (keystore_helpers_test.go).
	keyStore *testKeyStore

	// stop releases the SDK's emulator, which serves one plugin at a time
	// in a process, so that a test can start another; nil in cpphost.
	stop func()
}

// close ends the plugin's emulator before the test ends, to start another
// (the SDK's emulator runs one at a time); cpphost needs nothing.
func (e *env) close() {
	if e.stop != nil {
		e.stop()
	}
}

// start runs the plugin on vm with config and fails the test if it does
// not start.
func start(t *testing.T, vm types.VMContext, config []byte, opts ...startOption) *env {
	t.Helper()
	e := startWithStatus(t, vm, config, types.OnPluginStartStatusOK, opts...)
	return e
}

// testSourceAddress is the client of every request unless a test sets
// another.
const testSourceAddress = "192.0.2.7:41000"

// startOptions are the host properties a test can set before the plugin
// starts; every runner sets them the way Envoy encodes them.
type startOptions struct {
	// pluginName is the plugin_name property (Envoy: the filter's
	// config.name; Istio: <namespace>.<name> of the WasmPlugin); nil
	// leaves it unset in the SDK's emulator and "apiguard" in cpphost.
	pluginName *string
	// sourceAddress is the source.address property, testSourceAddress
	// unless set.
	sourceAddress string
	// env is the VM's environment (Envoy: vm_config.environment_variables):
	// the test process's natively, cpphost's Options.Env in cpphost. The
	// SDK's emulator instantiates the module with no environment, so a
	// test with env skips the wasm runner.
	env map[string]string
}

type startOption func(*startOptions)

// withPluginName sets the plugin_name property.
func withPluginName(name string) startOption {
	return func(o *startOptions) { o.pluginName = &name }
}

// withEnv sets the VM's environment variables.
func withEnv(env map[string]string) startOption {
	return func(o *startOptions) { o.env = env }
}

// withSourceAddress sets the source.address property (not empty: the SDK's
// emulator cannot return an empty property).
func withSourceAddress(addr string) startOption {
	return func(o *startOptions) { o.sourceAddress = addr }
}

func newStartOptions(opts []startOption) startOptions {
	o := startOptions{sourceAddress: testSourceAddress}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

func startWithStatus(t *testing.T, vm types.VMContext, config []byte, want types.OnPluginStartStatus, opts ...startOption) *env {
	t.Helper()
	return startWith(t, vm, config, want, nil, opts...)
}

// startWith is startWithStatus with a key store answering the plugin's
// HTTP calls (nil for none): in cpphost a loopback server mapped to
// testKeyCluster, in the emulator runners the handler in-process.
func startWith(t *testing.T, vm types.VMContext, config []byte, want types.OnPluginStartStatus, ks *testKeyStore, opts ...startOption) *env {
	t.Helper()
	o := newStartOptions(opts)
	if hv, ok := vm.(*vmtest.HostVM); ok {
		copts := cpphost.Options{Env: o.env}
		if ks != nil {
			copts.Clusters = map[string]string{testKeyCluster: ks.listen(t)}
		}
		e := startInHost(t, hv, config, want, o, copts)
		e.keyStore = ks
		return e
	}
	if len(o.env) > 0 {
		if _, native := vm.(*vmContext); !native {
			t.Skip("the SDK's emulator (proxytest.NewWasmVMContext) instantiates the module without environment " +
				"variables; the native and cpphost runners pass them")
		}
		for k, v := range o.env {
			t.Setenv(k, v)
		}
	}
	opt := proxytest.NewEmulatorOption().WithVMContext(vm).WithPluginConfiguration(config).
		WithProperty([]string{"source", "address"}, []byte(o.sourceAddress))
	if o.pluginName != nil {
		opt = opt.WithProperty([]string{"plugin_name"}, []byte(*o.pluginName))
	}
	host, reset := proxytest.NewHostEmulator(opt)
	e := &env{t: t, host: host, keyStore: ks}
	e.stop = sync.OnceFunc(reset)
	t.Cleanup(e.stop)
	e.setTime(testNow)
	if got := host.StartPlugin(); got != want {
		t.Fatalf("StartPlugin = %v, want %v; logs: %q", got, want, host.GetCriticalLogs())
	}
	return e
}

// startInHost starts the plugin in cpphost as an Envoy worker does, and
// fails the test on any trap or restricted call then or later.
func startInHost(t *testing.T, hv *vmtest.HostVM, config []byte, want types.OnPluginStartStatus, o startOptions, copts cpphost.Options) *env {
	t.Helper()
	h := vmtest.NewHost(t, hv.Profile, copts)
	e := &env{t: t, cpp: h, config: config}
	vm, err := h.StartWorker(cpphost.Plugin{Name: o.name(), Configuration: config})
	if err != nil {
		t.Fatalf("starting the plugin in cpphost %s: %v", hv.Profile.Name, err)
	}
	vm.Properties["source.address"] = []byte(o.sourceAddress)
	e.vm = vm
	e.setTime(testNow)
	got := types.OnPluginStartStatusOK
	if vm.FailedOpen {
		got = types.OnPluginStartStatusFailed
	}
	if got != want {
		t.Fatalf("plugin start = %v, want %v; logs: %q", got, want, vm.LogsAt(logCritical))
	}
	return e
}

// name is the plugin name cpphost gives the plugin.
func (o startOptions) name() string {
	if o.pluginName != nil {
		return *o.pluginName
	}
	return "apiguard"
}

// restart starts the plugin again in the same host, with opts applied on
// top of the properties it has: over the same shared data, as a second
// apiguard filter of the same VM id in the same proxy would see it. In the
// SDK's emulator the plugin context is configured again; in cpphost a new
// worker VM of the same vm_id takes over the requests.
func (e *env) restart(opts ...startOption) {
	e.t.Helper()
	var o startOptions
	for _, opt := range opts {
		opt(&o)
	}
	if e.vm != nil {
		if o.pluginName == nil {
			name := string(e.vm.Properties["plugin_name"])
			o.pluginName = &name
		}
		vm, err := e.cpp.StartWorker(cpphost.Plugin{Name: *o.pluginName, Configuration: e.config})
		if err != nil {
			e.t.Fatalf("restarting the plugin in cpphost: %v", err)
		}
		if vm.FailedOpen {
			e.t.Fatalf("restarting the plugin in cpphost: start failed; logs: %q", vm.LogsAt(logCritical))
		}
		for k, v := range e.vm.Properties {
			if !strings.HasPrefix(k, "plugin_") {
				vm.Properties[k] = v
			}
		}
		e.vm = vm
	} else {
		if o.pluginName != nil {
			e.setProperty([]string{"plugin_name"}, []byte(*o.pluginName))
		}
		if got := e.host.StartPlugin(); got != types.OnPluginStartStatusOK {
			e.t.Fatalf("StartPlugin = %v; logs: %q", got, e.host.GetCriticalLogs())
		}
	}
	if o.sourceAddress != "" {
		e.setSourceAddress(o.sourceAddress)
	}
}

// setSourceAddress changes source.address for the requests that follow.
func (e *env) setSourceAddress(addr string) {
	e.t.Helper()
	e.setProperty([]string{"source", "address"}, []byte(addr))
}

func (e *env) setTime(at time.Time) {
	e.t.Helper()
	b := binary.LittleEndian.AppendUint64(nil, uint64(at.UnixNano()))
	e.setProperty([]string{"request", "time"}, b)
}

// setProperty sets what proxy_get_property answers for path.
func (e *env) setProperty(path []string, value []byte) {
	e.t.Helper()
	if e.vm != nil {
		e.vm.Properties[strings.Join(path, ".")] = value
		return
	}
	if err := e.host.SetProperty(path, value); err != nil {
		e.t.Fatal(err)
	}
}

// outcome is what one request produced.
type outcome struct {
	action   types.Action
	local    *proxytest.LocalHttpResponse
	upstream [][2]string // request headers as forwarded
	response [][2]string // response headers after the filter, when forwarded
	// state is the request's filter state at the end of the stream, as an
	// access log reads it: keyed by Envoy's name ("wasm." + the property
	// path), absent keys absent (filterstate_test.go).
	state map[string]string
}

// do sends a request with the given headers (method GET unless set).
func (e *env) do(path string, headers ...[2]string) outcome {
	e.t.Helper()
	hs := [][2]string{{":method", "GET"}, {":path", path}, {":authority", "api.example.com"}}
	for _, h := range headers {
		if h[0] == ":method" {
			hs[0] = h
			continue
		}
		hs = append(hs, h)
	}
	if e.vm != nil {
		return e.doInHost(hs)
	}
	e.clearState()
	id := e.host.InitializeHttpContext()
	o := outcome{action: e.host.CallOnRequestHeaders(id, hs, false)}
	o.local = e.host.GetSentLocalResponse(id)
	if o.local == nil {
		o.upstream = e.host.GetCurrentRequestHeaders(id)
		e.host.CallOnResponseHeaders(id, [][2]string{{":status", "200"}}, false)
		o.response = e.host.GetCurrentResponseHeaders(id)
	}
	e.host.CompleteHttpContext(id)
	o.state = e.emulatorState()
	return o
}

// bodyOutcome is what one request answered with a response body produced.
type bodyOutcome struct {
	outcome
	// body is the response body as the client receives it.
	body []byte
}

// doWithBody sends a GET request with the given headers (as do), answered
// by the upstream with response headers and a body in chunks (the last
// ends the stream). It fails the test when the filter pauses the response
// headers (Envoy would then withhold the body from it) or still buffers at
// the end of the stream.
func (e *env) doWithBody(path string, headers [][2]string, response [][2]string, chunks ...[]byte) bodyOutcome {
	e.t.Helper()
	hs := [][2]string{{":method", "GET"}, {":path", path}, {":authority", "api.example.com"}}
	hs = append(hs, headers...)
	if e.vm != nil {
		r, err := e.vm.ExchangeBody(hs, response, chunks)
		if err != nil {
			e.t.Fatalf("cpphost: %v", err)
		}
		o := bodyOutcome{outcome: outcome{action: types.Action(r.Action), upstream: r.Upstream, response: r.Response}, body: r.Body}
		if r.Local != nil {
			o.local = &proxytest.LocalHttpResponse{StatusCode: uint32(r.Local.Status), StatusCodeDetail: r.Local.Details,
				Data: r.Local.Body, Headers: r.Local.Headers}
		}
		return o
	}
	id := e.host.InitializeHttpContext()
	o := bodyOutcome{outcome: outcome{action: e.host.CallOnRequestHeaders(id, hs, false)}}
	o.local = e.host.GetSentLocalResponse(id)
	if o.local == nil {
		o.upstream = e.host.GetCurrentRequestHeaders(id)
		if a := e.host.CallOnResponseHeaders(id, response, false); a != types.ActionContinue {
			e.t.Errorf("response headers paused (%v): Envoy would withhold the body", a)
		}
		for i, c := range chunks {
			last := i == len(chunks)-1
			a := e.host.CallOnResponseBody(id, c, last)
			if a == types.ActionContinue {
				o.body = append(o.body, e.host.GetCurrentResponseBody(id)...)
			} else if last {
				e.t.Errorf("response body still buffered at the end of the stream")
			}
		}
		o.response = e.host.GetCurrentResponseHeaders(id)
	}
	e.host.CompleteHttpContext(id)
	return o
}

func (e *env) doInHost(hs [][2]string) outcome {
	e.t.Helper()
	r, err := e.vm.Request(hs)
	if err != nil {
		e.t.Fatalf("cpphost: %v", err)
	}
	o := outcome{action: types.Action(r.Action), upstream: r.Upstream, response: r.Response, state: hostState(r.FilterState)}
	if r.Local != nil {
		o.local = &proxytest.LocalHttpResponse{StatusCode: uint32(r.Local.Status), StatusCodeDetail: r.Local.Details,
			Data: r.Local.Body, Headers: r.Local.Headers}
	}
	return o
}

// proxy-wasm log levels.
const (
	logTrace = iota
	logDebug
	logInfo
	logWarn
	logError
	logCritical
)

// logs returns what the plugin logged at level (proxy_log; in cpphost also
// the module's stdout at info and stderr at error, as Envoy logs them).
func (e *env) logs(level int) []string {
	if e.vm != nil {
		return e.vm.LogsAt(level)
	}
	return []func() []string{e.host.GetTraceLogs, e.host.GetDebugLogs, e.host.GetInfoLogs,
		e.host.GetWarnLogs, e.host.GetErrorLogs, e.host.GetCriticalLogs}[level]()
}

// gauge returns the value of a gauge metric.
func (e *env) gauge(name string) int64 {
	e.t.Helper()
	if e.vm != nil {
		return e.vm.Gauge(name)
	}
	n, err := e.host.GetGaugeMetric(name)
	if err != nil {
		e.t.Fatalf("gauge %s: %v", name, err)
	}
	return int64(n)
}

// finishVM ends the plugin as Envoy does when its configuration is removed.
func (e *env) finishVM() {
	e.t.Helper()
	if e.vm != nil {
		if err := e.vm.Done(); err != nil {
			e.t.Fatal(err)
		}
		return
	}
	e.host.FinishVM()
}

func (e *env) counter(name string) uint64 {
	e.t.Helper()
	if e.vm != nil {
		return e.vm.Counter(name)
	}
	n, err := e.host.GetCounterMetric(name)
	if err != nil {
		e.t.Fatalf("counter %s: %v", name, err)
	}
	return n
}

// warnLogs returns the warning log lines so far.
func (e *env) warnLogs() []string { return e.logs(logWarn) }

// header returns the first value of name in hs, and whether it is there.
func header(hs [][2]string, name string) (string, bool) {
	for _, h := range hs {
		if strings.EqualFold(h[0], name) {
			return h[1], true
		}
	}
	return "", false
}

func headerCount(hs [][2]string, name string) int {
	n := 0
	for _, h := range hs {
		if strings.EqualFold(h[0], name) {
			n++
		}
	}
	return n
}

// vmTest runs test natively and against the compiled module.
func vmTest(t *testing.T, test func(t *testing.T, vm types.VMContext)) {
	vmtest.Run(t, newVMContext, test)
}
