package policy

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apiguard/apiguard/policy/keymat"
)

func TestDecide(t *testing.T) {
	p, keys := loadExample(t)
	billing, old, reports := keys["billing-2026"], keys["billing-2025"], keys["reports-2026"]
	// A well-formed key (right prefix and checksum) that is not configured.
	stranger, err := keymat.Generate("agk_", strings.NewReader(strings.Repeat("0123456789", 20)))
	if err != nil {
		t.Fatal(err)
	}
	// billing's key with the last checksum character changed.
	badSum := billing[:len(billing)-1] + string("10"[map[bool]int{true: 1}[billing[len(billing)-1] == '1']])

	tests := []struct {
		name    string
		r       Request
		reason  Reason
		status  int
		route   string
		newPath string
		detail  string // substring
	}{
		// Credentials.
		{"header key", get("/v1/orders/42", "x-api-key", billing), ReasonAllowed, 200, "get-order", "", ""},
		{"header name case", get("/v1/orders/42", "X-Api-Key", billing), ReasonAllowed, 200, "get-order", "", ""},
		{"authorization scheme", get("/v1/orders/42", "authorization", "ApiKey "+billing), ReasonAllowed, 200, "get-order", "", ""},
		{"authorization scheme case", get("/v1/orders/42", "authorization", "apikey  "+billing), ReasonAllowed, 200, "get-order", "", ""},
		{"authorization other scheme", get("/v1/orders/42", "authorization", "Bearer "+billing), ReasonMissing, 401, "get-order", "", "requires"},
		{"authorization longer scheme", get("/v1/orders/42", "authorization", "ApiKeys "+billing), ReasonMissing, 401, "get-order", "", ""},
		{"authorization scheme only", get("/v1/orders/42", "authorization", "ApiKey"), ReasonMalformed, 401, "get-order", "", ""},
		{"authorization trailing space", get("/v1/orders/42", "authorization", "ApiKey "+billing+" "), ReasonMalformed, 401, "get-order", "", ""},
		{"query key stripped", get("/v1/orders/42?a=1&api_key=" + billing + "&b=2"), ReasonAllowed, 200, "get-order", "/v1/orders/42?a=1&b=2", ""},
		{"query key encoded name", get("/v1/orders/42?api%5Fkey=" + billing), ReasonAllowed, 200, "get-order", "/v1/orders/42", ""},
		{"query key bad escape", get("/v1/orders/42?api_key=%zz"), ReasonMalformed, 401, "get-order", "", ""},
		{"missing", get("/v1/orders/42"), ReasonMissing, 401, "get-order", "", ""},
		{"empty key", get("/v1/orders/42", "x-api-key", ""), ReasonMalformed, 401, "get-order", "", ""},
		{"key with space", get("/v1/orders/42", "x-api-key", billing[:10]+" "+billing[10:]), ReasonMalformed, 401, "get-order", "", ""},
		{"key with tab", get("/v1/orders/42", "x-api-key", billing+"\t"), ReasonMalformed, 401, "get-order", "", ""},
		{"unicode key", get("/v1/orders/42", "x-api-key", "agk_é"+billing[6:]), ReasonMalformed, 401, "get-order", "", ""},
		{"invalid utf-8 key", get("/v1/orders/42", "x-api-key", "agk_\xff"+billing[5:]), ReasonMalformed, 401, "get-order", "", ""},
		{"huge key", get("/v1/orders/42", "x-api-key", "agk_"+strings.Repeat("a", 600)), ReasonMalformed, 401, "get-order", "", ""},
		{"wrong prefix", get("/v1/orders/42", "x-api-key", "xyz_"+billing[4:]), ReasonMalformed, 401, "get-order", "", ""},
		{"bad checksum", get("/v1/orders/42", "x-api-key", badSum), ReasonMalformed, 401, "get-order", "", ""},
		{"unknown", get("/v1/orders/42", "x-api-key", stranger), ReasonUnknown, 401, "get-order", "", ""},
		{"revoked", get("/v1/orders/42", "x-api-key", old), ReasonRevoked, 401, "get-order", "", ""},
		{"two sources same key", get("/v1/orders/42", "x-api-key", billing, "authorization", "ApiKey "+billing), ReasonInvalidRequest, 400, "get-order", "", ""},
		{"header and query", get("/v1/orders/42?api_key="+reports, "x-api-key", billing), ReasonInvalidRequest, 400, "get-order", "", ""},
		{"repeated header", get("/v1/orders/42", "x-api-key", billing, "x-api-key", billing), ReasonInvalidRequest, 400, "get-order", "", ""},
		{"repeated query param", get("/v1/orders/42?api_key=" + billing + "&api_key=" + billing), ReasonInvalidRequest, 400, "get-order", "", ""},

		// Routes and methods.
		{"method restricted", req("DELETE", "/v1/orders/42", "x-api-key", billing), ReasonNoRoute, 403, "", "", ""},
		{"lower-case method", req("get", "/v1/orders/42", "x-api-key", billing), ReasonNoRoute, 403, "", "", ""},
		{"mixed-case method", req("Get", "/v1/orders/42", "x-api-key", billing), ReasonNoRoute, 403, "", "", ""},
		{"same path other method", req("POST", "/v1/orders", "x-api-key", billing), ReasonAllowed, 200, "create-order", "", ""},
		{"scope missing", req("POST", "/v1/orders", "x-api-key", reports), ReasonInsufficientScope, 403, "create-order", "", "orders:write"},
		{"wildcard", get("/v1/files/a/b.txt", "x-api-key", reports), ReasonAllowed, 200, "files", "", ""},
		{"wildcard base", get("/v1/files", "x-api-key", reports), ReasonAllowed, 200, "files", "", ""},
		{"wildcard scope", get("/v1/files/x", "x-api-key", billing), ReasonInsufficientScope, 403, "files", "", "files:read"},
		{"param needs a segment", get("/v1/orders/", "x-api-key", billing), ReasonNoRoute, 403, "", "", ""},
		{"no route unauthenticated", get("/admin"), ReasonMissing, 401, "", "", ""},
		{"no route authenticated", get("/admin", "x-api-key", billing), ReasonNoRoute, 403, "", "", ""},
		{"public", get("/healthz"), ReasonAllowed, 200, "health", "", ""},
		{"public ignores bad key", get("/healthz", "x-api-key", "garbage"), ReasonAllowed, 200, "health", "", ""},
		{"public ignores two keys", get("/healthz?api_key=x", "x-api-key", "y"), ReasonAllowed, 200, "health", "/healthz", ""},

		// Path normalization.
		{"dot dot", get("/v1/files/../orders/42", "x-api-key", billing), ReasonAllowed, 200, "get-order", "/v1/orders/42", ""},
		{"encoded dot dot", get("/v1/files/%2e%2E/orders/42", "x-api-key", billing), ReasonAllowed, 200, "get-order", "/v1/orders/42", ""},
		{"double slash", get("//v1//orders//42", "x-api-key", billing), ReasonAllowed, 200, "get-order", "/v1/orders/42", ""},
		{"encoded unreserved", get("/v1/%6Frders/42?x=1", "x-api-key", billing), ReasonAllowed, 200, "get-order", "/v1/orders/42?x=1", ""},
		{"encoded slash", get("/v1/files%2F..%2Forders", "x-api-key", billing), ReasonBadPath, 400, "", "", "encoded slash"},
		{"encoded backslash", get("/v1/files%5c", "x-api-key", billing), ReasonBadPath, 400, "", "", "encoded slash"},
		{"escapes root", get("/v1/../../etc/passwd", "x-api-key", billing), ReasonBadPath, 400, "", "", "root"},
		{"encoded escapes root", get("/%2e%2e/x"), ReasonBadPath, 400, "", "", "root"},
		{"bad escape", get("/v1/orders/%4"), ReasonBadPath, 400, "", "", "percent"},
		{"bad escape hex", get("/v1/orders/%zz"), ReasonBadPath, 400, "", "", "percent"},
		{"not absolute", get("v1/orders"), ReasonBadPath, 400, "", "", "start"},
		{"empty path", get(""), ReasonBadPath, 400, "", "", "start"},
		{"raw unicode", get("/v1/orders/é"), ReasonBadPath, 400, "", "", "character"},
		{"raw backslash", get("/v1\\orders"), ReasonBadPath, 400, "", "", "character"},
		{"dot dot with params", get("/healthz/..;/v1/orders"), ReasonBadPath, 400, "", "", "dot segment"},

		// Pagination.
		{"default limit added", get("/v1/orders?sort=asc", "x-api-key", billing), ReasonAllowed, 200, "list-orders", "/v1/orders?sort=asc&limit=20", ""},
		{"default limit no query", get("/v1/orders", "x-api-key", billing), ReasonAllowed, 200, "list-orders", "/v1/orders?limit=20", ""},
		{"limit ok", get("/v1/orders?limit=100&offset=10000", "x-api-key", billing), ReasonAllowed, 200, "list-orders", "", ""},
		{"limit too large", get("/v1/orders?limit=101", "x-api-key", billing), ReasonBadPagination, 400, "list-orders", "", `parameter "limit" must be <= 100`},
		{"limit zero", get("/v1/orders?limit=0", "x-api-key", billing), ReasonBadPagination, 400, "list-orders", "", `must be >= 1`},
		{"limit exponent", get("/v1/orders?limit=1e3", "x-api-key", billing), ReasonBadPagination, 400, "list-orders", "", "integer"},
		{"limit plus", get("/v1/orders?limit=+5", "x-api-key", billing), ReasonBadPagination, 400, "list-orders", "", "integer"},
		{"limit encoded plus", get("/v1/orders?limit=%2B5", "x-api-key", billing), ReasonBadPagination, 400, "list-orders", "", "integer"},
		{"limit minus", get("/v1/orders?limit=-1", "x-api-key", billing), ReasonBadPagination, 400, "list-orders", "", "integer"},
		{"limit leading zero", get("/v1/orders?limit=010", "x-api-key", billing), ReasonBadPagination, 400, "list-orders", "", "integer"},
		{"limit empty", get("/v1/orders?limit=", "x-api-key", billing), ReasonBadPagination, 400, "list-orders", "", "integer"},
		{"limit huge", get("/v1/orders?limit=99999999999999999999999999", "x-api-key", billing), ReasonBadPagination, 400, "list-orders", "", "integer between 1 and 100"},
		{"limit encoded", get("/v1/orders?limit=%31%30%31", "x-api-key", billing), ReasonBadPagination, 400, "list-orders", "", "<= 100"},
		{"limit encoded name", get("/v1/orders?li%6Dit=101", "x-api-key", billing), ReasonBadPagination, 400, "list-orders", "", "<= 100"},
		{"limit duplicate", get("/v1/orders?limit=1&limit=2", "x-api-key", billing), ReasonBadPagination, 400, "list-orders", "", "at most once"},
		{"offset too large", get("/v1/orders?offset=10001", "x-api-key", billing), ReasonBadPagination, 400, "list-orders", "", `"offset" must be <= 10000`},
		{"page too large", get("/v1/orders?page=501", "x-api-key", billing), ReasonBadPagination, 400, "list-orders", "", `"page" must be <= 500`},
		{"page zero", get("/v1/orders?page=0&limit=5", "x-api-key", billing), ReasonBadPagination, 400, "list-orders", "", `"page" must be >= 1`},
		{"fragment in query", get("/v1/orders?a=1#x", "x-api-key", billing), ReasonBadPath, 400, "", "", "'#'"},
		{"overlong dot", get("/v1/orders/%C0%AE%C0%AE/x", "x-api-key", billing), ReasonBadPath, 400, "", "", "UTF-8"},
		{"query key after ;", get("/v1/orders/42?a=1;api_key=" + billing), ReasonAllowed, 200, "get-order", "/v1/orders/42?a=1", ""},
		{"query key in brackets", get("/v1/orders/42?api_key[]=" + billing), ReasonAllowed, 200, "get-order", "/v1/orders/42", ""},
		{"query key two spellings", get("/v1/orders/42?api_key=" + billing + "&api_key[0]=" + billing), ReasonInvalidRequest, 400, "get-order", "", ""},
		{"query key hidden behind ;", get("/v1/orders/42?x=1;api_key="+billing, "x-api-key", billing), ReasonInvalidRequest, 400, "get-order", "", ""},
		{"cursor too long", get("/v1/orders?cursor="+strings.Repeat("a", 513), "x-api-key", billing), ReasonBadPagination, 400, "list-orders", "", "512"},
		{"cursor ok", get("/v1/orders?limit=5&cursor="+strings.Repeat("a", 512), "x-api-key", billing), ReasonAllowed, 200, "list-orders", "", ""},
		{"offset and cursor", get("/v1/orders?offset=1&cursor=abc&limit=5", "x-api-key", billing), ReasonBadPagination, 400, "list-orders", "", "cannot be combined"},
		{"pagination with query key", get("/v1/orders?api_key="+billing+"&limit=5", "x-api-key", ""), ReasonInvalidRequest, 400, "list-orders", "", ""},
		{"pagination strips query key", get("/v1/orders?api_key=" + billing + "&page=2"), ReasonAllowed, 200, "list-orders", "/v1/orders?page=2&limit=20", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := p.Decide(tt.r)
			if d.Reason != tt.reason || d.Status != tt.status || d.Route != tt.route || d.Upstream.NewPath != tt.newPath {
				t.Fatalf("got reason=%s status=%d route=%q newPath=%q detail=%q; want %s %d %q %q",
					d.Reason, d.Status, d.Route, d.Upstream.NewPath, d.Problem.Detail, tt.reason, tt.status, tt.route, tt.newPath)
			}
			if !strings.Contains(d.Problem.Detail, tt.detail) {
				t.Errorf("detail %q does not contain %q", d.Problem.Detail, tt.detail)
			}
			if d.Allow != (tt.reason == ReasonAllowed) {
				t.Errorf("Allow = %v", d.Allow)
			}
			if !d.Allow {
				if d.Problem.Type != ProblemTypeBase+string(tt.reason) || d.Problem.Title == "" || d.Problem.Detail == "" {
					t.Errorf("problem fields: %q %q %q", d.Problem.Type, d.Problem.Title, d.Problem.Detail)
				}
				for _, k := range keys {
					if strings.Contains(d.Problem.Detail, k) || strings.Contains(d.Problem.Title, k) {
						t.Errorf("detail leaks a key: %q", d.Problem.Detail)
					}
				}
				if i := strings.IndexByte(tt.r.Path, '?'); i >= 0 && strings.Contains(d.Problem.Detail, tt.r.Path[i:]) {
					t.Errorf("detail leaks the query: %q", d.Problem.Detail)
				}
			}
		})
	}
}

