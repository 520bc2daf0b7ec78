package quotatest

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	rlcommon "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	ratelimitv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ratelimit/v3"
	wasmfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/wasm/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	rlsvc "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"

	"github.com/apiguard/apiguard/internal/configcheck"
	"github.com/apiguard/apiguard/internal/driver"
	"github.com/apiguard/apiguard/internal/testing/cpphost"
	"github.com/apiguard/apiguard/internal/testing/vmtest"
)

// envoyRateLimit is what envoy.yaml configures for global rate limiting,
// read through go-control-plane's types.
type envoyRateLimit struct {
	filter *ratelimitv3.RateLimit
	// entries are the rate_limits that apply to the demo route: the
	// filter's own, else the route's, else the virtual host's, of the
	// filter's stage.
	entries []*routev3.RateLimit
}

// loadEnvoyRateLimit reads envoy.yaml's ratelimit filter and the rate_limits
// of its one route.
func loadEnvoyRateLimit(t testing.TB) envoyRateLimit {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "envoy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	b, probs := configcheck.DecodeEnvoyYAML(data)
	if len(probs) > 0 {
		t.Fatalf("envoy.yaml: %v", probs)
	}
	var hcm hcmv3.HttpConnectionManager
	if err := b.GetStaticResources().GetListeners()[0].GetFilterChains()[0].GetFilters()[0].GetTypedConfig().UnmarshalTo(&hcm); err != nil {
		t.Fatal(err)
	}
	var rl envoyRateLimit
	wasmAt, rlAt := -1, -1
	for i, f := range hcm.GetHttpFilters() {
		switch tc := f.GetTypedConfig(); {
		case tc.MessageIs((*wasmfilterv3.Wasm)(nil)):
			wasmAt = i
		case tc.MessageIs((*ratelimitv3.RateLimit)(nil)):
			rl.filter = &ratelimitv3.RateLimit{}
			if err := tc.UnmarshalTo(rl.filter); err != nil {
				t.Fatal(err)
			}
			rlAt = i
		}
	}
	if rlAt < 0 || wasmAt < 0 || rlAt < wasmAt {
		t.Fatalf("envoy.yaml: the ratelimit filter (http_filters[%d]) must follow apiguard (http_filters[%d])", rlAt, wasmAt)
	}
	vh := hcm.GetRouteConfig().GetVirtualHosts()[0]
	entries := rl.filter.GetRateLimits()
	if len(entries) == 0 {
		entries = vh.GetRoutes()[0].GetRoute().GetRateLimits()
	}
	if len(entries) == 0 {
		entries = vh.GetRateLimits()
	}
	for _, e := range entries {
		if e.GetStage().GetValue() == rl.filter.GetStage() {
			rl.entries = append(rl.entries, e)
		}
	}
	if len(rl.entries) == 0 {
		t.Fatal("envoy.yaml: no rate_limits apply to the route")
	}
	return rl
}

