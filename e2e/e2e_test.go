package e2e

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/apiguard/apiguard/internal/configcheck"
	"github.com/apiguard/apiguard/policy"
	"github.com/apiguard/apiguard/policy/keymat"
)

// Metric names as Envoy exports them. The filter defines counters
// "apiguard.decision.<reason>" (filter/metrics.go); Envoy stores them as
// "wasmcustom.apiguard.decision.<reason>", and envoy.yaml's stats_tags
// turns the reason into a label, so /stats/prometheus shows
// apiguard_decision{reason="allowed"} (custom-namespace stats get no
// "envoy_" prefix). Adjust here if the filter renames them.
const (
	statsDecisionPrefix = "wasmcustom.apiguard.decision."
	promDecisionFamily  = "apiguard_decision"
	promReasonLabel     = "reason"
	allowedReason       = "allowed"
)

// Paths of the demo configuration (examples/config.json) the contract uses.
const (
	publicPath      = "/healthz"                // public, no key
	listPath        = "/v1/orders"              // orders:read, pagination profile "standard" (reject)
	clampPath       = "/v1/orders/42/events"    // orders:read, pagination profile "lenient" (clamp)
	filesPath       = "/v1/files/report.pdf"    // files:read, which the valid key lacks
	unmatchedPath   = "/v2/not-a-route"         // no route: unmatched = deny
	standardProfile = "standard"                // profile of listPath
	lenientProfile  = "lenient"                 // profile of clampPath
	realm           = `ApiKey realm="apiguard"` // WWW-Authenticate of a 401
)

func TestParseEnvoyVersion(t *testing.T) {
	tests := []struct {
		out     string
		want    Version
		wantErr bool
	}{
		{"\nenvoy  version: 6d9bb7d9a85d616b220d1f8fe67b61f82bbdb8d3/1.33.2/Clean/RELEASE/BoringSSL\n", Version{1, 33, 2}, false},
		{"envoy  version: 0000000/1.34.0-dev/Modified/DEBUG/BoringSSL-FIPS", Version{1, 34, 0}, false},
		{"envoy version 1.40.1", Version{1, 40, 1}, false},
		{"envoy  version: abc/1.9.12/Clean/RELEASE/BoringSSL", Version{1, 9, 12}, false},
		{"no version here", Version{}, true},
	}
	for _, tt := range tests {
		got, err := ParseEnvoyVersion(tt.out)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseEnvoyVersion(%q) = %v, %v; want %v, error %v", tt.out, got, err, tt.want, tt.wantErr)
		}
	}
	older := []struct{ a, b Version }{
		{Version{1, 32, 9}, MinEnvoyVersion},
		{Version{1, 33, 0}, Version{1, 33, 1}},
		{Version{0, 99, 99}, Version{1, 0, 0}},
	}
	for _, o := range older {
		if !o.a.Less(o.b) || o.b.Less(o.a) {
			t.Errorf("want %v older than %v", o.a, o.b)
		}
	}
}