func TestDecideKeyValidity(t *testing.T) {
	p, keys := loadExample(t)
	tests := []struct {
		at     time.Time
		reason Reason
	}{
		{time.Date(2025, 12, 31, 23, 59, 59, 0, time.UTC), ReasonNotYetValid},
		{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), ReasonAllowed},
		{time.Date(2026, 12, 31, 23, 59, 59, 999999999, time.UTC), ReasonAllowed},
		{time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), ReasonExpired},
		{time.Time{}, ReasonNotYetValid},
	}
	for _, tt := range tests {
		r := get("/v1/orders/1", "x-api-key", keys["billing-2026"])
		r.Now = tt.at
		if d := p.Decide(r); d.Reason != tt.reason {
			t.Errorf("at %v: reason %s, want %s", tt.at, d.Reason, tt.reason)
		}
	}
}

func TestDecideHeaders(t *testing.T) {
	p, keys := loadExample(t)
	identity := []string{"x-apiguard-consumer", "x-apiguard-key-id", "x-apiguard-scopes"}
	tests := []struct {
		name     string
		r        Request
		remove   []string
		set      [3][2]string
		response [][2]string
	}{
		{
			name:   "x-api-key",
			r:      get("/v1/orders/1", "x-api-key", keys["billing-2026"], "authorization", "Basic abc"),
			remove: append(identity[:3:3], "x-api-key"),
			set:    [3][2]string{{"x-apiguard-consumer", "billing"}, {"x-apiguard-key-id", "billing-2026"}, {"x-apiguard-scopes", "orders:read orders:write"}},
		},
		{
			name:   "authorization",
			r:      get("/v1/orders/1", "authorization", "ApiKey "+keys["reports-2026"]),
			remove: append(identity[:3:3], "authorization"),
			set:    [3][2]string{{"x-apiguard-consumer", "reports"}, {"x-apiguard-key-id", "reports-2026"}, {"x-apiguard-scopes", "files:read orders:read"}},
		},
		{
			name:   "query",
			r:      get("/v1/orders/1?api_key=" + keys["reports-2026"]),
			remove: identity,
			set:    [3][2]string{{"x-apiguard-consumer", "reports"}, {"x-apiguard-key-id", "reports-2026"}, {"x-apiguard-scopes", "files:read orders:read"}},
		},
		{
			name:   "public strips presented key",
			r:      get("/healthz", "x-api-key", "whatever", "x-apiguard-consumer", "forged"),
			remove: append(identity[:3:3], "x-api-key"),
		},
		{
			name:     "missing",
			r:        get("/v1/orders/1"),
			response: [][2]string{{"www-authenticate", `ApiKey realm="apiguard"`}},
		},
		{
			name:     "unknown",
			r:        get("/v1/orders/1", "x-api-key", "agk_x"),
			response: [][2]string{{"www-authenticate", `ApiKey realm="apiguard", error="invalid_token"`}},
		},
		{
			name:     "insufficient scope",
			r:        req("POST", "/v1/orders", "x-api-key", keys["reports-2026"]),
			response: [][2]string{{"www-authenticate", `ApiKey realm="apiguard", error="insufficient_scope", scope="orders:write"`}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := p.Decide(tt.r)
			if !reflect.DeepEqual(d.Upstream.RemoveHeaders, tt.remove) {
				t.Errorf("RemoveHeaders = %q, want %q", d.Upstream.RemoveHeaders, tt.remove)
			}
			if !reflect.DeepEqual(d.Upstream.SetHeaders, tt.set) {
				t.Errorf("SetHeaders = %q, want %q", d.Upstream.SetHeaders, tt.set)
			}
			if !reflect.DeepEqual(d.Problem.ResponseHeaders, tt.response) {
				t.Errorf("ResponseHeaders = %q, want %q", d.Problem.ResponseHeaders, tt.response)
			}
		})
	}
	d := p.Decide(req("POST", "/v1/orders", "x-api-key", keys["reports-2026"]))
	if !reflect.DeepEqual(d.Problem.MissingScopes, []string{"orders:write"}) || d.Identity.Consumer != "reports" || d.Identity.KeyID != "reports-2026" || !d.Identity.KeyPresented {
		t.Errorf("insufficient scope decision: %+v", d)
	}
}

