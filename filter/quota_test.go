package main

import (
	"testing"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/apiguard/apiguard/internal/testing/vmtest"
)

// quotaTestConfig gives billing the plan gold-daily, reader the default
// quota, and the files route its own quota.
func quotaTestConfig(t *testing.T, k testKeys, edit func(map[string]any)) []byte {
	return testConfig(t, k, func(c map[string]any) {
		c["quotas"] = map[string]any{
			"gold-daily":   map[string]any{"requests": 100000, "per": "day"},
			"free-minute":  map[string]any{"requests": 60, "per": "minute"},
			"files-hourly": map[string]any{"requests": 10, "per": "hour"},
		}
		c["default_quota"] = "free-minute"
		c["consumers"].([]any)[0].(map[string]any)["quota"] = "gold-daily"
		c["routes"].([]any)[2].(map[string]any)["quota"] = "files-hourly"
		if edit != nil {
			edit(c)
		}
	})
}

// TestQuotaHeaders: an allowed request carries the consumer and quota
// headers the global rate-limit filter counts by, and never the key; a
// client cannot choose them.
func TestQuotaHeaders(t *testing.T) {
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		k := newTestKeys(t)
		e := start(t, vm, quotaTestConfig(t, k, nil))
		cases := []struct {
			name, path, key string
			consumer, quota string
			forged          bool
		}{
			{"plan", "/v1/orders/1", k.billing, "billing", "gold-daily", false},
			{"forged plan replaced", "/v1/orders/1", k.billing, "billing", "gold-daily", true},
			{"route quota", "/v1/files/a", k.reader, "reader", "files-hourly", false},
			{"route quota, forged", "/v1/files/a", k.reader, "reader", "files-hourly", true},
			{"public route: none", "/healthz", "", "", "", true},
		}
		for _, c := range cases {
			hs := [][2]string{}
			if c.key != "" {
				hs = append(hs, [2]string{"x-api-key", c.key})
			}
			if c.forged {
				hs = append(hs, [2]string{"x-apiguard-quota", "forged"}, [2]string{"x-apiguard-consumer", "victim"})
			}
			o := e.do(c.path, hs...)
			if o.local != nil {
				t.Fatalf("%s: denied %d %s", c.name, o.local.StatusCode, o.local.Data)
			}
			got, ok := header(o.upstream, "x-apiguard-quota")
			if got != c.quota || ok != (c.quota != "") || headerCount(o.upstream, "x-apiguard-quota") > 1 {
				t.Errorf("%s: upstream quota header %q (present %v), want %q; headers %q", c.name, got, ok, c.quota, o.upstream)
			}
			if got, _ := header(o.upstream, "x-apiguard-consumer"); got != c.consumer || headerCount(o.upstream, "x-apiguard-consumer") > 1 {
				t.Errorf("%s: upstream consumer %q, want %q", c.name, got, c.consumer)
			}
			if c.key != "" {
				for _, h := range o.upstream {
					if h[1] == c.key {
						t.Errorf("%s: the key reached the upstream in %s", c.name, h[0])
					}
				}
			}
		}
		// The consumer's plan applies where the route names no quota.
		o := e.do("/v1/orders/1", [2]string{"x-api-key", k.billing})
		if got, _ := header(o.upstream, "x-apiguard-quota"); got != "gold-daily" {
			t.Errorf("billing: quota %q", got)
		}
		if n := e.counter("apiguard.decision.allowed"); n != 6 {
			t.Errorf("allowed = %d, want 6", n)
		}
	})
}

func TestQuotaDefaultQuotaAndCustomHeader(t *testing.T) {
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		k := newTestKeys(t)
		e := start(t, vm, quotaTestConfig(t, k, func(c map[string]any) {
			c["forward"] = map[string]any{"quota_header": "x-plan"}
			c["routes"] = append(c["routes"].([]any), map[string]any{"name": "tags", "path": "/v1/tags", "scopes": []any{"files:read"}})
		}))
		o := e.do("/v1/tags", [2]string{"x-api-key", k.reader}, [2]string{"x-plan", "gold-daily"})
		if o.local != nil {
			t.Fatalf("denied %d", o.local.StatusCode)
		}
		if got, _ := header(o.upstream, "x-plan"); got != "free-minute" || headerCount(o.upstream, "x-plan") != 1 {
			t.Errorf("x-plan %q (%d), want free-minute once", got, headerCount(o.upstream, "x-plan"))
		}
		if _, ok := header(o.upstream, "x-apiguard-quota"); ok {
			t.Errorf("the default quota header name is set too")
		}
	})
}

// TestQuotaDeniedRequestsSetNothing: a denial is a local reply, so the
// global rate-limit filter after apiguard never sees (nor counts) it.
func TestQuotaDeniedRequestsSetNothing(t *testing.T) {
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		k := newTestKeys(t)
		e := start(t, vm, quotaTestConfig(t, k, nil))
		for _, hs := range [][][2]string{
			{{"x-api-key", k.unknown}, {"x-apiguard-quota", "gold-daily"}},
			{{"x-apiguard-quota", "gold-daily"}, {"x-apiguard-consumer", "billing"}},
		} {
			o := e.do("/v1/orders/1", hs...)
			if o.local == nil || o.local.StatusCode != 401 || o.action != types.ActionPause {
				t.Fatalf("not denied: %+v", o)
			}
		}
	})
}

// TestQuotaShadowMode: shadow mode rewrites nothing, but still removes a
// client-supplied quota header so that nothing is counted on a client's
// word.
func TestQuotaShadowMode(t *testing.T) {
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		k := newTestKeys(t)
		e := start(t, vm, quotaTestConfig(t, k, func(c map[string]any) { c["mode"] = "shadow" }))
		for _, key := range []string{k.billing, k.unknown} {
			o := e.do("/v1/orders/1", [2]string{"x-api-key", key}, [2]string{"x-apiguard-quota", "gold-daily"})
			if o.local != nil {
				t.Fatalf("shadow mode answered %d", o.local.StatusCode)
			}
			if _, ok := header(o.upstream, "x-apiguard-quota"); ok {
				t.Errorf("shadow mode forwarded a quota header: %q", o.upstream)
			}
		}
	})
}
