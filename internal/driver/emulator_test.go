package driver

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/apiguard/apiguard/policy"
)

// The test plugin: it refuses the configuration "refuse"; denies a
// request with x-deny (403), else forwards it with x-seen set to its
// configuration and sets its filter state from x-state; on a tick it calls
// the cluster named by its configuration and logs the answer's status and
// body, or "failed".
type testVM struct{ types.DefaultVMContext }

func (*testVM) NewPluginContext(uint32) types.PluginContext { return &testPlugin{} }

type testPlugin struct {
	types.DefaultPluginContext
	config string
}

func (p *testPlugin) OnPluginStart(int) types.OnPluginStartStatus {
	b, err := proxywasm.GetPluginConfiguration()
	if err != nil || string(b) == "refuse" {
		proxywasm.LogCritical("refused")
		return types.OnPluginStartStatusFailed
	}
	p.config = string(b)
	if err := proxywasm.SetTickPeriodMilliSeconds(1000); err != nil {
		return types.OnPluginStartStatusFailed
	}
	return types.OnPluginStartStatusOK
}

func (p *testPlugin) NewHttpContext(uint32) types.HttpContext { return &testStream{config: p.config} }

func (p *testPlugin) OnTick() {
	_, err := proxywasm.DispatchHttpCall(p.config, [][2]string{{":method", "GET"}, {":path", "/x"}, {":authority", "store"}}, nil, nil, 1000,
		func(n, size, _ int) {
			if n == 0 {
				proxywasm.LogInfo("failed")
				return
			}
			var st string
			hs, _ := proxywasm.GetHttpCallResponseHeaders()
			for _, h := range hs {
				if h[0] == ":status" {
					st = h[1]
				}
			}
			body, _ := proxywasm.GetHttpCallResponseBody(0, size)
			proxywasm.LogInfo(st + " " + string(body))
		})
	if err != nil {
		proxywasm.LogError(err.Error())
	}
}

type testStream struct {
	types.DefaultHttpContext
	config string
}

func (s *testStream) OnHttpRequestHeaders(int, bool) types.Action {
	if _, err := proxywasm.GetHttpRequestHeader("x-deny"); err == nil {
		proxywasm.SendHttpResponse(403, [][2]string{{"content-type", "text/plain"}}, []byte("no"), -1)
		return types.ActionPause
	}
	if v, err := proxywasm.GetHttpRequestHeader("x-state"); err == nil {
		proxywasm.SetProperty([]string{policy.StateKey}, []byte(v))
	}
	proxywasm.AddHttpRequestHeader("x-seen", s.config)
	return types.ActionContinue
}