func TestDecideRateLimitSelection(t *testing.T) {
	p, keys := loadExample(t)
	tests := []struct {
		name   string
		r      Request
		limit  string
		bucket string
	}{
		{"consumer policy", get("/v1/orders/1", "x-api-key", keys["billing-2026"]), "gold", "consumer/gold/billing"},
		{"default policy", get("/v1/orders/1", "x-api-key", keys["reports-2026"]), "default", "consumer/default/reports"},
		{"public route", get("/healthz"), "anonymous", "anon/anonymous/"},
	}
	for _, tt := range tests {
		d := p.Decide(tt.r)
		if d.RateLimit.Limit == nil || d.RateLimit.Limit.Name != tt.limit || !strings.HasPrefix(d.RateLimit.BucketKey, tt.bucket) || len(d.RateLimit.PartitionKey) != 16 {
			t.Errorf("%s: limit=%v bucket=%q pk=%q", tt.name, d.RateLimit.Limit, d.RateLimit.BucketKey, d.RateLimit.PartitionKey)
		}
	}

	// Route policy beats consumer policy; a public route without a policy
	// is not limited; no policy at all means no limit.
	p2 := mustCompile(t, `{
		"consumers": [{"id": "c", "rate_limit": "a", "keys": [{"id": "k", "sha256": "`+keymat.Hash("secret")+`"}]}],
		"routes": [
			{"name": "r", "path": "/r", "rate_limit": "b"},
			{"name": "s", "path": "/s"},
			{"name": "pub", "path": "/pub", "public": true}
		],
		"rate_limits": {"a": {"requests": 1, "per": "1s"}, "b": {"requests": 2, "per": "1s"}}
	}`)
	if d := p2.Decide(get("/r", "x-api-key", "secret")); d.RateLimit.Limit == nil || d.RateLimit.Limit.Name != "b" || d.RateLimit.BucketKey != "consumer/b/c" {
		t.Errorf("route policy: %+v", d)
	}
	if d := p2.Decide(get("/s", "x-api-key", "secret")); d.RateLimit.Limit == nil || d.RateLimit.Limit.Name != "a" || d.RateLimit.Limit.Burst != 1 {
		t.Errorf("consumer policy: %+v", d)
	}
	if d := p2.Decide(get("/pub")); d.RateLimit.Limit != nil || d.RateLimit.BucketKey != "" {
		t.Errorf("public without policy: %+v", d)
	}
	p3 := mustCompile(t, `{"consumers": [{"id": "c", "keys": [{"id": "k", "sha256": "`+keymat.Hash("secret")+`"}]}], "routes": [{"name": "r", "path": "/r"}]}`)
	if d := p3.Decide(get("/r", "x-api-key", "secret")); !d.Allow || d.RateLimit.Limit != nil || d.RateLimit.BucketKey != "" {
		t.Errorf("no policy: %+v", d)
	}
}

