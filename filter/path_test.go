package main

import (
	"testing"

	"github.com/apiguard/apiguard/internal/testing/vmtest"
)

// TestRewrittenPathsKept sends clamped requests one after the other and
// then reads what each forwarded: every request keeps its own :path. In
// the module each new path is written into the same buffer
// (pluginContext.path), which a host may do nothing with after the header
// call returns but copy.
func TestRewrittenPathsKept(t *testing.T) {
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		k := newTestKeys(t)
		e := start(t, vm, testConfig(t, k, func(cfg map[string]any) {
			cfg["pagination"].(map[string]any)["standard"].(map[string]any)["on_violation"] = "clamp"
		}))
		defer e.close()
		requests := []struct{ path, want string }{
			{"/v1/orders?limit=500&sort=asc", "/v1/orders?limit=100&sort=asc"},
			{"/v1/orders?offset=99999&x=1", "/v1/orders?offset=10000&x=1&limit=20"},
			{"/v1/orders?a=22222222&limit=7000", "/v1/orders?a=22222222&limit=100"},
		}
		var got []outcome
		for _, r := range requests {
			got = append(got, e.do(r.path, [2]string{"x-api-key", k.billing}))
		}
		for i, r := range requests {
			if p, _ := header(got[i].upstream, ":path"); got[i].status() != 0 || p != r.want {
				t.Errorf("%s: status %d, forwarded %q; want %q", r.path, got[i].status(), p, r.want)
			}
		}
	})
}
