package main

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/apiguard/apiguard/internal/testing/vmtest"
	"github.com/apiguard/apiguard/policy"
)

func TestValidKeyForwardsIdentityNotCredential(t *testing.T) {
	k := newTestKeys(t)
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		e := start(t, vm, testConfig(t, k, nil))
		o := e.do("/v1/orders/42",
			[2]string{"x-api-key", k.billing},
			[2]string{"x-apiguard-consumer", "admin"}, // spoofed identity
			[2]string{"x-apiguard-scopes", "everything"},
		)
		if o.action != types.ActionContinue || o.local != nil {
			t.Fatalf("request not forwarded: action %v, local %+v", o.action, o.local)
		}
		for name, want := range map[string]string{
			"x-apiguard-consumer": "billing",
			"x-apiguard-key-id":   "billing-2026",
			"x-apiguard-scopes":   "orders:read orders:write",
			":path":               "/v1/orders/42",
		} {
			if got, _ := header(o.upstream, name); got != want {
				t.Errorf("upstream %s = %q, want %q", name, got, want)
			}
			if n := headerCount(o.upstream, name); n != 1 {
				t.Errorf("upstream has %d %s headers, want 1", n, name)
			}
		}
		if v, ok := header(o.upstream, "x-api-key"); ok {
			t.Errorf("credential forwarded upstream: x-api-key=%q", v)
		}
		if n := e.counter("apiguard.decision.allowed"); n != 1 {
			t.Errorf("apiguard.decision.allowed = %d, want 1", n)
		}
	})
}

// TestPublicRouteSetsNoIdentity: a public route identifies nobody, so the
// upstream sees no identity header (spoofed copies are still dropped) and no
// header other than the client's.
func TestPublicRouteSetsNoIdentity(t *testing.T) {
	k := newTestKeys(t)
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		e := start(t, vm, testConfig(t, k, nil))
		o := e.do("/healthz", [2]string{"x-apiguard-consumer", "admin"}, [2]string{"x-trace", "t1"})
		if o.local != nil {
			t.Fatalf("denied: %d %s", o.local.StatusCode, o.local.Data)
		}
		var names []string
		for _, kv := range o.upstream {
			names = append(names, kv[0])
		}
		if want := ":method :path :authority x-trace"; strings.Join(names, " ") != want {
			t.Errorf("upstream headers %q, want %q", names, want)
		}
	})
}

func TestAuthorizationSchemeCredential(t *testing.T) {
	k := newTestKeys(t)
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		e := start(t, vm, testConfig(t, k, nil))
		o := e.do("/v1/orders/7", [2]string{"authorization", "ApiKey " + k.billing})
		if o.local != nil {
			t.Fatalf("denied: %d %s", o.local.StatusCode, o.local.Data)
		}
		if _, ok := header(o.upstream, "authorization"); ok {
			t.Error("authorization header forwarded upstream")
		}
		if got, _ := header(o.upstream, "x-apiguard-consumer"); got != "billing" {
			t.Errorf("consumer = %q", got)
		}
	})
}

func TestQueryCredentialRemovedFromPath(t *testing.T) {
	k := newTestKeys(t)
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		e := start(t, vm, testConfig(t, k, nil))
		o := e.do("/v1/orders?status=open&api_key=" + k.billing + "&limit=5")
		if o.local != nil {
			t.Fatalf("denied: %d %s", o.local.StatusCode, o.local.Data)
		}
		if got, _ := header(o.upstream, ":path"); got != "/v1/orders?status=open&limit=5" {
			t.Errorf(":path upstream = %q, want the query without api_key", got)
		}
	})
}

// problem is the body of a denial.
type problem struct {
	Type, Title, Detail string
	Status              int
}