// TestRenderShippedConfig checks, without Envoy, that the rendered envoy.yaml
// the suite runs is the shipped one with only ports, the .wasm path and
// the plugin configuration changed, and still valid.
func TestRenderShippedConfig(t *testing.T) {
	shipped, err := os.ReadFile(envoyYAML)
	if err != nil {
		t.Fatal(err)
	}
	conf := []byte(`{"mode": "shadow"}`)
	out, err := Render(shipped, RenderOptions{ListenerPort: 20001, AdminPort: 20002, UpstreamPort: 20003,
		WasmPath: "/opt/x/apiguard.wasm", PluginConfig: conf})
	if err != nil {
		t.Fatal(err)
	}
	var got, want map[string]any
	if err := yaml.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(shipped, &want); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"admin port", dig(got, "admin", "address", "socket_address", "port_value"), 20002},
		{"listener port", dig(asSlice(dig(got, "static_resources", "listeners"))[0], "address", "socket_address", "port_value"), 20001},
		{"upstream port", dig(asSlice(dig(asSlice(dig(asSlice(dig(got, "static_resources", "clusters"))[0], "load_assignment", "endpoints"))[0], "lb_endpoints"))[0], "endpoint", "address", "socket_address", "port_value"), 20003},
		{"admin address", dig(got, "admin", "address", "socket_address", "address"), dig(want, "admin", "address", "socket_address", "address")},
		{"stats_config", fmt.Sprint(dig(got, "stats_config")), fmt.Sprint(dig(want, "stats_config"))},
		{"use_remote_address", dig(asSlice(dig(asSlice(dig(asSlice(dig(got, "static_resources", "listeners"))[0], "filter_chains"))[0], "filters"))[0], "typed_config", "use_remote_address"), true},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	var filenames, configs []string
	walk(got, func(m map[string]any) {
		if m["@type"] == wasmFilterType {
			filenames = append(filenames, fmt.Sprint(dig(m, "config", "vm_config", "code", "local", "filename")))
			configs = append(configs, fmt.Sprint(dig(m, "config", "configuration", "value")))
		}
	})
	if len(filenames) != 1 || filenames[0] != "/opt/x/apiguard.wasm" || configs[0] != string(conf) {
		t.Errorf("Wasm filters: filenames %q, configurations %q", filenames, configs)
	}
	// The failure policy survives rendering: the suite runs what ships.
	var policies []string
	walk(got, func(m map[string]any) {
		if m["@type"] == wasmFilterType {
			policies = append(policies, fmt.Sprint(dig(m, "config", "failure_policy")))
		}
	})
	if len(policies) != 1 || policies[0] != "FAIL_RELOAD" {
		t.Errorf("Wasm filter failure_policy = %q, want FAIL_RELOAD", policies)
	}

	// With the shipped configuration kept, the rendered file passes the
	// same validation as envoy.yaml itself.
	out, err = Render(shipped, RenderOptions{UpstreamPort: 20003, WasmPath: "/opt/x/apiguard.wasm"})
	if err != nil {
		t.Fatal(err)
	}
	if probs := configcheck.Errors(configcheck.ValidateEnvoyYAML(out, configcheck.EnvoyOptions{WasmPath: "/opt/x/apiguard.wasm"})); len(probs) > 0 {
		t.Errorf("rendered envoy.yaml is invalid: %v", probs)
	}
}

func TestRenderRefusesUnexpectedBootstraps(t *testing.T) {
	tests := []struct{ name, yaml, msg string }{
		{"no admin", "static_resources: {}\n", "admin"},
		{"two listeners", "admin: {address: {socket_address: {port_value: 1}}}\nstatic_resources: {listeners: [{}, {}]}\n", "want exactly 1"},
		{"no upstream cluster", "admin: {address: {socket_address: {port_value: 1}}}\nstatic_resources:\n  listeners: [{address: {socket_address: {port_value: 2}}}]\n  clusters: [{name: other}]\n", `cluster "upstream"`},
		{"no wasm filter", "admin: {address: {socket_address: {port_value: 1}}}\nstatic_resources:\n  listeners: [{address: {socket_address: {port_value: 2}}}]\n  clusters: [{name: upstream, load_assignment: {endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {port_value: 3}}}}]}]}}]\n", "no Wasm HTTP filter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Render([]byte(tt.yaml), RenderOptions{})
			if err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("Render error = %v, want one containing %q", err, tt.msg)
			}
		})
	}
}

