package main

import (
	"strings"
	"testing"

	"github.com/apiguard/apiguard/internal/testing/vmtest"
)

// TestKeyNeverLeaks plants the key in every source the filter reads, on
// allowed and denied requests, and requires that no response body, response
// header, log line or forwarded header carries it.
func TestKeyNeverLeaks(t *testing.T) {
	k := newTestKeys(t)
	logAllowed := func(c map[string]any) { c["log_allowed"] = true }
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		e := start(t, vm, testConfig(t, k, logAllowed))
		requests := []struct {
			name    string
			path    string
			headers [][2]string
			secret  string
		}{
			{"every source at once", "/v1/orders?api_key=" + k.billing,
				[][2]string{{"x-api-key", k.billing}, {"authorization", "ApiKey " + k.billing}}, k.billing},
			{"allowed via query", "/v1/orders/1?api_key=" + k.billing, nil, k.billing},
			{"allowed via header", "/v1/orders/1", [][2]string{{"x-api-key", k.billing}}, k.billing},
			{"allowed via authorization", "/v1/orders/1", [][2]string{{"authorization", "ApiKey " + k.billing}}, k.billing},
			{"unknown in query", "/v1/orders?api_key=" + k.unknown, nil, k.unknown},
			{"revoked in authorization", "/v1/orders", [][2]string{{"authorization", "ApiKey " + k.billingRevoked}}, k.billingRevoked},
			{"public route with a key", "/healthz?api_key=" + k.reader, [][2]string{{"x-api-key", k.reader}}, k.reader},
		}
		for _, r := range requests {
			o := e.do(r.path, r.headers...)
			var seen []string
			if o.local != nil {
				seen = append(seen, string(o.local.Data))
				for _, h := range o.local.Headers {
					seen = append(seen, h[0]+": "+h[1])
				}
			}
			for _, h := range o.upstream {
				seen = append(seen, h[0]+": "+h[1])
			}
			for _, h := range o.response {
				seen = append(seen, h[0]+": "+h[1])
			}
			seen = append(seen, allLogs(e)...)
			for _, s := range seen {
				if strings.Contains(s, r.secret) {
					t.Errorf("%s: key leaked in %q", r.name, s)
				}
			}
		}
		if len(e.logs(logInfo)) < 4 {
			t.Errorf("log_allowed: want a log line per allowed request, got %q", e.logs(logInfo))
		}
	})
}