func TestAnonymousSlots(t *testing.T) {
	p, _ := loadExample(t)
	slotOf := func(ip string) string {
		r := get("/healthz")
		r.ClientIP = ip
		return p.Decide(r).RateLimit.BucketKey
	}
	if a, b := slotOf("2001:db8:1:2::1"), slotOf("2001:db8:1:2:ffff::9"); a != b {
		t.Errorf("same /64 got different buckets %q and %q", a, b)
	}
	if a, b := slotOf("192.0.2.1"), slotOf("::ffff:192.0.2.1"); a != b {
		t.Errorf("IPv4-mapped address got a different bucket: %q %q", a, b)
	}
	seen := map[string]bool{}
	for i := 0; i < 256; i++ {
		seen[slotOf("198.51.100."+itoa(i))] = true
	}
	if len(seen) < 200 {
		t.Errorf("256 addresses fell into only %d of 4096 buckets", len(seen))
	}
	if b := slotOf(""); !strings.HasPrefix(b, "anon/anonymous/") {
		t.Errorf("empty IP: %q", b)
	}
	if b := slotOf("not an ip"); !strings.HasPrefix(b, "anon/anonymous/") {
		t.Errorf("bad IP: %q", b)
	}
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	s := ""
	for ; i > 0; i /= 10 {
		s = string(rune('0'+i%10)) + s
	}
	return s
}