func TestDenials(t *testing.T) {
	k := newTestKeys(t)
	cases := []struct {
		name      string
		path      string
		headers   [][2]string
		status    int
		reason    string
		wwwAuth   string // exact WWW-Authenticate, "" = must be absent
		secretKey string // must appear in no body or log
	}{
		{"missing", "/v1/orders", nil, 401, "missing", `ApiKey realm="apiguard"`, ""},
		{"malformed", "/v1/orders", [][2]string{{"x-api-key", "agk_notakey"}}, 401, "malformed",
			`ApiKey realm="apiguard", error="invalid_token"`, "agk_notakey"},
		{"unknown", "/v1/orders", [][2]string{{"x-api-key", k.unknown}}, 401, "unknown",
			`ApiKey realm="apiguard", error="invalid_token"`, k.unknown},
		{"revoked", "/v1/orders", [][2]string{{"x-api-key", k.billingRevoked}}, 401, "revoked",
			`ApiKey realm="apiguard", error="invalid_token"`, k.billingRevoked},
		{"expired", "/v1/orders", [][2]string{{"x-api-key", k.billingExpired}}, 401, "expired",
			`ApiKey realm="apiguard", error="invalid_token"`, k.billingExpired},
		{"not yet valid", "/v1/orders", [][2]string{{"x-api-key", k.billingFuture}}, 401, "not_yet_valid",
			`ApiKey realm="apiguard", error="invalid_token"`, k.billingFuture},
		{"insufficient scope", "/v1/orders", [][2]string{{"x-api-key", k.reader}}, 403, "insufficient_scope",
			`ApiKey realm="apiguard", error="insufficient_scope", scope="orders:read"`, k.reader},
		{"two credentials", "/v1/orders?api_key=" + k.billing, [][2]string{{"x-api-key", k.billing}}, 400, "invalid_request", "", k.billing},
		{"repeated key header", "/v1/orders", [][2]string{{"x-api-key", k.billing}, {"x-api-key", k.reader}}, 400, "invalid_request", "", k.reader},
		{"limit too large", "/v1/orders?limit=1000", [][2]string{{"x-api-key", k.billing}}, 400, "bad_pagination", "", k.billing},
		{"limit not a plain integer", "/v1/orders?limit=1e3", [][2]string{{"x-api-key", k.billing}}, 400, "bad_pagination", "", k.billing},
		{"offset and cursor", "/v1/orders?offset=5&cursor=abc", [][2]string{{"x-api-key", k.billing}}, 400, "bad_pagination", "", k.billing},
		{"page and offset", "/v1/orders?page=3&offset=40", [][2]string{{"x-api-key", k.billing}}, 400, "bad_pagination", "", k.billing},
		{"encoded slash", "/v1/files/a%2Fb", [][2]string{{"x-api-key", k.reader}}, 400, "bad_path", "", k.reader},
		{"escapes root", "/v1/../../etc/passwd", [][2]string{{"x-api-key", k.billing}}, 400, "bad_path", "", k.billing},
		{"page zero", "/v1/orders?page=0", [][2]string{{"x-api-key", k.billing}}, 400, "bad_pagination", "", k.billing},
		{"limit in brackets", "/v1/orders?limit[]=500", [][2]string{{"x-api-key", k.billing}}, 400, "bad_pagination", "", k.billing},
		{"limit indexed", "/v1/orders?limit[0]=500", [][2]string{{"x-api-key", k.billing}}, 400, "bad_pagination", "", k.billing},
		{"limit behind ;", "/v1/orders?x=1;limit=500", [][2]string{{"x-api-key", k.billing}}, 400, "bad_pagination", "", k.billing},
		{"limit two spellings", "/v1/orders?limit=5&limit[]=5", [][2]string{{"x-api-key", k.billing}}, 400, "bad_pagination", "", k.billing},
		{"query key two spellings", "/v1/orders/1?api_key=" + k.billing + "&api_key[]=" + k.billing, nil, 400, "invalid_request", "", k.billing},
		{"fragment", "/v1/orders/1#x", [][2]string{{"x-api-key", k.billing}}, 400, "bad_path", "", k.billing},
		{"fragment in query", "/v1/orders?limit=5#x", [][2]string{{"x-api-key", k.billing}}, 400, "bad_path", "", k.billing},
		{"overlong dot", "/v1/files/%C0%AE%C0%AE/secret", [][2]string{{"x-api-key", k.reader}}, 400, "bad_path", "", k.reader},
		{"no route", "/admin", [][2]string{{"x-api-key", k.billing}}, 403, "no_route", "", k.billing},
		{"method not allowed by route", "/v1/orders", [][2]string{{":method", "DELETE"}, {"x-api-key", k.billing}}, 403, "no_route", "", k.billing},
	}
	// One VM per runner serves every case; each case gets a fresh host
	// emulator and plugin context.
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				e := start(t, vm, testConfig(t, k, nil))
				o := e.do(tc.path, tc.headers...)
				if o.local == nil {
					t.Fatalf("forwarded (action %v), want %d %s", o.action, tc.status, tc.reason)
				}
				if o.action != types.ActionPause {
					t.Errorf("action = %v, want pause", o.action)
				}
				if int(o.local.StatusCode) != tc.status {
					t.Errorf("status = %d, want %d; body %s", o.local.StatusCode, tc.status, o.local.Data)
				}
				if ct, _ := header(o.local.Headers, "content-type"); ct != "application/problem+json" {
					t.Errorf("content-type = %q", ct)
				}
				got, ok := header(o.local.Headers, "www-authenticate")
				if tc.wwwAuth == "" && ok {
					t.Errorf("unexpected WWW-Authenticate %q", got)
				} else if tc.wwwAuth != "" && got != tc.wwwAuth {
					t.Errorf("WWW-Authenticate = %q, want %q", got, tc.wwwAuth)
				}
				var p problem
				if err := json.Unmarshal(o.local.Data, &p); err != nil {
					t.Fatalf("body is not JSON: %v: %s", err, o.local.Data)
				}
				if p.Status != tc.status || !strings.HasSuffix(p.Type, "/"+tc.reason) || p.Title == "" || p.Detail == "" {
					t.Errorf("problem = %+v, want status %d and type ending /%s", p, tc.status, tc.reason)
				}
				if n := e.counter("apiguard.decision." + tc.reason); n != 1 {
					t.Errorf("apiguard.decision.%s = %d, want 1", tc.reason, n)
				}
				if n := e.counter("apiguard.decision.allowed"); n != 0 {
					t.Errorf("apiguard.decision.allowed = %d, want 0", n)
				}
				logs := e.logs(logWarn)
				if len(logs) != 1 {
					t.Fatalf("want one log line for the denial, got %q", logs)
				}
				var line map[string]any
				if err := json.Unmarshal([]byte(logs[0]), &line); err != nil {
					t.Fatalf("log line is not JSON: %v: %s", err, logs[0])
				}
				if line["reason"] != tc.reason || line["decision"] != "deny" || line["status"] != float64(tc.status) ||
					line["client_ip"] != "192.0.2.7" || strings.Contains(line["path"].(string), "?") {
					t.Errorf("log line = %s", logs[0])
				}
				if tc.secretKey != "" {
					for _, where := range append([]string{string(o.local.Data)}, allLogs(e)...) {
						if strings.Contains(where, tc.secretKey) {
							t.Errorf("the presented key leaked into %q", where)
						}
					}
				}
			})
		}
	})
}

