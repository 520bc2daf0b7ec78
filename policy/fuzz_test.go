package policy

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func FuzzCompile(f *testing.F) {
	if data, err := os.ReadFile("testdata/example.json"); err == nil {
		f.Add(data)
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"routes": [{"name": "a", "path": "/a/{id}/*", "pagination": "p"}], "pagination": {"p": {"limit_param": "l", "max_limit": 5}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Compile(data)
		if err != nil {
			var ce *ConfigError
			if p != nil || !errors.As(err, &ce) || len(ce.Errors) == 0 {
				t.Fatalf("Compile error %T %v with policy %v", err, err, p != nil)
			}
			return
		}
		// A compiled policy must decide anything without panicking.
		for _, r := range []Request{
			{Method: "GET", Path: "/", Now: time.Unix(0, 0)},
			{Method: "GET", Path: "/a/b/c?limit=7&cursor=x", Headers: HeaderList{{"x-api-key", "k"}, {"authorization", "ApiKey k"}}, ClientIP: "::1"},
			{Method: "POST", Path: "/healthz?api_key=x", ClientIP: "10.0.0.1"},
		} {
			if d := p.Decide(r); !validReason(d.Reason) {
				t.Fatalf("reason %q", d.Reason)
			}
		}
	})
}

// fuzzPolicy is the fixed policy FuzzDecide runs against: the example plus
// a clamping profile and a public wildcard.
const fuzzPolicy = `{
	"key_sources": [{"header": "x-api-key"}, {"header": "authorization", "scheme": "ApiKey"}, {"header": "authorization", "scheme": "Token"}, {"query": "api_key"}],
	"key_format": {"prefix": "agk_"},
	"consumers": [{"id": "billing", "scopes": ["orders:read"], "rate_limit": "gold",
		"keys": [{"id": "b1", "sha256": "5ffc8ea5d3856d58dcdf382556b08aae2e53bd2286c96a36486ded0dfd22f2cf", "not_before": "2026-01-01T00:00:00Z", "not_after": "2027-01-01T00:00:00Z"},
		         {"id": "b0", "sha256": "74103b6cfec96b73d7573ea515af4bb57665c52b729d1dd1d709f80e9f181d53", "revoked": true}]}],
	"routes": [
		{"name": "list", "methods": ["GET"], "path": "/v1/orders", "scopes": ["orders:read"], "pagination": "reject"},
		{"name": "get", "methods": ["GET"], "path": "/v1/orders/{id}", "scopes": ["orders:read"]},
		{"name": "search", "path": "/v1/search/{q}/*", "pagination": "clamp"},
		{"name": "pub", "path": "/public/*", "public": true, "rate_limit": "anon", "pagination": "clamp"}
	],
	"unmatched": "allow_authenticated",
	"pagination": {
		"reject": {"limit_param": "limit", "default_limit": 20, "max_limit": 100, "offset_param": "offset", "max_offset": 1000, "cursor_param": "cursor", "max_cursor_length": 16},
		"clamp": {"limit_param": "limit", "max_limit": 10, "page_param": "page", "max_page": 3, "on_violation": "clamp"}
	},
	"rate_limits": {"gold": {"requests": 10, "per": "1s"}, "anon": {"requests": 1, "per": "1m"}},
	"anonymous_buckets": 16
}`

func FuzzDecide(f *testing.F) {
	p, err := Compile([]byte(fuzzPolicy))
	if err != nil {
		f.Fatal(err)
	}
	f.Add("GET", "/v1/orders?limit=5", "agk_DZb6eEPEZCMfOsNvDR08lgoCcQlu5El03VRRCC", "", "192.0.2.1", int64(1780000000))
	f.Add("GET", "/public/%2e%2e/v1/orders", "", "Token x", "", int64(0))
	f.Add("get", "//v1//orders/1?api_key=a&api_key=b", "", "ApiKey agk_x", "::ffff:1.2.3.4", int64(-1))
	f.Add("GET", "/public/a?page=0", "", "", "", int64(0))
	f.Add("GET", "/public/a?x=1;limit[]=0", "", "", "", int64(0))
	f.Add("GET", "/public/a?limit=99999999999999999999#x", "", "", "", int64(0))
	f.Fuzz(func(t *testing.T, method, path, key, authz, ip string, unix int64) {
		var h HeaderList
		if key != "" {
			h = append(h, [2]string{"x-api-key", key})
		}
		if authz != "" {
			h = append(h, [2]string{"Authorization", authz})
		}
		d := p.Decide(Request{Method: method, Path: path, Headers: h, ClientIP: ip, Now: time.Unix(unix, 0)})
		if !validReason(d.Reason) || d.Reason == ReasonRateLimited {
			t.Fatalf("reason %q", d.Reason)
		}
		if d.Allow != (d.Reason == ReasonAllowed) || d.Status != reasonInfo[d.Reason].status {
			t.Fatalf("inconsistent decision %+v", d)
		}
		if !d.Allow && (d.Problem.Type != ProblemTypeBase+string(d.Reason) || d.Problem.Detail == "") {
			t.Fatalf("problem fields %+v", d)
		}
		for _, secret := range []string{key, authz} {
			if len(secret) >= 8 && (strings.Contains(d.Problem.Detail, secret) || strings.Contains(d.RateLimit.BucketKey, secret)) {
				t.Fatalf("decision leaks a credential: %+v", d)
			}
		}
		if d.Upstream.NewPath != "" {
			np, _, _ := splitPathQuery(d.Upstream.NewPath)
			if norm, bad := normalizePath(np); bad != "" || norm != np {
				t.Fatalf("NewPath %q is not normalized (%q %q)", d.Upstream.NewPath, norm, bad)
			}
		}
		if d.Allow && strings.IndexByte(path, '#') >= 0 {
			t.Fatalf("allowed a :path with '#': %q", path)
		}
		if rt := p.router.match(method, mustNorm(path)); d.Allow && rt != nil && rt.profile != nil {
			// What goes upstream carries only plain positive limits and
			// pages: anything else was refused, whatever on_violation says.
			_, q, _ := splitPathQuery(d.Upstream.NewPath)
			if d.Upstream.NewPath == "" {
				_, q, _ = splitPathQuery(path)
			}
			for more := q != ""; more; {
				var key, value string
				_, key, value, q, more = nextPair(q)
				for _, name := range []string{rt.profile.limitParam, rt.profile.pageParam} {
					if v, ok := decodeComponent(value); name != "" && keyNames(key, name) && (!ok || !isPlainPositive(v)) {
						t.Fatalf("allowed %q: upstream pagination value %q", path, value)
					}
				}
			}
		}
		if d.RateLimit.Limit != nil {
			_, res := d.RateLimit.Limit.Take(nil, time.Unix(unix, 0))
			d.RateLimit.Limit.Header(res, d.RateLimit.PartitionKey)
			RateLimited(d, res)
		}
	})
}

// isPlainPositive reports whether s is a plain positive base-10 integer.
func isPlainPositive(s string) bool {
	v, ok := parsePlainUint(s)
	return ok && v > 0
}

// mustNorm returns the normalized path of a :path that Decide accepted.
func mustNorm(path string) string {
	raw, _, _ := splitPathQuery(path)
	norm, _ := normalizePath(raw)
	return norm
}
