package policy

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/policy/keymat"
)

// BenchmarkDecideCases decides the requests of the filter's per-request
// benchmark (filter/bench_test.go benchCases) on testdata/example.json
// with the filter benchmark's clamping profile and route added: what
// Decide costs natively for each, the query work in 400 and clamp. It
// decides as the filter does (DecideInto, a path buffer).
func BenchmarkDecideCases(b *testing.B) {
	data, err := os.ReadFile("testdata/example.json")
	if err != nil {
		b.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(data, &cfg); err != nil {
		b.Fatal(err)
	}
	cfg["routes"] = append(cfg["routes"].([]any), map[string]any{"name": "items", "methods": []any{"GET"}, "path": "/v1/items", "scopes": []any{"orders:read"}, "pagination": "clamped"})
	cfg["pagination"].(map[string]any)["clamped"] = map[string]any{"limit_param": "limit", "max_limit": 100, "on_violation": "clamp"}
	data, err = json.Marshal(cfg)
	if err != nil {
		b.Fatal(err)
	}
	p := mustCompile(b, string(data))
	_, keys := loadExample(b)
	stranger, err := keymat.Generate("agk_", strings.NewReader(strings.Repeat("0123456789", 20)))
	if err != nil {
		b.Fatal(err)
	}
	headers := func(key string) HeaderList {
		return HeaderList{{"user-agent", "bench/1.0"}, {"accept", "application/json"},
			{"x-request-id", "0f6c1a52-5a44-4f47-9f3e-5bc1f6f0d3f1"}, {"x-api-key", key}}
	}
	cases := []struct {
		name, method, path, key string
		reason                  Reason
		newPath                 string
	}{
		{"allowed", "GET", "/v1/orders/12345", keys["billing-2026"], ReasonAllowed, ""},
		{"401", "GET", "/v1/orders/12345", stranger, ReasonUnknown, ""},
		{"403", "POST", "/v1/orders", keys["reports-2026"], ReasonInsufficientScope, ""},
		{"400", "GET", "/v1/orders?limit=500", keys["billing-2026"], ReasonBadPagination, ""},
		{"clamp", "GET", "/v1/items?limit=5000&sort=asc", keys["billing-2026"], ReasonAllowed, "/v1/items?limit=100&sort=asc"},
	}
	for _, c := range cases {
		b.Run("case="+c.name, func(b *testing.B) {
			// As the filter decides: into its decision, with its path
			// buffer.
			r := Request{Method: c.method, Path: c.path, Headers: headers(c.key), ClientIP: "203.0.113.7", Now: now,
				PathBuffer: make([]byte, 0, 1024)}
			var d Decision
			if p.DecideInto(&d, &r); d.Reason != c.reason || d.Upstream.NewPath != c.newPath {
				b.Fatalf("got %s %q, want %s %q", d.Reason, d.Upstream.NewPath, c.reason, c.newPath)
			}
			b.ReportAllocs()
			for b.Loop() {
				p.DecideInto(&d, &r)
			}
		})
	}
}