func allLogs(e *env) []string {
	var all []string
	for level := logTrace; level <= logCritical; level++ {
		all = append(all, e.logs(level)...)
	}
	return all
}

func TestKeyValidityFollowsRequestTime(t *testing.T) {
	k := newTestKeys(t)
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		e := start(t, vm, testConfig(t, k, nil))
		e.setTime(time.Date(2025, 12, 31, 23, 59, 59, 0, time.UTC))
		if o := e.do("/v1/orders/1", [2]string{"x-api-key", k.billingExpired}); o.local != nil {
			t.Errorf("key valid until 2026-01-01 denied the second before: %d", o.local.StatusCode)
		}
		e.setTime(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
		if o := e.do("/v1/orders/1", [2]string{"x-api-key", k.billingFuture}); o.local != nil {
			t.Errorf("key valid from 2027-01-01 denied at that instant: %d", o.local.StatusCode)
		}
	})
}

func TestPaginationClampAndDefault(t *testing.T) {
	k := newTestKeys(t)
	clamp := func(cfg map[string]any) {
		cfg["pagination"].(map[string]any)["standard"].(map[string]any)["on_violation"] = "clamp"
	}
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		e := start(t, vm, testConfig(t, k, clamp))
		for _, tc := range []struct{ path, want string }{
			{"/v1/orders?limit=1000&offset=3", "/v1/orders?limit=100&offset=3"},
			{"/v1/orders?status=open", "/v1/orders?status=open&limit=20"},
			{"/v1/orders", "/v1/orders?limit=20"},
		} {
			o := e.do(tc.path, [2]string{"x-api-key", k.billing})
			if o.local != nil {
				t.Fatalf("%s denied: %d %s", tc.path, o.local.StatusCode, o.local.Data)
			}
			if got, _ := header(o.upstream, ":path"); got != tc.want {
				t.Errorf("%s forwarded as %q, want %q", tc.path, got, tc.want)
			}
		}
		// Malformed values, values below the minimum and values beyond
		// int64 are rejected even in clamp mode.
		for _, path := range []string{"/v1/orders?limit=-1", "/v1/orders?limit=0", "/v1/orders?page=0",
			"/v1/orders?limit=99999999999999999999999", "/v1/orders?limit[]=500&limit=5"} {
			if o := e.do(path, [2]string{"x-api-key", k.billing}); o.local == nil || o.local.StatusCode != 400 {
				t.Errorf("%s in clamp mode: %+v", path, o.local)
			}
		}
	})
}