func TestDecideOptions(t *testing.T) {
	key := "secret"
	base := func(extra string) string {
		return `{"consumers": [{"id": "c", "scopes": ["s"], "keys": [{"id": "k", "sha256": "` + keymat.Hash(key) + `"}]}],
			"routes": [{"name": "r", "path": "/r", "scopes": ["s"]}]` + extra + `}`
	}
	t.Run("shadow and log_allowed", func(t *testing.T) {
		p := mustCompile(t, base(`, "mode": "shadow", "log_allowed": true`))
		if !p.Shadow() || !p.LogAllowed() {
			t.Error("Shadow/LogAllowed not set")
		}
		if d := p.Decide(get("/r")); d.Allow || d.Reason != ReasonMissing {
			t.Errorf("shadow mode must still decide: %+v", d)
		}
	})
	t.Run("hide_credentials false", func(t *testing.T) {
		p := mustCompile(t, base(`, "hide_credentials": false, "key_sources": [{"header": "X-Key"}, {"query": "k"}]`))
		d := p.Decide(get("/r", "x-key", key))
		if !d.Allow || contains(d.Upstream.RemoveHeaders, "x-key") || len(d.Upstream.RemoveHeaders) != 3 {
			t.Errorf("header kept: %+v", d)
		}
		if d := p.Decide(get("/r?k=" + key)); !d.Allow || d.Upstream.NewPath != "" {
			t.Errorf("query kept: %+v", d)
		}
	})
	t.Run("allow_authenticated", func(t *testing.T) {
		p := mustCompile(t, base(`, "unmatched": "allow_authenticated"`))
		if d := p.Decide(get("/other", "x-api-key", key)); !d.Allow || d.Route != "" || d.Identity.Consumer != "c" {
			t.Errorf("unmatched allowed: %+v", d)
		}
		if d := p.Decide(get("/other")); d.Reason != ReasonMissing {
			t.Errorf("unmatched unauthenticated: %+v", d)
		}
	})
	t.Run("forward headers", func(t *testing.T) {
		p := mustCompile(t, base(`, "forward": {"consumer_header": "X-Who", "key_id_header": "x-kid", "scopes_header": "x-sc"}`))
		d := p.Decide(get("/r", "x-api-key", key))
		want := [3][2]string{{"x-who", "c"}, {"x-kid", "k"}, {"x-sc", "s"}}
		if !reflect.DeepEqual(d.Upstream.SetHeaders, want) || !reflect.DeepEqual(d.Upstream.RemoveHeaders, []string{"x-who", "x-kid", "x-sc", "x-api-key"}) {
			t.Errorf("forward headers: %q %q", d.Upstream.SetHeaders, d.Upstream.RemoveHeaders)
		}
	})
	t.Run("no key format", func(t *testing.T) {
		p := mustCompile(t, base(""))
		if d := p.Decide(get("/r", "x-api-key", "nope")); d.Reason != ReasonUnknown {
			t.Errorf("reason %s, want unknown", d.Reason)
		}
	})
	t.Run("prefix without checksum", func(t *testing.T) {
		p := mustCompile(t, `{"key_format": {"prefix": "sec", "checksum": false},
			"consumers": [{"id": "c", "keys": [{"id": "k", "sha256": "`+keymat.Hash(key)+`"}]}], "routes": [{"name": "r", "path": "/r"}]}`)
		if d := p.Decide(get("/r", "x-api-key", key)); !d.Allow {
			t.Errorf("prefix-only format: %+v", d)
		}
		if d := p.Decide(get("/r", "x-api-key", "other")); d.Reason != ReasonMalformed {
			t.Errorf("wrong prefix: %s", d.Reason)
		}
	})
	t.Run("nil headers", func(t *testing.T) {
		p := mustCompile(t, base(""))
		if d := p.Decide(Request{Method: "GET", Path: "/r"}); d.Reason != ReasonMissing {
			t.Errorf("reason %s", d.Reason)
		}
	})
}

