package main

import (
	"encoding/json"
	"errors"
	"math/rand"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/proxytest"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/apiguard/apiguard/internal/driver"
	"github.com/apiguard/apiguard/internal/testing/vmtest"
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

// env is one started plugin in one runner's host (vmtest.Runner).
type env struct {
	t *testing.T
	d driver.Env
}

// close ends the plugin's host before the test ends, to start another
// (the SDK's emulator runs one at a time).
func (e *env) close() { e.d.Close() }

// start runs the plugin in r with config and fails the test if it does not
// start.
func start(t *testing.T, r vmtest.Runner, config []byte, opts ...startOption) *env {
	t.Helper()
	return startWithStatus(t, r, config, types.OnPluginStartStatusOK, opts...)
}

// testSourceAddress is the client of every request unless a test sets
// another.
const testSourceAddress = "192.0.2.7:41000"

// startOptions are the host properties a test can set before the plugin
// starts; every runner sets them the way Envoy encodes them.
type startOptions struct {
	// pluginName is the plugin_name property (Envoy: the filter's
	// config.name; Istio: <namespace>.<name> of the WasmPlugin); "" leaves
	// it unset in the SDK's emulator and "apiguard" in cpphost.
	pluginName string
	// sourceAddress is the source.address property, testSourceAddress
	// unless set.
	sourceAddress string
	// env is the VM's environment (Envoy: vm_config.environment_variables).
	// The SDK's emulator instantiates the module with no environment, so a
	// test with env skips the wasm runner (driver.ErrUnsupported).
	env map[string]string
	// endpoints map clusters to real endpoints (driver.Config.Endpoints).
	endpoints map[string]string
}

type startOption func(*startOptions)

// withPluginName sets the plugin_name property.
func withPluginName(name string) startOption {
	return func(o *startOptions) { o.pluginName = name }
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

// withEndpoint has the host connect to addr for cluster, for real.
func withEndpoint(cluster, addr string) startOption {
	return func(o *startOptions) { o.endpoints = map[string]string{cluster: addr} }
}

func newStartOptions(opts []startOption) startOptions {
	o := startOptions{sourceAddress: testSourceAddress}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

func startWithStatus(t *testing.T, r vmtest.Runner, config []byte, want types.OnPluginStartStatus, opts ...startOption) *env {
	t.Helper()
	return startWith(t, r, config, want, nil, opts...)
}

// startWith is startWithStatus with a key store answering the plugin's
// HTTP calls to testKeyCluster (nil for none). A start option the runner
// cannot honour skips the test, saying why.
func startWith(t *testing.T, r vmtest.Runner, config []byte, want types.OnPluginStartStatus, ks *testKeyStore, opts ...startOption) *env {
	t.Helper()
	o := newStartOptions(opts)
	c := driver.Config{Configuration: config, PluginName: o.pluginName, Env: o.env, Endpoints: o.endpoints,
		Properties: map[string][]byte{"source.address": []byte(o.sourceAddress), "request.time": driver.TimeProperty(testNow)}}
	if ks != nil {
		c.Clusters = map[string]http.Handler{testKeyCluster: ks.handler}
		c.CallTimeout = ks.timeout
	}
	d, err := r.Start(t, c)
	if errors.Is(err, driver.ErrUnsupported) {
		t.Skipf("%s: %v", r.Name(), err)
	}
	if err != nil {
		t.Fatalf("starting the plugin (%s): %v", r.Name(), err)
	}
	e := &env{t: t, d: d}
	got := types.OnPluginStartStatusOK
	if d.Failed() {
		got = types.OnPluginStartStatusFailed
	}
	if got != want {
		t.Fatalf("plugin start = %v, want %v; logs: %q", got, want, d.Logs(logCritical))
	}
	return e
}

// restart starts the plugin again in the same host, with opts applied on
// top of the properties it has: over the same shared data, as a second
// apiguard filter of the same VM id in the same proxy would see it
// (driver.Env.Restart).
func (e *env) restart(opts ...startOption) {
	e.t.Helper()
	var o startOptions
	for _, opt := range opts {
		opt(&o)
	}
	if err := e.d.Restart(o.pluginName); err != nil {
		e.t.Fatalf("restarting the plugin: %v", err)
	}
	if e.d.Failed() {
		e.t.Fatalf("restarting the plugin: start failed; logs: %q", e.d.Logs(logCritical))
	}
	if o.sourceAddress != "" {
		e.setSourceAddress(o.sourceAddress)
	}
}

// skipUnless skips the test, before it starts a plugin, when r's host does
// not offer T, one of driver's optional interfaces; why says what the test
// needs.
func skipUnless[T any](t *testing.T, r vmtest.Runner, why string) {
	t.Helper()
	if !vmtest.Offers[T](r) {
		t.Skipf("%s: %s", r.Name(), why)
	}
}

// worker starts a second worker VM of the plugin over the same shared
// data, or skips the test where the host runs one (driver.Workers).
func (e *env) worker() *env {
	e.t.Helper()
	w, ok := e.d.(driver.Workers)
	if !ok {
		e.t.Skip("this host runs one VM per process (the SDK's emulator); cpphost runs two")
	}
	d, err := w.StartWorker()
	if err != nil {
		e.t.Fatal(err)
	}
	return &env{t: e.t, d: d}
}

// setSourceAddress changes source.address for the requests that follow.
func (e *env) setSourceAddress(addr string) {
	e.t.Helper()
	e.setProperty([]string{"source", "address"}, []byte(addr))
}

func (e *env) setTime(at time.Time) {
	e.t.Helper()
	e.setProperty([]string{"request", "time"}, driver.TimeProperty(at))
}

// setProperty sets what proxy_get_property answers for path.
func (e *env) setProperty(path []string, value []byte) {
	e.t.Helper()
	if err := e.d.SetProperty(strings.Join(path, "."), value); err != nil {
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

// requestHeaders are a GET of path with the given headers (a :method among
// them replaces GET).
func requestHeaders(path string, headers [][2]string) [][2]string {
	hs := [][2]string{{":method", "GET"}, {":path", path}, {":authority", "api.example.com"}}
	for _, h := range headers {
		if h[0] == ":method" {
			hs[0] = h
			continue
		}
		hs = append(hs, h)
	}
	return hs
}

// do sends a request with the given headers (method GET unless set).
func (e *env) do(path string, headers ...[2]string) outcome {
	e.t.Helper()
	r, err := e.d.Do(driver.Request{Headers: requestHeaders(path, headers)})
	if err != nil {
		e.t.Fatalf("request %s: %v", path, err)
	}
	return outcomeOf(r)
}

func outcomeOf(r driver.Result) outcome {
	o := outcome{action: r.Action, upstream: r.Upstream, response: r.Response, state: r.State}
	if r.Local != nil {
		o.local = &proxytest.LocalHttpResponse{StatusCode: uint32(r.Local.Status), StatusCodeDetail: r.Local.Details,
			Data: r.Local.Body, Headers: r.Local.Headers}
	}
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
	r, err := e.d.Do(driver.Request{Headers: hs, Response: response, Body: chunks})
	if err != nil {
		e.t.Fatalf("request %s: %v", path, err)
	}
	if r.Local == nil && r.HeadersAction != types.ActionContinue {
		e.t.Errorf("response headers paused (%v): Envoy would withhold the body", r.HeadersAction)
	}
	if r.Buffered {
		e.t.Errorf("response body still buffered at the end of the stream")
	}
	return bodyOutcome{outcome: outcomeOf(r), body: r.Body}
}

// proxy-wasm log levels.
const (
	logTrace    = driver.LogTrace
	logDebug    = driver.LogDebug
	logInfo     = driver.LogInfo
	logWarn     = driver.LogWarn
	logError    = driver.LogError
	logCritical = driver.LogCritical
)

// logs returns what the plugin logged at level (proxy_log; in cpphost also
// the module's stdout at info and stderr at error, as Envoy logs them).
func (e *env) logs(level int) []string { return e.d.Logs(level) }

// gauge returns the value of a gauge metric.
func (e *env) gauge(name string) int64 {
	e.t.Helper()
	n, err := e.d.Gauge(name)
	if err != nil {
		e.t.Fatalf("gauge %s: %v", name, err)
	}
	return n
}

// finishVM ends the plugin as Envoy does when its configuration is removed.
func (e *env) finishVM() {
	e.t.Helper()
	if err := e.d.Finish(); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) counter(name string) uint64 {
	e.t.Helper()
	n, err := e.d.Counter(name)
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
func vmTest(t *testing.T, test func(t *testing.T, vm vmtest.Runner)) {
	vmtest.Run(t, newVMContext, test)
}