func TestShadowModeNeverBlocks(t *testing.T) {
	k := newTestKeys(t)
	shadow := func(cfg map[string]any) { cfg["mode"] = "shadow" }
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		e := start(t, vm, testConfig(t, k, shadow))
		o := e.do("/v1/orders?api_key="+k.unknown, [2]string{"x-apiguard-consumer", "spoofed"},
			[2]string{"x_apiguard_key_id", "spoofed"}, [2]string{"x-apiguard_scopes", "everything"})
		if o.local != nil || o.action != types.ActionContinue {
			t.Fatalf("shadow mode blocked: %+v", o.local)
		}
		if got, _ := header(o.upstream, ":path"); got != "/v1/orders?api_key="+k.unknown {
			t.Errorf("shadow mode rewrote :path to %q", got)
		}
		for _, name := range []string{"x-apiguard-consumer", "x_apiguard_key_id", "x-apiguard_scopes", "x-apiguard-key-id", "x-apiguard-scopes"} {
			if v, ok := header(o.upstream, name); ok {
				t.Errorf("shadow mode forwarded %s: %q on a denied request", name, v)
			}
		}
		if n := e.counter("apiguard.shadow.would_deny"); n != 1 {
			t.Errorf("apiguard.shadow.would_deny = %d, want 1", n)
		}
		if n := e.counter("apiguard.decision.unknown"); n != 1 {
			t.Errorf("apiguard.decision.unknown = %d, want 1", n)
		}
		logs := e.logs(logWarn)
		if len(logs) != 1 || !strings.Contains(logs[0], `"decision":"shadow_deny"`) || strings.Contains(logs[0], k.unknown) {
			t.Errorf("shadow log = %q", logs)
		}
	})
}