func start(t *testing.T, c Config) *Emulator {
	t.Helper()
	e, err := StartEmulator(&testVM{}, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

func hdr(t *testing.T, hs [][2]string, name string) string {
	t.Helper()
	for _, h := range hs {
		if h[0] == name {
			return h[1]
		}
	}
	return ""
}

// TestEmulatorDo: a forwarded request carries the plugin's header and its
// filter state, which the next request does not inherit; a denied one is
// a Local with the plugin's status, headers and body.
func TestEmulatorDo(t *testing.T) {
	e := start(t, Config{Configuration: []byte("store")})
	if e.Failed() {
		t.Fatal("the plugin failed to start")
	}
	hs := [][2]string{{":method", "GET"}, {":path", "/"}, {":authority", "a"}}
	r, err := e.Do(Request{Headers: append(hs, [2]string{"x-state", `{"a":1}`})})
	if err != nil {
		t.Fatal(err)
	}
	if r.Local != nil || r.Action != types.ActionContinue || hdr(t, r.Upstream, "x-seen") != "store" {
		t.Errorf("forwarded: %+v", r)
	}
	if got := r.State[policy.FilterStatePrefix+policy.StateKey]; got != `{"a":1}` || len(r.State) != 1 {
		t.Errorf("state %q", r.State)
	}
	if r, err = e.Do(Request{Headers: hs}); err != nil || len(r.State) != 0 {
		t.Errorf("the next request's state %q (%v), want none", r.State, err)
	}
	r, err = e.Do(Request{Headers: append(hs, [2]string{"x-deny", "1"})})
	if err != nil {
		t.Fatal(err)
	}
	if r.Local == nil || r.Local.Status != 403 || string(r.Local.Body) != "no" || r.Action != types.ActionPause || r.Upstream != nil ||
		hdr(t, r.Local.Headers, "content-type") != "text/plain" {
		t.Errorf("denied: %+v", r)
	}
}

// TestEmulatorHTTPCalls: a tick's call is answered by its cluster's
// handler; a call to a cluster not configured, or whose handler panics,
// fails.
func TestEmulatorHTTPCalls(t *testing.T) {
	for _, tc := range []struct {
		name     string
		clusters map[string]http.Handler
		want     string
	}{
		{"answered", map[string]http.Handler{"store": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(r.Host + r.URL.Path))
		})}, "200 store/x"},
		{"unknown cluster", nil, "failed"},
		{"handler panics", map[string]http.Handler{"store": http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
			panic(http.ErrAbortHandler)
		})}, "failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := start(t, Config{Configuration: []byte("store"), Clusters: tc.clusters})
			if err := e.Tick(); err != nil {
				t.Fatal(err)
			}
			if n, err := e.DeliverHTTPCalls(); n != 1 || err != nil {
				t.Fatalf("delivered %d (%v), want 1", n, err)
			}
			if calls := e.HTTPCalls(); len(calls) != 1 || calls[0].Cluster != "store" {
				t.Errorf("calls %+v", calls)
			}
			if logs := e.Logs(LogInfo); len(logs) != 1 || logs[0] != tc.want {
				t.Errorf("logs %q, want %q", logs, tc.want)
			}
			if n, _ := e.DeliverHTTPCalls(); n != 0 {
				t.Errorf("delivered %d more", n)
			}
		})
	}
}

// TestEmulatorConfigAndRestart: a refused configuration is Failed with the
// plugin's logs; PushConfig replaces the configuration the plugin reads;
// Restart sets plugin_name.
func TestEmulatorConfigAndRestart(t *testing.T) {
	e := start(t, Config{Configuration: []byte("refuse")})
	if !e.Failed() || !strings.Contains(strings.Join(e.Logs(LogCritical), ""), "refused") {
		t.Errorf("refused configuration: failed %v, logs %q", e.Failed(), e.Logs(LogCritical))
	}
	e.Close()
	e = start(t, Config{Configuration: []byte("one"), Properties: map[string][]byte{"source.address": []byte("192.0.2.1:1")}})
	if err := e.PushConfig([]byte("two")); err != nil {
		t.Fatal(err)
	}
	r, err := e.Do(Request{Headers: [][2]string{{":method", "GET"}, {":path", "/"}, {":authority", "a"}}})
	if err != nil || hdr(t, r.Upstream, "x-seen") != "two" {
		t.Errorf("after a push: %+v %v", r, err)
	}
	if err := e.PushConfig([]byte("refuse")); err == nil || !e.Failed() {
		t.Errorf("a refused push: %v, failed %v", err, e.Failed())
	}
	if err := e.Restart("other"); err != nil {
		t.Fatal(err)
	}
	if v, err := e.Host().GetProperty([]string{"plugin_name"}); err != nil || string(v) != "other" {
		t.Errorf("plugin_name %q (%v)", v, err)
	}
}

// TestEmulatorUnsupported: what the emulator cannot do is refused before
// it starts, wrapping ErrUnsupported.
func TestEmulatorUnsupported(t *testing.T) {
	for _, c := range []Config{{Env: map[string]string{"A": "1"}}, {Endpoints: map[string]string{"store": "127.0.0.1:1"}}} {
		if _, err := StartEmulator(&testVM{}, c); !errors.Is(err, ErrUnsupported) {
			t.Errorf("%+v: %v, want ErrUnsupported", c, err)
		}
	}
}
