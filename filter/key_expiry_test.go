package main

import (
	"crypto/ed25519"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/apiguard/apiguard/internal/metricname"
	"github.com/apiguard/apiguard/internal/testing/vmtest"
	"github.com/apiguard/apiguard/policy/keymat"
)

// wasmEpoch is where the wasm runners' clocks start (wazero's fake clock,
// which cpphost models): the native runner's clock is set to it, so that
// every runner counts against the same time.
var wasmEpoch = time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC)

// TestKeysExpiringGauge: with key_policy, the gauge counts the keys that
// are valid and expire within expiry_warning, computed on a tick (not at
// start, not in a request).
func TestKeysExpiringGauge(t *testing.T) {
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		saved := wallClock
		wallClock = func() time.Time { return wasmEpoch }
		t.Cleanup(func() { wallClock = saved })
		k := newTestKeys(t)
		cfg := testConfig(t, k, func(c map[string]any) {
			c["key_policy"] = map[string]any{"max_lifetime": "90d", "expiry_warning": "14d"}
			key := func(id, key, notAfter string, revoked bool) map[string]any {
				return map[string]any{"id": id, "sha256": keymat.Hash(key), "not_before": "2021-12-01T00:00:00Z", "not_after": notAfter, "revoked": revoked}
			}
			c["consumers"] = []any{
				map[string]any{"id": "billing", "scopes": []any{"orders:read"}, "keys": []any{
					key("soon", k.billing, "2022-01-05T00:00:00Z", false),           // in 4 days
					key("later", k.billingFuture, "2022-02-20T00:00:00Z", false),    // in 50 days
					key("expired", k.billingExpired, "2021-12-20T00:00:00Z", false), // already expired
					key("revoked", k.billingRevoked, "2022-01-03T00:00:00Z", true),  // revoked
				}},
				map[string]any{"id": "reader", "scopes": []any{"files:read"}, "keys": []any{key("reader-soon", k.reader, "2022-01-10T00:00:00Z", false)}},
			}
		})
		e := start(t, vm, cfg)
		if p := e.tickPeriod(); p != time.Second {
			t.Fatalf("tick period after start = %v, want 1s (the first count)", p)
		}
		e.setTime(wasmEpoch)
		if d := e.do("/v1/orders", [2]string{"x-api-key", k.billing}); d.local != nil {
			t.Fatalf("request denied: %d %s", d.local.StatusCode, d.local.Data)
		}
		if got := e.gauge(metricname.KeysExpiring); got != 0 {
			t.Fatalf("gauge before the first tick = %d, want 0 (never counted in a request)", got)
		}
		e.tick()
		if got := e.gauge(metricname.KeysExpiring); got != 2 {
			t.Errorf("gauge after a tick = %d, want 2 (soon, reader-soon)", got)
		}
		if p := e.tickPeriod(); p != time.Minute {
			t.Errorf("tick period after the first count = %v, want 1m", p)
		}
	})
}

// TestKeyPolicyRefusesInlineKeys: a key breaking max_lifetime fails the
// plugin start with its path.
func TestKeyPolicyRefusesInlineKeys(t *testing.T) {
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		k := newTestKeys(t)
		cfg := testConfig(t, k, func(c map[string]any) {
			c["key_policy"] = map[string]any{"max_lifetime": "90d"}
		})
		e := startWithStatus(t, vm, cfg, types.OnPluginStartStatusFailed)
		logs := strings.Join(e.logs(logCritical), "\n")
		for _, want := range []string{
			"consumers[0].keys[0]: has no not_after: key_policy.max_lifetime (90d) requires every key to expire",
			"consumers[1].keys[0]: has no not_after",
		} {
			if !strings.Contains(logs, want) {
				t.Errorf("critical logs lack %q:\n%s", want, logs)
			}
		}
		if strings.Contains(logs, "consumers[0].keys[1]") {
			t.Errorf("the revoked key was checked:\n%s", logs)
		}
	})
}

// TestKeysExpiringGaugeWithKeyStore: with a key store, the gauge counts
// the snapshot's keys, recomputed on the tick after a snapshot swap.
func TestKeysExpiringGaugeWithKeyStore(t *testing.T) {
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		saved := wallClock
		wallClock = func() time.Time { return wasmEpoch }
		t.Cleanup(func() { wallClock = saved })
		k := newTestKeys(t)
		cfg := testConfig(t, k, func(c map[string]any) {
			delete(c, "consumers")
			c["key_policy"] = map[string]any{"expiry_warning": "14d"}
			c["key_store"] = map[string]any{
				"cluster": testKeyCluster, "authority": "keys.internal", "path": "/apiguard/keys.snap",
				// The longest timeout the refresh allows: cpphost answers over
				// real loopback HTTP, and nothing here tests a timeout.
				"refresh": "1s", "timeout": "1s",
				"public_key": base64.StdEncoding.EncodeToString(testSigner.Public().(ed25519.PublicKey)),
			}
		})
		expiring := func(notAfters ...string) func([]any) {
			return func(consumers []any) {
				keys := consumers[0].(map[string]any)["keys"].([]any)
				for i, na := range notAfters {
					keys[i].(map[string]any)["not_after"] = na
					delete(keys[i].(map[string]any), "revoked")
					delete(keys[i].(map[string]any), "not_before")
				}
			}
		}
		srv := &keyServer{}
		// billing's keys: in 4 days, in 10 days, in 60 days, already expired.
		srv.set(testSnapshot(t, k, 1, testSigner, expiring("2022-01-05T00:00:00Z", "2022-01-11T00:00:00Z", "2022-03-02T00:00:00Z", "2021-12-01T00:00:00Z")))
		e := startKeyStoreWith(t, vm, cfg, srv)
		e.deliverAll()
		e.tick()
		if got := e.gauge(metricname.KeysExpiring); got != 2 {
			t.Errorf("gauge with the first snapshot = %d, want 2", got)
		}
		srv.set(testSnapshot(t, k, 2, testSigner, expiring("2022-01-05T00:00:00Z", "2022-03-11T00:00:00Z", "2022-03-02T00:00:00Z", "2021-12-01T00:00:00Z")))
		e.refresh()
		e.tick()
		if got := e.gauge(metricname.KeysExpiring); got != 1 {
			t.Errorf("gauge after the swap = %d, want 1", got)
		}
	})
}
