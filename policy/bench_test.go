package policy

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/apiguard/apiguard/internal/testing/benchconfig"

	"github.com/apiguard/apiguard/policy/keymat"
)

// benchConfig generates a configuration with nKeys keys (10 per consumer)
// and nRoutes routes, half literal and half with a {param}, and returns it
// with one of its raw keys and a path matching the last route.
func benchConfig(tb testing.TB, nKeys, nRoutes int) (config []byte, key, path string) {
	tb.Helper()
	rng := rand.NewChaCha8([32]byte{1})
	config = benchconfig.Config(nKeys, nRoutes, func(i int) string {
		k, err := keymat.Generate("agk_", rng)
		if err != nil {
			tb.Fatal(err)
		}
		if i == nKeys/2 {
			key = k
		}
		return keymat.Hash(k)
	})
	return config, key, benchconfig.Path(nRoutes)
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
				if d := p.Decide(r); !d.Allow || d.RateLimit.Limit == nil {
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