// TestShadowModeSetsIdentityOnly: an allowed request in shadow mode gets
// the identity headers (spoofed copies replaced), and nothing else changes:
// the credential and the pagination parameters stay as sent.
func TestShadowModeSetsIdentityOnly(t *testing.T) {
	k := newTestKeys(t)
	shadow := func(cfg map[string]any) { cfg["mode"] = "shadow" }
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		e := start(t, vm, testConfig(t, k, shadow))
		o := e.do("/v1/orders?api_key="+k.billing+"&x=1", [2]string{"x_apiguard_consumer", "admin"},
			[2]string{"x-apiguard-consumer", "admin"})
		if o.local != nil {
			t.Fatalf("shadow mode blocked: %+v", o.local)
		}
		if got, _ := header(o.upstream, ":path"); got != "/v1/orders?api_key="+k.billing+"&x=1" {
			t.Errorf("shadow mode rewrote :path to %q (no default limit, no stripped key)", got)
		}
		if _, ok := header(o.upstream, "x_apiguard_consumer"); ok {
			t.Error("x_apiguard_consumer forwarded in shadow mode")
		}
		for name, want := range map[string]string{"x-apiguard-consumer": "billing", "x-apiguard-key-id": "billing-2026", "x-apiguard-scopes": "orders:read orders:write"} {
			if got, _ := header(o.upstream, name); got != want || headerCount(o.upstream, name) != 1 {
				t.Errorf("upstream %s = %q (%d times), want %q once", name, got, headerCount(o.upstream, name), want)
			}
		}
		o = e.do("/v1/orders/1", [2]string{"x-api-key", k.billing})
		if got, _ := header(o.upstream, "x-api-key"); got != k.billing {
			t.Errorf("shadow mode removed the credential header: %q", got)
		}
	})
}

// TestUnderscoreIdentityHeadersRemoved: back ends that map '-' and '_' to
// one name must not see a spoofed identity under the other spelling.
func TestUnderscoreIdentityHeadersRemoved(t *testing.T) {
	k := newTestKeys(t)
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		e := start(t, vm, testConfig(t, k, nil))
		for _, path := range []string{"/v1/orders/1", "/healthz"} {
			o := e.do(path, [2]string{"x-api-key", k.billing}, [2]string{"x_apiguard_consumer", "admin"},
				[2]string{"X_Apiguard_Key-Id", "forged"}, [2]string{"x_apiguard_scopes", "everything"}, [2]string{"x_api_key", "also-gone"})
			if o.local != nil {
				t.Fatalf("%s denied: %d %s", path, o.local.StatusCode, o.local.Data)
			}
			for _, name := range []string{"x_apiguard_consumer", "X_Apiguard_Key-Id", "x_apiguard_scopes", "x_api_key"} {
				if v, ok := header(o.upstream, name); ok {
					t.Errorf("%s: %s forwarded: %q", path, name, v)
				}
			}
		}
	})
}

// TestCredentialUnderAnotherSpellingRemoved: with hide_credentials, a key
// sent as x_api_key (read by CGI-style back ends as x-api-key) never
// reaches the upstream: not on a public route, and not when the request
// authenticated with the query parameter; a client's quota header goes
// under every spelling, in enforce and shadow mode.
func TestCredentialUnderAnotherSpellingRemoved(t *testing.T) {
	k := newTestKeys(t)
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		var e *env
		for _, mode := range []string{"enforce", "shadow"} {
			config := testConfig(t, k, func(cfg map[string]any) { cfg["mode"] = mode })
			if e == nil {
				e = start(t, vm, config)
			} else {
				e.pushConfig(config)
			}
			for _, c := range []struct {
				name, path string
				headers    [][2]string
			}{
				{"public route", "/healthz", [][2]string{{"x_api_key", k.reader}}},
				{"key in the query", "/v1/orders/1?api_key=" + k.billing, [][2]string{{"X_Api_Key", k.reader}}},
				{"authorization scheme spelled otherwise", "/v1/orders/1", [][2]string{{"x-api-key", k.billing}, {"x_api-key", k.reader}}},
			} {
				hs := append(c.headers, [2]string{"x_apiguard_quota", "forged"}, [2]string{"x-apiguard_quota", "forged"},
					[2]string{"X-APIGUARD-QUOTA", "forged"})
				o := e.do(c.path, hs...)
				if o.local != nil {
					t.Fatalf("%s %s: denied %d %s", mode, c.name, o.local.StatusCode, o.local.Data)
				}
				for _, h := range o.upstream {
					if policy.SameHeaderName(h[0], "x-apiguard-quota") {
						t.Errorf("%s %s: client quota header %q forwarded", mode, c.name, h[0])
					}
					if mode == "enforce" && h[1] == k.reader {
						t.Errorf("%s %s: credential forwarded as %q", mode, c.name, h[0])
					}
				}
			}
		}
	})
}