// TestDemoFilesAgree checks, without Envoy, that examples/demo-keys.txt
// holds the keys whose hashes examples/config.json lists, with a valid, a
// revoked and an expired one, and that the demo keys are well formed.
func TestDemoFilesAgree(t *testing.T) {
	config, keys := loadDemo(t)
	prefix := fmt.Sprint(dig(config, "key_format", "prefix"))
	for _, k := range keys.All {
		if err := keymat.CheckFormat(prefix, k); err != nil {
			t.Errorf("demo key %.8s...: %v", k, err)
		}
	}
	if _, err := policy.Compile(mustJSON(t, config)); err != nil {
		t.Errorf("%s: %v", exampleConfig, err)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestEnvoyAcceptsShippedConfig runs Envoy's own validation mode on the
// rendered envoy.yaml.
func TestEnvoyAcceptsShippedConfig(t *testing.T) {
	t.Parallel()
	bin := needEnvoy(t)
	cfg := renderConfig(t, 8080, nil, true)
	out, err := exec.Command(bin, "--mode", "validate", "-c", cfg, hotRestartOff).CombinedOutput()
	if err != nil {
		t.Fatalf("envoy --mode validate: %v\n%s", err, out)
	}
}

// raiseRateLimits returns the demo configuration with every rate limit
// raised out of reach, for the contract test, whose requests would
// otherwise run into the demo's deliberately low limits (the rate limit has
// its own test on the unmodified configuration).
func raiseRateLimits(t *testing.T, config map[string]any) []byte {
	t.Helper()
	var c map[string]any
	if err := json.Unmarshal(mustJSON(t, config), &c); err != nil {
		t.Fatal(err)
	}
	limits, _ := c["rate_limits"].(map[string]any)
	for _, l := range limits {
		l := l.(map[string]any)
		l["requests"], l["burst"] = 100000, 100000
	}
	return mustJSON(t, c)
}

// wantProblemJSON checks a denial: status, problem+json body with
// type/title/status/detail, and no raw key anywhere in it.
func wantProblemJSON(t *testing.T, r response, status int, keys []string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d; body %s", r.Status, status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Errorf("Content-Type %q, want application/problem+json", ct)
	}
	var p struct {
		Type   *string  `json:"type"`
		Title  *string  `json:"title"`
		Status *float64 `json:"status"`
		Detail *string  `json:"detail"`
	}
	if err := json.Unmarshal(r.Body, &p); err != nil {
		t.Errorf("body is not JSON: %v: %s", err, r.Body)
	}
	if p.Type == nil || *p.Type == "" || p.Title == nil || *p.Title == "" || p.Detail == nil {
		t.Errorf("body lacks type, title or detail: %s", r.Body)
	}
	if p.Status == nil || int(*p.Status) != status {
		t.Errorf("body status %v, want %d: %s", p.Status, status, r.Body)
	}
	noKeys(t, r, keys)
}

// noKeys fails if any raw key appears in the response.
func noKeys(t *testing.T, r response, keys []string) {
	t.Helper()
	for _, k := range keys {
		if strings.Contains(string(r.Body), k) {
			t.Errorf("response body contains a raw key")
		}
		for name, vs := range r.Header {
			for _, v := range vs {
				if strings.Contains(v, k) {
					t.Errorf("response header %s contains a raw key", name)
				}
			}
		}
	}
}

// upstreamSaw decodes the echo upstream's report from a 200 response.
func upstreamSaw(t *testing.T, r response) echoed {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("status %d, want 200 from the upstream; body %s", r.Status, r.Body)
	}
	var e echoed
	if err := json.Unmarshal(r.Body, &e); err != nil || e.Method == "" {
		t.Fatalf("not the echo upstream's answer (%v): %s", err, r.Body)
	}
	return e
}

// query returns the query of the request target the upstream received.
func (e echoed) query(t *testing.T) url.Values {
	t.Helper()
	u, err := url.ParseRequestURI(e.Path)
	if err != nil {
		t.Fatalf("upstream path %q: %v", e.Path, err)
	}
	return u.Query()
}