func TestDecidePublicAllocs(t *testing.T) {
	p, _ := loadExample(t)
	r := get("/healthz")
	r.ClientIP = "2001:db8::7"
	if n := testing.AllocsPerRun(100, func() { p.Decide(r) }); n != 0 {
		t.Errorf("public decision allocates %v times", n)
	}
}

func TestDecideAllowedAllocs(t *testing.T) {
	p, keys := loadExample(t)
	r := get("/v1/orders/42?expand=items", "x-api-key", keys["billing-2026"])
	if n := testing.AllocsPerRun(100, func() { p.Decide(r) }); n != 0 {
		t.Errorf("allowed decision allocates %v times", n)
	}
}

// TestValidityOutsideUnixNanoRange checks keys whose not_before or
// not_after lie outside the years 1678 to 2262, where the compiled bounds
// are clamped: every decision must be the one the RFC 3339 times give.
func TestValidityOutsideUnixNanoRange(t *testing.T) {
	key := "secret"
	tests := []struct {
		validity string
		want     Reason
	}{
		{`"not_after": "2300-01-01T00:00:00Z"`, ReasonAllowed},
		{`"not_after": "9999-12-31T23:59:59Z"`, ReasonAllowed},
		{`"not_before": "2300-01-01T00:00:00Z"`, ReasonNotYetValid},
		{`"not_before": "2300-01-01T00:00:00Z", "not_after": "2400-01-01T00:00:00Z"`, ReasonNotYetValid},
		{`"not_before": "1600-01-01T00:00:00Z"`, ReasonAllowed},
		{`"not_after": "1600-01-01T00:00:00Z"`, ReasonExpired},
		{`"not_before": "0001-01-01T00:00:01Z", "not_after": "1600-01-01T00:00:00Z"`, ReasonExpired},
	}
	for _, tt := range tests {
		t.Run(tt.validity, func(t *testing.T) {
			p := mustCompile(t, `{"consumers": [{"id": "c", "scopes": ["s"], "keys": [{"id": "k", "sha256": "`+keymat.Hash(key)+`", `+tt.validity+`}]}],
				"routes": [{"name": "r", "path": "/r", "scopes": ["s"]}]}`)
			if d := p.Decide(get("/r", "x-api-key", key)); d.Reason != tt.want {
				t.Errorf("reason %q, want %q", d.Reason, tt.want)
			}
		})
	}
}