// TestMostSpecificRouteWinsInFilter: a broad read route listed first does
// not take over the stricter create route.
func TestMostSpecificRouteWinsInFilter(t *testing.T) {
	k := newTestKeys(t)
	routes := func(cfg map[string]any) {
		cfg["routes"] = append([]any{
			map[string]any{"name": "read-anything", "path": "/v1/*", "scopes": []any{"files:read"}},
		}, cfg["routes"].([]any)...)
		cfg["routes"] = append(cfg["routes"].([]any),
			map[string]any{"name": "create-order", "methods": []any{"POST"}, "path": "/v1/orders", "scopes": []any{"orders:write"}})
	}
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		e := start(t, vm, testConfig(t, k, routes))
		if o := e.do("/v1/orders", [2]string{":method", "POST"}, [2]string{"x-api-key", k.reader}); o.local == nil || o.local.StatusCode != 403 {
			t.Errorf("POST /v1/orders with files:read only was not refused: %+v", o.local)
		}
		if o := e.do("/v1/orders", [2]string{":method", "POST"}, [2]string{"x-api-key", k.billing}); o.local != nil {
			t.Errorf("POST /v1/orders with orders:write refused: %d %s", o.local.StatusCode, o.local.Data)
		}
		if o := e.do("/v1/anything", [2]string{"x-api-key", k.reader}); o.local != nil {
			t.Errorf("GET /v1/anything with files:read refused: %d %s", o.local.StatusCode, o.local.Data)
		}
	})
}

// TestDenialLogNamesFoundKey: the log of a revoked, expired or not yet
// valid key names its consumer and key id, never the key.
func TestDenialLogNamesFoundKey(t *testing.T) {
	k := newTestKeys(t)
	cases := []struct{ reason, key, keyID string }{
		{"revoked", k.billingRevoked, "billing-2025"},
		{"expired", k.billingExpired, "billing-2024"},
		{"not_yet_valid", k.billingFuture, "billing-2027"},
		{"unknown", k.unknown, ""},
	}
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		for _, tc := range cases {
			t.Run(tc.reason, func(t *testing.T) { denialLogNamesFoundKey(t, vm, k, tc.reason, tc.key, tc.keyID) })
		}
	})
}

func denialLogNamesFoundKey(t *testing.T, vm vmtest.Runner, k testKeys, reason, key, keyID string) {
	e := start(t, vm, testConfig(t, k, nil))
	e.do("/v1/orders", [2]string{"x-api-key", key})
	logs := e.warnLogs()
	if len(logs) != 1 {
		t.Fatalf("log lines %q", logs)
	}
	var line map[string]any
	if err := json.Unmarshal([]byte(logs[0]), &line); err != nil {
		t.Fatal(err)
	}
	consumer := "billing"
	if keyID == "" {
		consumer = ""
	}
	if line["reason"] != reason || line["consumer"] != consumer || line["key_id"] != keyID {
		t.Errorf("log %s, want reason %s, consumer %q, key_id %q", logs[0], reason, consumer, keyID)
	}
	for _, l := range allLogs(e) {
		if strings.Contains(l, key) {
			t.Errorf("key leaked into %q", l)
		}
	}
}