// TestContract runs the filter's request contract through a real Envoy.
func TestContract(t *testing.T) {
	t.Parallel()
	bin := needEnvoy(t)
	config, keys := loadDemo(t)
	unknownKey, err := keymat.Generate(fmt.Sprint(dig(config, "key_format", "prefix")), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	allKeys := append([]string{unknownKey}, keys.All...)
	valid := keys.Valid
	maxLenient, _ := dig(config, "pagination", lenientProfile, "max_limit").(float64)
	defaultStandard, _ := dig(config, "pagination", standardProfile, "default_limit").(float64)
	if maxLenient == 0 || defaultStandard == 0 {
		t.Fatalf("%s: pagination profiles %q (max_limit) and %q (default_limit) are needed", exampleConfig, lenientProfile, standardProfile)
	}

	up := startEcho(t)
	env := startEnvoy(t, bin, renderConfig(t, up, raiseRateLimits(t, config), true))

	invalidToken := realm + `, error="invalid_token"`
	denials := []struct {
		name     string
		method   string
		target   string
		headers  map[string]string
		status   int
		wwwAuth  string   // exact WWW-Authenticate, if not empty
		authHave []string // substrings of WWW-Authenticate
	}{
		{name: "no key", target: listPath, status: 401, wwwAuth: realm},
		{name: "unknown key", target: listPath, headers: map[string]string{"x-api-key": unknownKey}, status: 401, wwwAuth: invalidToken},
		{name: "malformed key", target: listPath, headers: map[string]string{"x-api-key": "agk_notakey"}, status: 401, wwwAuth: invalidToken},
		{name: "revoked key", target: listPath, headers: map[string]string{"x-api-key": keys.Revoked.Key}, status: 401, wwwAuth: invalidToken},
		{name: "expired key", target: listPath, headers: map[string]string{"x-api-key": keys.Expired.Key}, status: 401, wwwAuth: invalidToken},
		{name: "revoked key in Authorization", target: listPath, headers: map[string]string{"authorization": "ApiKey " + keys.Revoked.Key}, status: 401, wwwAuth: invalidToken},
		{name: "insufficient scope", target: filesPath, headers: map[string]string{"x-api-key": valid.Key}, status: 403,
			authHave: []string{"ApiKey ", `error="insufficient_scope"`, `scope="files:read"`}},
		{name: "unmatched route", target: unmatchedPath, headers: map[string]string{"x-api-key": valid.Key}, status: 403},
		{name: "key in header and query", target: listPath + "?api_key=" + valid.Key, headers: map[string]string{"x-api-key": valid.Key}, status: 400},
		{name: "two different keys", target: listPath, headers: map[string]string{"x-api-key": valid.Key, "authorization": "ApiKey " + keys.Revoked.Key}, status: 400},
		{name: "limit over max", target: listPath + "?limit=1000", headers: map[string]string{"x-api-key": valid.Key}, status: 400},
		{name: "limit with plus sign", target: listPath + "?limit=+5", headers: map[string]string{"x-api-key": valid.Key}, status: 400},
		{name: "limit in exponent form", target: listPath + "?limit=1e3", headers: map[string]string{"x-api-key": valid.Key}, status: 400},
		{name: "negative offset", target: listPath + "?offset=-1", headers: map[string]string{"x-api-key": valid.Key}, status: 400},
		{name: "repeated limit", target: listPath + "?limit=5&limit=6", headers: map[string]string{"x-api-key": valid.Key}, status: 400},
		{name: "offset and cursor", target: listPath + "?offset=5&cursor=abc", headers: map[string]string{"x-api-key": valid.Key}, status: 400},
		{name: "page and offset", target: listPath + "?page=2&offset=5", headers: map[string]string{"x-api-key": valid.Key}, status: 400},
		{name: "page zero", target: listPath + "?page=0", headers: map[string]string{"x-api-key": valid.Key}, status: 400},
		{name: "limit in brackets", target: listPath + "?limit[]=500", headers: map[string]string{"x-api-key": valid.Key}, status: 400},
		{name: "limit behind a semicolon", target: listPath + "?x=1;limit=500", headers: map[string]string{"x-api-key": valid.Key}, status: 400},
	}
	for _, d := range denials {
		t.Run("deny/"+d.name, func(t *testing.T) {
			method := d.method
			if method == "" {
				method = http.MethodGet
			}
			r := env.raw(t, method, d.target, d.headers)
			wantProblemJSON(t, r, d.status, allKeys)
			got := r.Header.Get("WWW-Authenticate")
			if d.wwwAuth != "" && got != d.wwwAuth {
				t.Errorf("WWW-Authenticate %q, want %q", got, d.wwwAuth)
			}
			for _, s := range d.authHave {
				if !strings.Contains(got, s) {
					t.Errorf("WWW-Authenticate %q lacks %q", got, s)
				}
			}
		})
	}

	// envoy.yaml's CORS filter answers preflights from its allowed origin
	// before apiguard asks for a key.
	t.Run("cors preflight", func(t *testing.T) {
		r := env.raw(t, http.MethodOptions, listPath, map[string]string{
			"origin": "https://app.example.com", "access-control-request-method": "GET"})
		if r.Status != 200 || r.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" {
			t.Errorf("preflight: %d, Access-Control-Allow-Origin %q", r.Status, r.Header.Get("Access-Control-Allow-Origin"))
		}
	})
	// headers_with_underscores_action: REJECT_REQUEST.
	t.Run("underscore header rejected", func(t *testing.T) {
		if r := env.raw(t, http.MethodGet, publicPath, map[string]string{"x_apiguard_consumer": "admin"}); r.Status != 400 {
			t.Errorf("x_apiguard_consumer: status %d, want Envoy's 400", r.Status)
		}
	})

	identity := func(t *testing.T, e echoed) {
		t.Helper()
		if v, _ := e.header("x-apiguard-consumer"); v != valid.Consumer {
			t.Errorf("upstream x-apiguard-consumer %q, want %q", v, valid.Consumer)
		}
		if v, _ := e.header("x-apiguard-key-id"); v != valid.ID {
			t.Errorf("upstream x-apiguard-key-id %q, want %q", v, valid.ID)
		}
		v, _ := e.header("x-apiguard-scopes")
		for _, s := range valid.Scopes {
			if !strings.Contains(v, s) {
				t.Errorf("upstream x-apiguard-scopes %q lacks %q", v, s)
			}
		}
		if strings.Contains(v, "admin") {
			t.Errorf("upstream x-apiguard-scopes %q carries a client-supplied value", v)
		}
		for _, name := range []string{"x-api-key", "authorization"} {
			if v, ok := e.header(name); ok {
				t.Errorf("upstream received the credential header %s: %q", name, v)
			}
		}
		for _, k := range allKeys {
			if strings.Contains(fmt.Sprint(e), k) {
				t.Errorf("upstream received a raw key")
			}
		}
	}
	allowed := []struct {
		name    string
		target  string
		headers map[string]string
		check   func(t *testing.T, e echoed)
	}{
		{"key in x-api-key", listPath + "?limit=5", map[string]string{"x-api-key": valid.Key}, func(t *testing.T, e echoed) {
			identity(t, e)
			if q := e.query(t); q.Get("limit") != "5" {
				t.Errorf("upstream query %v, want limit=5 kept", q)
			}
		}},
		{"key in Authorization", listPath + "?limit=5", map[string]string{"authorization": "ApiKey " + valid.Key}, identity},
		{"key in query", listPath + "?limit=5&api_key=" + valid.Key + "&sort=asc", nil, func(t *testing.T, e echoed) {
			identity(t, e)
			q := e.query(t)
			if q.Has("api_key") || q.Get("limit") != "5" || q.Get("sort") != "asc" {
				t.Errorf("upstream path %q: want api_key removed and limit=5, sort=asc kept", e.Path)
			}
		}},
		{"spoofed identity replaced", listPath + "?limit=5", map[string]string{"x-api-key": valid.Key,
			"x-apiguard-consumer": "admin", "x-apiguard-key-id": "admin-key", "x-apiguard-scopes": "admin"}, identity},
		{"default limit added", listPath, map[string]string{"x-api-key": valid.Key}, func(t *testing.T, e echoed) {
			identity(t, e)
			if got, want := e.query(t).Get("limit"), strconv.Itoa(int(defaultStandard)); got != want {
				t.Errorf("upstream limit %q, want the default %s", got, want)
			}
		}},
		{"limit clamped", clampPath + "?limit=100000", map[string]string{"x-api-key": valid.Key}, func(t *testing.T, e echoed) {
			identity(t, e)
			if got, want := e.query(t).Get("limit"), strconv.Itoa(int(maxLenient)); got != want {
				t.Errorf("upstream limit %q, want it clamped to %s", got, want)
			}
		}},
		{"slashes merged before matching", "//v1//orders?limit=5", map[string]string{"x-api-key": valid.Key}, func(t *testing.T, e echoed) {
			identity(t, e)
			if !strings.HasPrefix(e.Path, listPath+"?") {
				t.Errorf("upstream path %q, want %s?...", e.Path, listPath)
			}
		}},
		{"public route", publicPath, nil, func(t *testing.T, e echoed) {
			if v, ok := e.header("x-apiguard-consumer"); ok {
				t.Errorf("upstream x-apiguard-consumer %q on a public route without key", v)
			}
		}},
		{"spoofed identity dropped on public route", publicPath, map[string]string{"x-apiguard-consumer": "admin", "x-apiguard-scopes": "admin"}, func(t *testing.T, e echoed) {
			for _, h := range []string{"x-apiguard-consumer", "x-apiguard-scopes"} {
				if v, ok := e.header(h); ok {
					t.Errorf("upstream received client-supplied %s: %q", h, v)
				}
			}
		}},
	}
	for _, a := range allowed {
		t.Run("allow/"+a.name, func(t *testing.T) {
			r := env.raw(t, http.MethodGet, a.target, a.headers)
			noKeys(t, r, allKeys)
			a.check(t, upstreamSaw(t, r))
		})
	}

	// Path tricks: Envoy normalises or refuses them before the filter
	// sees the path. Whatever the spelling, none may reach the upstream
	// without a key; an escaped slash is refused outright.
	tricks := []struct {
		name, target string
		status       int // exact status wanted, or 0 for "any 4xx"
	}{
		{"encoded slash", "/v1/orders%2F..%2F..%2Fhealthz", 400},
		{"encoded backslash", "/healthz%5C..%5Cv1%5Corders", 400},
		{"dot-dot from a public route", "/healthz/../v1/orders", 401},
		{"encoded dot-dot from a public route", "/healthz/%2e%2e/v1/orders", 0}, // normalised by Envoy or by policy
		{"dot-dot above the root", "/../../v1/orders", 401},
		{"dot segments", "/healthz/./../v1/./orders", 401},
	}
	for _, tr := range tricks {
		t.Run("path/"+tr.name, func(t *testing.T) {
			r := env.raw(t, http.MethodGet, tr.target, nil)
			if tr.status != 0 && r.Status != tr.status || r.Status < 400 || r.Status > 499 {
				t.Errorf("%s: status %d, want %v (4xx); body %s", tr.target, r.Status, tr.status, r.Body)
			}
			var e echoed
			if json.Unmarshal(r.Body, &e) == nil && e.Method != "" {
				t.Errorf("%s reached the upstream as %q", tr.target, e.Path)
			}
		})
	}

	t.Run("metrics", func(t *testing.T) {
		code, body, err := env.adminGet("/stats/prometheus")
		if err != nil || code != http.StatusOK {
			t.Fatalf("/stats/prometheus: %d %v", code, err)
		}
		counts := decisionCounts(body)
		if counts[allowedReason] < 1 {
			t.Errorf("%s{%s=%q} < 1 after allowed requests; decision counters: %v", promDecisionFamily, promReasonLabel, allowedReason, counts)
		}
		denied := 0
		for r, n := range counts {
			if r != allowedReason {
				denied += n
			}
		}
		if denied < 1 {
			t.Errorf("no denial counted on /stats/prometheus; decision counters: %v", counts)
		}
		_, stats, err := env.adminGet("/stats?filter=" + url.QueryEscape("^"+regexp.QuoteMeta(statsDecisionPrefix)))
		if err != nil || !strings.Contains(stats, statsDecisionPrefix+allowedReason) {
			t.Errorf("/stats lacks %s%s (%v):\n%s", statsDecisionPrefix, allowedReason, err, stats)
		}
		// The build gauge, as envoy.yaml's version tag names it (docs/operations.md,
		// Versions): one live plugin instance or more.
		if !buildGaugeLine.MatchString(body) {
			t.Errorf("/stats/prometheus has no %s line with a value >= 1", buildGaugeLine)
		}
		if t.Failed() {
			t.Logf("/stats/prometheus lines with apiguard:\n%s", grepLines(body, "apiguard"))
		}
	})

	// Envoy's output holds its own log, the filter's log lines and the
	// access log; after all the requests above, with keys in headers and
	// in the query, none may contain a raw key.
	env.stop()
	out := env.log.String()
	for _, k := range allKeys {
		if strings.Contains(out, k) {
			t.Errorf("Envoy's output (log or access log) contains a raw key")
			break
		}
	}
	if !strings.Contains(out, listPath) {
		t.Errorf("Envoy's output has no access log line for %s", listPath)
	}
	checkAccessLogFields(t, out, keys)
	// The start line, with the prefix docs/operations.md shows (root id and VM id
	// of envoy.yaml).
	if !buildLogLine.MatchString(out) {
		t.Errorf("Envoy's log has no line matching %s:\n%s", buildLogLine, grepLines(out, "apiguard: build"))
	}
}