// descriptors builds the descriptors Envoy sends for a request with these
// (upstream) headers: for each rate_limits entry, one entry per
// request_headers action, in order; a missing header drops the whole
// descriptor, unless skip_if_absent drops only its entry.
func (rl envoyRateLimit) descriptors(t testing.TB, headers [][2]string) []*rlcommon.RateLimitDescriptor {
	t.Helper()
	var out []*rlcommon.RateLimitDescriptor
	for _, e := range rl.entries {
		d := &rlcommon.RateLimitDescriptor{}
		complete := true
		for _, a := range e.GetActions() {
			rh := a.GetRequestHeaders()
			if rh == nil {
				t.Fatalf("envoy.yaml has a %T action: this emulation knows request_headers only", a.GetActionSpecifier())
			}
			v, ok := header(headers, rh.GetHeaderName())
			if !ok {
				if rh.GetSkipIfAbsent() {
					continue
				}
				complete = false
				break
			}
			d.Entries = append(d.Entries, &rlcommon.RateLimitDescriptor_Entry{Key: rh.GetDescriptorKey(), Value: v})
		}
		if complete && len(d.Entries) > 0 {
			out = append(out, d)
		}
	}
	return out
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

// Hosts are compiled once per test binary: one per Envoy of a test.
var hosts struct {
	sync.Mutex
	list []*cpphost.Host
}

func closeHosts() {
	hosts.Lock()
	defer hosts.Unlock()
	for _, h := range hosts.list {
		h.Close()
	}
}

// envoy stands for one Envoy: its own apiguard (the compiled .wasm in its
// own host, so its own shared data) and its own connection to the
// rate-limit service.
type envoy struct {
	t      testing.TB
	d      driver.Env
	client rlsvc.RateLimitServiceClient
	rl     envoyRateLimit
}

// newEnvoys starts n Envoys running apiguard with config, each connected to
// the service at grpcAddr.
func newEnvoys(t testing.TB, n int, config []byte, grpcAddr string) []*envoy {
	t.Helper()
	rl := loadEnvoyRateLimit(t)
	wasm := vmtest.Plain(t) // fails the test when the module is missing or stale
	hosts.Lock()
	var err error
	for len(hosts.list) < n && err == nil {
		var h *cpphost.Host
		if h, err = cpphost.New(context.Background(), wasm, cpphost.Options{}); err == nil {
			hosts.list = append(hosts.list, h)
		}
	}
	list := append([]*cpphost.Host(nil), hosts.list...)
	hosts.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	list = list[:n]
	var out []*envoy
	for _, h := range list {
		h.ClearSharedData()
		d, err := cpphost.NewEnv(h, driver.Config{Configuration: config, Properties: map[string][]byte{
			"request.time":   binary.LittleEndian.AppendUint64(nil, uint64(time.Now().UnixNano())),
			"source.address": []byte("192.0.2.7:41000"),
		}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(d.Close)
		if d.Failed() {
			t.Fatalf("apiguard refused the configuration: %q", d.Logs(driver.LogCritical))
		}
		out = append(out, &envoy{t: t, d: d, client: dial(t, grpcAddr), rl: rl})
	}
	return out
}

// outcome is what Envoy did with one request.
type outcome struct {
	// status is what the client got: apiguard's local reply, 429 for
	// OVER_LIMIT, 500 for a failed check with failure_mode_deny, else 200.
	status int
	// upstream are the request headers after apiguard.
	upstream    [][2]string
	descriptors []*rlcommon.RateLimitDescriptor
	// resp and err are the service's answer, when it was asked.
	resp *rlsvc.RateLimitResponse
	err  error
}

// checkTimeout bounds a call to the service. Envoy's is envoy.yaml's
// timeout (50 ms); the tests allow more, since a loaded CI machine is not
// a production one, and the down cases fail fast anyway.
const checkTimeout = 5 * time.Second

// do sends one request through apiguard and, when it is forwarded with
// descriptors, asks the service as Envoy's ratelimit filter does.
func (e *envoy) do(path string, headers ...[2]string) outcome {
	e.t.Helper()
	hs := append([][2]string{{":method", "GET"}, {":path", path}, {":authority", "api.example.com"}, {":scheme", "http"}}, headers...)
	r, err := e.d.Do(driver.Request{Headers: hs})
	if err != nil {
		e.t.Fatal(err)
	}
	if r.Local != nil {
		return outcome{status: r.Local.Status}
	}
	o := outcome{status: 200, upstream: r.Upstream, descriptors: e.rl.descriptors(e.t, r.Upstream)}
	if len(o.descriptors) == 0 {
		return o // Envoy does not call the service
	}
	ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
	defer cancel()
	o.resp, o.err = e.client.ShouldRateLimit(ctx, &rlsvc.RateLimitRequest{
		Domain: e.rl.filter.GetDomain(), Descriptors: o.descriptors, HitsAddend: 1,
	})
	switch {
	case o.err != nil && e.rl.filter.GetFailureModeDeny():
		o.status = 500
	case o.err != nil:
		o.status = 200 // failure_mode_deny: false lets it through
	case o.resp.GetOverallCode() == rlsvc.RateLimitResponse_OVER_LIMIT:
		o.status = 429
	case o.resp.GetOverallCode() != rlsvc.RateLimitResponse_OK:
		e.t.Fatalf("service answered %v", o.resp.GetOverallCode())
	}
	return o
}