func TestRateLimitBurstRetryAfterAndRefill(t *testing.T) {
	k := newTestKeys(t)
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		e := start(t, vm, testConfig(t, k, nil))
		// anonymous: 1 request per second, burst 2, keyed by client IP.
		for i := range 2 {
			o := e.do("/healthz")
			if o.local != nil {
				t.Fatalf("request %d denied: %d", i, o.local.StatusCode)
			}
			if v, ok := header(o.response, "ratelimit"); !ok || !strings.Contains(v, "r="+strconv.Itoa(1-i)) {
				t.Errorf("request %d: RateLimit = %q, want r=%d", i, v, 1-i)
			}
			if _, ok := header(o.response, "ratelimit-policy"); !ok {
				t.Errorf("request %d: no RateLimit-Policy on the response", i)
			}
		}
		o := e.do("/healthz")
		if o.local == nil || o.local.StatusCode != 429 {
			t.Fatalf("third request in the same instant: %+v, want 429", o.local)
		}
		if ra, _ := header(o.local.Headers, "retry-after"); ra != "1" {
			t.Errorf("Retry-After = %q, want 1", ra)
		}
		for _, h := range []string{"ratelimit", "ratelimit-policy"} {
			if _, ok := header(o.local.Headers, h); !ok {
				t.Errorf("429 without %s", h)
			}
		}
		if n := e.counter("apiguard.decision.rate_limited"); n != 1 {
			t.Errorf("apiguard.decision.rate_limited = %d, want 1", n)
		}
		e.setTime(testNow.Add(time.Second))
		if o := e.do("/healthz"); o.local != nil {
			t.Errorf("after one second the bucket should have refilled one token: %d", o.local.StatusCode)
		}
		if o := e.do("/healthz"); o.local == nil || o.local.StatusCode != 429 {
			t.Errorf("only one token refills per second: %+v", o.local)
		}
	})
}

func TestBadConfigFailsStartWithPath(t *testing.T) {
	k := newTestKeys(t)
	cases := []struct {
		name   string
		config []byte
		want   string // in a critical log line
	}{
		{"empty", nil, "empty"},
		{"not JSON", []byte("{"), "JSON"},
		{"unknown field", testConfig(t, k, func(c map[string]any) { c["moode"] = "x" }), "moode"},
		{"bad mode", testConfig(t, k, func(c map[string]any) { c["mode"] = "off" }), "mode"},
		{"unknown profile", testConfig(t, k, func(c map[string]any) {
			c["routes"].([]any)[0].(map[string]any)["pagination"] = "standrd"
		}), `routes[0].pagination`},
		{"bad hash", testConfig(t, k, func(c map[string]any) {
			c["consumers"].([]any)[0].(map[string]any)["keys"].([]any)[0].(map[string]any)["sha256"] = "XYZ"
		}), `consumers[0].keys[0].sha256`},
		{"bad time", testConfig(t, k, func(c map[string]any) {
			c["consumers"].([]any)[0].(map[string]any)["keys"].([]any)[0].(map[string]any)["not_after"] = "tomorrow"
		}), `consumers[0].keys[0].not_after`},
		{"bad duration", testConfig(t, k, func(c map[string]any) {
			c["rate_limits"].(map[string]any)["gold"].(map[string]any)["per"] = "soon"
		}), `rate_limits.gold.per`},
		{"misspelt field", testConfig(t, k, func(c map[string]any) {
			cs := c["consumers"].([]any)[0].(map[string]any)
			cs["scope"] = cs["scopes"]
			delete(cs, "scopes")
		}), `consumers[0].scope: unknown field (did you mean "scopes"?)`},
		{"same pattern and method", testConfig(t, k, func(c map[string]any) {
			c["routes"] = append(c["routes"].([]any), map[string]any{"name": "orders-again", "methods": []any{"GET"}, "path": "/v1/orders/{order}"})
		}), `routes[4].path: route "orders-again" and route "get-order" (routes[1])`},
		{"max below default", testConfig(t, k, func(c map[string]any) {
			c["pagination"].(map[string]any)["standard"].(map[string]any)["max_limit"] = 5
		}), `pagination.standard`},
	}
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				e := startWithStatus(t, vm, tc.config, types.OnPluginStartStatusFailed)
				logs := e.logs(logCritical)
				found := false
				for _, l := range logs {
					found = found || strings.Contains(l, tc.want)
				}
				if !found {
					t.Errorf("no critical log line mentions %q: %q", tc.want, logs)
				}
				if n := e.counter("apiguard.config.errors"); n == 0 || n != uint64(len(logs)) {
					t.Errorf("apiguard.config.errors = %d, want one per logged error (%d)", n, len(logs))
				}
			})
		}
	})
}

