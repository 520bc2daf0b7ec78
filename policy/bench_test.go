package policy

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// benchConfig generates a configuration with nKeys keys (10 per consumer)
// and nRoutes routes, half literal and half with a {param}, and returns it
// with one of its raw keys and a path matching the last route.
func benchConfig(tb testing.TB, nKeys, nRoutes int) (config []byte, key, path string) {
	tb.Helper()
	rng := rand.NewChaCha8([32]byte{1})
	var b strings.Builder
	b.WriteString(`{"key_sources": [{"header": "x-api-key"}, {"header": "authorization", "scheme": "ApiKey"}],
		"key_format": {"prefix": "agk_"}, "default_rate_limit": "default",
		"rate_limits": {"default": {"requests": 100, "per": "1s"}, "gold": {"requests": 1000, "per": "1m"}},
		"consumers": [`)
	for i := 0; i < nKeys; i++ {
		if i%10 == 0 {
			if i > 0 {
				b.WriteString("]},")
			}
			fmt.Fprintf(&b, `{"id": "consumer-%d", "scopes": ["orders:read", "orders:write", "files:read"], "rate_limit": "gold", "keys": [`, i/10)
		} else {
			b.WriteString(",")
		}
		k, err := GenerateKey("agk_", rng)
		if err != nil {
			tb.Fatal(err)
		}
		if i == nKeys/2 {
			key = k
		}
		fmt.Fprintf(&b, `{"id": "key-%d", "sha256": "%s", "not_before": "2026-01-01T00:00:00Z", "not_after": "2027-01-01T00:00:00Z"}`, i, HashKey(k))
	}
	b.WriteString(`]}], "routes": [`)
	for i := 0; i < nRoutes; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		if i%2 == 0 {
			fmt.Fprintf(&b, `{"name": "r%d", "methods": ["GET", "HEAD"], "path": "/api/v1/res%d", "scopes": ["orders:read"]}`, i, i/2)
		} else {
			fmt.Fprintf(&b, `{"name": "r%d", "methods": ["GET"], "path": "/api/v1/res%d/{id}", "scopes": ["orders:read"]}`, i, i/2)
		}
	}
	b.WriteString(`]}`)
	return []byte(b.String()), key, fmt.Sprintf("/api/v1/res%d/12345?expand=items", (nRoutes-1)/2)
}

func BenchmarkDecide(b *testing.B) {
	for _, nKeys := range []int{10, 10000, 100000} {
		for _, nRoutes := range []int{10, 1000} {
			b.Run(fmt.Sprintf("keys=%d/routes=%d", nKeys, nRoutes), func(b *testing.B) {
				config, key, path := benchConfig(b, nKeys, nRoutes)
				p, err := Compile(config)
				if err != nil {
					b.Fatal(err)
				}
				r := Request{
					Method: "GET",
					Path:   path,
					Headers: HeaderList{
						{"host", "api.example.com"}, {"user-agent", "bench/1.0"}, {"accept", "application/json"},
						{"x-api-key", key}, {"x-request-id", "0f6c1a52-5a44-4f47-9f3e-5bc1f6f0d3f1"},
					},
					ClientIP: "203.0.113.7",
					Now:      now,
				}
				if d := p.Decide(r); !d.Allow || d.Limit == nil {
					b.Fatalf("not allowed: %+v", d)
				}
				b.ReportAllocs()
				for b.Loop() {
					p.Decide(r)
				}
			})
		}
	}
}

func BenchmarkCompile(b *testing.B) {
	b.Run("keys=100000", func(b *testing.B) {
		config, _, _ := benchConfig(b, 100000, 1000)
		b.SetBytes(int64(len(config)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Compile(config); err != nil {
				b.Fatal(err)
			}
		}
	})
}