var (
	buildGaugeLine = regexp.MustCompile(`(?m)^apiguard_build\{version="[-\w]+"\} [1-9]`)
	buildLogLine   = regexp.MustCompile(`wasm log apiguard apiguard: apiguard: build version=\S+ commit=\S+`)
)

var decisionLine = regexp.MustCompile(`(?m)^` + promDecisionFamily + `\{` + promReasonLabel + `="([^"]+)"\} (\d+)`)

// decisionCounts reads the decision counters from Prometheus text.
func decisionCounts(prom string) map[string]int {
	counts := map[string]int{}
	for _, m := range decisionLine.FindAllStringSubmatch(prom, -1) {
		n, _ := strconv.Atoi(m[2])
		counts[m[1]] += n
	}
	return counts
}

func grepLines(text, s string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestDecisionCounts(t *testing.T) {
	prom := "# TYPE apiguard_decision counter\n" +
		"apiguard_decision{reason=\"allowed\"} 7\n" +
		"apiguard_decision{reason=\"missing_key\"} 2\n" +
		"envoy_cluster_upstream_rq{envoy_cluster_name=\"upstream\"} 9\n"
	got := decisionCounts(prom)
	if len(got) != 2 || got["allowed"] != 7 || got["missing_key"] != 2 {
		t.Errorf("decisionCounts = %v", got)
	}
}

// rateLimit is a token bucket of the demo configuration.
type rateLimit struct {
	Requests float64
	Per      time.Duration
	Burst    float64
}

// consumerRateLimit returns the bucket that applies to the valid key on
// listPath: the consumer's, else default_rate_limit.
func consumerRateLimit(t *testing.T, config map[string]any, consumer string) (string, rateLimit) {
	t.Helper()
	name, _ := config["default_rate_limit"].(string)
	for _, c := range asSlice(config["consumers"]) {
		if dig(c, "id") == consumer {
			if n, ok := dig(c, "rate_limit").(string); ok {
				name = n
			}
		}
	}
	l, ok := dig(config, "rate_limits", name).(map[string]any)
	if !ok {
		t.Fatalf("%s: no rate limit %q for consumer %s", exampleConfig, name, consumer)
	}
	var rl rateLimit
	rl.Requests, _ = l["requests"].(float64)
	per, err := time.ParseDuration(fmt.Sprint(l["per"]))
	if err != nil || rl.Requests <= 0 {
		t.Fatalf("%s: rate limit %q: requests %v per %v", exampleConfig, name, l["requests"], l["per"])
	}
	rl.Per = per
	rl.Burst = rl.Requests
	if b, ok := l["burst"].(float64); ok {
		rl.Burst = b
	}
	return name, rl
}

// TestRateLimitAcrossWorkers sends more requests than the bucket holds, at
// once, over many connections spread over Envoy's two workers (two Wasm
// VMs sharing the bucket), and checks that together they admit no more
// than the bucket allows and refuse the rest with 429 and its headers.
func TestRateLimitAcrossWorkers(t *testing.T) {
	t.Parallel()
	bin := needEnvoy(t)
	config, keys := loadDemo(t)
	name, rl := consumerRateLimit(t, config, keys.Valid.Consumer)
	const conns = 16
	total := int(3*rl.Burst) + conns
	if total > 400 {
		t.Fatalf("rate limit %q has burst %v: too large for a bounded test", name, rl.Burst)
	}

	up := startEcho(t)
	env := startEnvoy(t, bin, renderConfig(t, up, nil, true))

	var (
		mu        sync.Mutex
		admitted  int
		limited   []response
		unexpects []string
	)
	per := total / conns
	start := time.Now()
	var wg sync.WaitGroup
	for c := 0; c < conns; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// One client per goroutine, one kept-alive connection each,
			// so that the kernel spreads connections over both workers.
			client := &http.Client{Timeout: httpTimeout, Transport: &http.Transport{MaxConnsPerHost: 1}}
			defer client.CloseIdleConnections()
			for i := 0; i < per; i++ {
				req, _ := http.NewRequest(http.MethodGet, "http://"+env.listen+listPath+"?limit=5", nil)
				req.Header.Set("x-api-key", keys.Valid.Key)
				resp, err := client.Do(req)
				if err != nil {
					mu.Lock()
					unexpects = append(unexpects, err.Error())
					mu.Unlock()
					return
				}
				body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
				resp.Body.Close()
				mu.Lock()
				switch {
				case err != nil:
					unexpects = append(unexpects, err.Error())
				case resp.StatusCode == http.StatusOK:
					admitted++
				case resp.StatusCode == http.StatusTooManyRequests:
					limited = append(limited, response{Status: resp.StatusCode, Header: resp.Header, Body: body})
				default:
					unexpects = append(unexpects, fmt.Sprintf("status %d: %s", resp.StatusCode, body))
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)

	if len(unexpects) > 0 {
		t.Errorf("%d unexpected outcomes, first: %s", len(unexpects), unexpects[0])
	}
	// Tokens available: the full bucket plus what refills while the test
	// runs, plus one for the refill that may land between our clock and
	// the filter's.
	limit := int(rl.Burst + rl.Requests*elapsed.Seconds()/rl.Per.Seconds() + 1)
	t.Logf("rate limit %q (%v per %v, burst %v): %d requests in %v over %d connections: %d admitted (limit %d), %d refused",
		name, rl.Requests, rl.Per, rl.Burst, conns*per, elapsed, conns, admitted, limit, len(limited))
	if admitted > limit {
		t.Errorf("%d requests admitted, more than the bucket allows (%d): the two workers do not share it", admitted, limit)
	}
	if admitted < 1 || len(limited) < 1 {
		t.Errorf("want some requests admitted and some refused, got %d and %d", admitted, len(limited))
	}
	for i, r := range limited {
		if i == 3 {
			break
		}
		wantProblemJSON(t, r, http.StatusTooManyRequests, keys.All)
		ra, err := strconv.Atoi(r.Header.Get("Retry-After"))
		if err != nil || ra < 1 {
			t.Errorf("Retry-After %q, want whole seconds >= 1", r.Header.Get("Retry-After"))
		}
		for _, h := range []string{"RateLimit-Policy", "RateLimit"} {
			if r.Header.Get(h) == "" {
				t.Errorf("429 without %s header", h)
			}
		}
	}

	// Both workers must have served connections, or the test proved
	// nothing about sharing the bucket between VMs. Only Linux spreads a
	// listener's connections over the workers (SO_REUSEPORT); elsewhere
	// Envoy turns reuse_port off and one worker may take them all.
	if goruntime.GOOS != "linux" {
		t.Logf("not checking that both workers served: on %s Envoy does not spread connections with SO_REUSEPORT", goruntime.GOOS)
		return
	}
	_, stats, err := env.adminGet("/stats?filter=" + url.QueryEscape(`worker_\d+\.downstream_cx_total`))
	if err != nil {
		t.Fatal(err)
	}
	busy := 0
	for _, m := range regexp.MustCompile(`(?m)^listener\..*worker_(\d+)\.downstream_cx_total: (\d+)$`).FindAllStringSubmatch(stats, -1) {
		if n, _ := strconv.Atoi(m[2]); n > 0 {
			busy++
		}
	}
	if busy < 2 {
		t.Errorf("connections reached %d worker(s), want 2; per-worker stats:\n%s", busy, stats)
	}
}

// TestBrokenConfigurationStopsEnvoy starts Envoy with a plugin
// configuration that policy refuses: the plugin must fail to start, and
// Envoy must refuse to start, logging the JSON path of the error. (A plugin
// whose on_configure fails makes Envoy reject the configuration whatever
// its failure_policy; failure_policy governs a VM that fails later.)
func TestBrokenConfigurationStopsEnvoy(t *testing.T) {
	t.Parallel()
	bin := needEnvoy(t)
	example, err := os.ReadFile(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	broken := []byte(strings.Replace(string(example), `"pagination": "standard"`, `"pagination": "standrd"`, 1))
	if string(broken) == string(example) {
		t.Fatalf("%s has no route with \"pagination\": \"standard\" to break", exampleConfig)
	}
	var ce *policy.ConfigError
	if _, err := policy.Compile(broken); !errors.As(err, &ce) || len(ce.Errors) == 0 {
		t.Fatalf("policy.Compile accepts the broken configuration (err %v)", err)
	}
	wantPath := ce.Errors[0].Path

	env := launch(t, bin, renderConfig(t, startEcho(t), broken, false))
	exitErr, exited := env.waitExit(exitTimeout)
	if !exited {
		t.Fatalf("Envoy still running %v after start with a broken plugin configuration", exitTimeout)
	}
	if exitErr == nil {
		t.Errorf("Envoy exited with status 0; want a failure")
	}
	if log := env.log.String(); !strings.Contains(log, wantPath) {
		t.Errorf("Envoy's log does not name the configuration error's path %q", wantPath)
	}
}

// checkAccessLogFields: envoy.yaml's access log prints the record apiguard
// sets in the filter state (docs/logging.md): the consumer and key id of an
// allowed request, the reason of a denial with a known key.
func checkAccessLogFields(t *testing.T, out string, keys demoKeys) {
	t.Helper()
	var allowed, revoked bool
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "{") || !strings.Contains(line, `"apiguard"`) {
			continue
		}
		var l map[string]any
		if json.Unmarshal([]byte(line), &l) != nil || l["path"] != listPath {
			continue
		}
		s, _ := l["apiguard"].(string)
		var rec map[string]any
		if json.Unmarshal([]byte(s), &rec) != nil {
			continue
		}
		switch {
		case rec["decision"] == "allow" && rec["reason"] == "allowed" && rec["consumer"] == keys.Valid.Consumer &&
			rec["key_id"] == keys.Valid.ID && rec["route"] != nil:
			allowed = true
		case rec["decision"] == "deny" && rec["reason"] == "revoked" && rec["key_id"] == keys.Revoked.ID:
			revoked = true
		}
	}
	if !allowed || !revoked {
		t.Errorf("access log lines of %s lack apiguard's record (allowed with consumer %v, revoked denial %v):\n%s",
			listPath, allowed, revoked, grepLines(out, `"apiguard"`))
	}
}