// TestConfigWarningsLoggedAtStart: a valid configuration with a route scope
// no consumer is granted starts, and says so in one warning per problem.
func TestConfigWarningsLoggedAtStart(t *testing.T) {
	k := newTestKeys(t)
	cfg := testConfig(t, k, func(c map[string]any) {
		c["routes"].([]any)[0].(map[string]any)["scopes"] = []any{"orders:read", "orders:admin"}
	})
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		e := start(t, vm, cfg)
		var warnings []string
		for _, l := range e.logs(logWarn) {
			if strings.Contains(l, "configuration warning") {
				warnings = append(warnings, l)
			}
		}
		want := `apiguard: configuration warning: routes[0].scopes[1]: no consumer is granted scope "orders:admin"`
		if len(warnings) != 1 || !strings.HasPrefix(warnings[0], want) {
			t.Errorf("warnings %q, want one starting %q", warnings, want)
		}
		if n := e.counter("apiguard.config.errors"); n != 0 {
			t.Errorf("apiguard.config.errors = %d, want 0: warnings are not errors", n)
		}
	})
}

// TestAnonymousBucketWithoutAnIPAddress: on an internal listener Envoy's
// source.address is "envoy://internal_client_address/", and for a Unix
// socket a path. Such requests are not refused and not left unlimited: they
// share one anonymous bucket, apart from the buckets of real client IPs.
func TestAnonymousBucketWithoutAnIPAddress(t *testing.T) {
	k := newTestKeys(t)
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		e := start(t, vm, testConfig(t, k, nil), withSourceAddress("envoy://internal_client_address/"))
		// anonymous: burst 2.
		for i := range 2 {
			if o := e.do("/healthz"); o.local != nil {
				t.Fatalf("request %d denied: %d %s", i, o.local.StatusCode, o.local.Data)
			}
		}
		e.setSourceAddress("/var/run/envoy/ingress.sock")
		if o := e.do("/healthz"); o.local == nil || o.local.StatusCode != 429 {
			t.Fatalf("a Unix-socket peer after two internal-listener requests: %+v, want 429 (one shared bucket)", o.local)
		}
		for _, addr := range []string{"[2001:db8::1]:443", "198.51.100.4:5000"} {
			e.setSourceAddress(addr)
			if o := e.do("/healthz"); o.local != nil {
				t.Errorf("client %s denied: %d %s", addr, o.local.StatusCode, o.local.Data)
			}
		}
		if n := e.counter("apiguard.internal_errors"); n != 0 {
			t.Errorf("apiguard.internal_errors = %d, want 0", n)
		}
		if logs := strings.Join(e.logs(logWarn), "\n"); strings.Contains(logs, `"client_ip":"envoy"`) {
			t.Errorf("the scheme of an internal address was logged as the client IP:\n%s", logs)
		}
	})
}

func TestHostOf(t *testing.T) {
	for addr, want := range map[string]string{
		"192.0.2.7:41000":                  "192.0.2.7",
		"[2001:db8::1]:443":                "2001:db8::1",
		"[fe80::1%eth0]:80":                "fe80::1%eth0",
		"192.0.2.7":                        "192.0.2.7",
		"2001:db8::1":                      "2001:db8::1",
		"envoy://internal_client_address/": "",
		"/var/run/envoy.sock":              "",
		"@abstract":                        "",
		"[2001:db8::1":                     "",
		"example.com:80":                   "",
		":80":                              "",
	} {
		if got := hostOf(addr); got != want {
			t.Errorf("hostOf(%q) = %q, want %q", addr, got, want)
		}
	}
}