// TestDenialIdentity: a key that was found but is not usable (revoked,
// expired, not yet valid) still names its consumer and key id, for logs;
// an unknown or malformed key names nobody.
func TestDenialIdentity(t *testing.T) {
	p, keys := loadExample(t)
	tests := []struct {
		name            string
		key             string
		at              time.Time
		reason          Reason
		consumer, keyID string
	}{
		{"revoked", keys["billing-2025"], now, ReasonRevoked, "billing", "billing-2025"},
		{"expired", keys["billing-2026"], time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), ReasonExpired, "billing", "billing-2026"},
		{"not yet valid", keys["billing-2026"], time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), ReasonNotYetValid, "billing", "billing-2026"},
		{"unknown", "agk_" + strings.Repeat("x", 40), now, ReasonMalformed, "", ""},
	}
	for _, tt := range tests {
		r := get("/v1/orders/1", "x-api-key", tt.key)
		r.Now = tt.at
		d := p.Decide(r)
		if d.Reason != tt.reason || d.Identity.Consumer != tt.consumer || d.Identity.KeyID != tt.keyID {
			t.Errorf("%s: reason %s consumer %q key id %q; want %s %q %q", tt.name, d.Reason, d.Identity.Consumer, d.Identity.KeyID, tt.reason, tt.consumer, tt.keyID)
		}
	}
}
