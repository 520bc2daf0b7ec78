// Package benchconfig generates the large filter configurations the
// benchmarks use, so that the native and the wasm figures are measured on
// the same shape of configuration.
package benchconfig

import (
	"fmt"
	"strings"
)

// Config returns a configuration with nKeys keys, ten per consumer (each
// consumer with three scopes and its own rate-limit policy, each key with a
// validity window), and nRoutes routes requiring orders:read, half of them
// exact paths and half with a {param} segment. sha256(i) returns the
// lowercase hex SHA-256 of key i.
func Config(nKeys, nRoutes int, sha256 func(i int) string) []byte {
	var b strings.Builder
	b.WriteString(`{"key_sources": [{"header": "x-api-key"}, {"header": "authorization", "scheme": "ApiKey"}],
		"key_format": {"prefix": "agk_", "checksum": true}, "default_rate_limit": "default",
		"rate_limits": {"default": {"requests": 100, "per": "1s"}, "gold": {"requests": 1000, "per": "1m"}},
		"consumers": [`)
	for i := range nKeys {
		if i%10 == 0 {
			if i > 0 {
				b.WriteString("]},")
			}
			fmt.Fprintf(&b, `{"id": "consumer-%d", "scopes": ["orders:read", "orders:write", "files:read"], "rate_limit": "gold", "keys": [`, i/10)
		} else {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"id": "key-%d", "sha256": "%s", "not_before": "2026-01-01T00:00:00Z", "not_after": "2027-01-01T00:00:00Z"}`, i, sha256(i))
	}
	b.WriteString(`]}], "routes": [`)
	for i := range nRoutes {
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
	return []byte(b.String())
}

// Path returns a request path that matches the last {param} route of a
// configuration with nRoutes routes.
func Path(nRoutes int) string {
	return fmt.Sprintf("/api/v1/res%d/12345?expand=items", (nRoutes-1)/2)
}
