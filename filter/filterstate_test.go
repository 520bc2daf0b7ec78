package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/internal/metricname"
	"github.com/apiguard/apiguard/internal/testing/vmtest"
	"github.com/apiguard/apiguard/policy"
)

// record returns the fields of apiguard's record in the request's filter
// state (wasm.apiguard, as an access log reads it), numbers in decimal, and
// fails the test when the state holds anything else or the record is not a
// JSON object of strings and integers with the fields in the documented
// order.
func record(t *testing.T, what string, o outcome) map[string]string {
	t.Helper()
	key := policy.FilterStatePrefix + policy.StateKey
	for k := range o.state {
		if k != key {
			t.Errorf("%s: filter state %s set; apiguard sets only %s", what, k, key)
		}
	}
	raw, ok := o.state[key]
	if !ok {
		t.Fatalf("%s: no %s in the filter state", what, key)
	}
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	var fields map[string]any
	if err := dec.Decode(&fields); err != nil || dec.More() {
		t.Fatalf("%s: %s is not one JSON object (%v): %s", what, key, err, raw)
	}
	last := -1
	for _, name := range policy.StateFields() {
		if at := strings.Index(raw, `"`+name+`":`); at >= 0 && at < last {
			t.Errorf("%s: field %q out of order in %s", what, name, raw)
		} else if at >= 0 {
			last = at
		}
	}
	out := map[string]string{}
	for name, v := range fields {
		if !slices.Contains(policy.StateFields(), name) {
			t.Errorf("%s: undocumented field %q in %s", what, name, raw)
		}
		switch v := v.(type) {
		case string:
			out[name] = v
		case json.Number:
			if _, err := v.Int64(); err != nil {
				t.Errorf("%s: %s = %v, not an integer", what, name, v)
			}
			out[name] = v.String()
		default:
			t.Errorf("%s: %s = %v (%T)", what, name, v, v)
		}
	}
	if !strings.HasPrefix(raw, `{"decision":`) {
		t.Errorf("%s: the record does not start with its decision: %s", what, raw)
	}
	return out
}

// wantState fails the test unless the request's record holds exactly want.
func wantState(t *testing.T, what string, o outcome, want map[string]string) {
	t.Helper()
	got := record(t, what, o)
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s: %s = %q (set %v), want %q; record %s", what, k, g, ok, v, o.state[policy.FilterStatePrefix+policy.StateKey])
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: %s = %q, want it unset", what, k, v)
		}
	}
}

// TestFilterState: every judged request records who called and what was
// decided in the filter state, with the reasons and decision words of the
// log lines and metrics; fields without a value are not set; the key never
// is.
func TestFilterState(t *testing.T) {
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		k := newTestKeys(t)
		e := start(t, vm, quotaTestConfig(t, k, nil))
		two := [2]string{"authorization", "ApiKey " + k.billing}
		cases := []struct {
			name   string
			method string
			path   string
			key    string
			extra  [][2]string
			status int // 0: forwarded
			want   map[string]string
		}{
			{"allowed", "", "/v1/orders/42", k.billing, nil, 0, map[string]string{"decision": "allow", "reason": "allowed",
				"route": "get-order", "consumer": "billing", "key_id": "billing-2026", "quota": "gold-daily", "rate_limit_remaining": "999"}},
			{"allowed, route quota", "", "/v1/files/a", k.reader, nil, 0, map[string]string{"decision": "allow", "reason": "allowed",
				"route": "files", "consumer": "reader", "key_id": "reader-1", "quota": "files-hourly"}},
			{"missing", "", "/v1/orders/42", "", nil, 401, map[string]string{"decision": "deny", "reason": "missing", "route": "get-order"}},
			{"unknown", "", "/v1/orders/42", k.unknown, nil, 401, map[string]string{"decision": "deny", "reason": "unknown", "route": "get-order"}},
			{"revoked", "", "/v1/orders/42", k.billingRevoked, nil, 401, map[string]string{"decision": "deny", "reason": "revoked",
				"route": "get-order", "consumer": "billing", "key_id": "billing-2025"}},
			{"expired", "", "/v1/orders/42", k.billingExpired, nil, 401, map[string]string{"decision": "deny", "reason": "expired",
				"route": "get-order", "consumer": "billing", "key_id": "billing-2024"}},
			{"two credentials", "", "/v1/orders/42", k.billing, [][2]string{two}, 400, map[string]string{"decision": "deny",
				"reason": "invalid_request", "route": "get-order"}},
			{"scope", "", "/v1/orders/42", k.reader, nil, 403, map[string]string{"decision": "deny", "reason": "insufficient_scope",
				"route": "get-order", "consumer": "reader", "key_id": "reader-1"}},
			{"no route", "DELETE", "/v1/orders/42", k.billing, nil, 403, map[string]string{"decision": "deny", "reason": "no_route",
				"consumer": "billing", "key_id": "billing-2026"}},
			{"pagination", "", "/v1/orders?limit=500", k.billing, nil, 400, map[string]string{"decision": "deny", "reason": "bad_pagination",
				"route": "list-orders", "consumer": "billing", "key_id": "billing-2026"}},
			{"public", "", "/healthz", "", nil, 0, map[string]string{"decision": "allow", "reason": "allowed", "route": "health",
				"rate_limit_remaining": "1"}},
			{"public again", "", "/healthz", "", nil, 0, map[string]string{"decision": "allow", "reason": "allowed", "route": "health",
				"rate_limit_remaining": "0"}},
			{"rate limited", "", "/healthz", "", nil, 429, map[string]string{"decision": "deny", "reason": "rate_limited", "route": "health",
				"rate_limit_remaining": "0"}},
		}
		for _, c := range cases {
			var hs [][2]string
			if c.method != "" {
				hs = append(hs, [2]string{":method", c.method})
			}
			if c.key != "" {
				hs = append(hs, [2]string{"x-api-key", c.key})
			}
			hs = append(hs, c.extra...)
			o := e.do(c.path, hs...)
			status := 0
			if o.local != nil {
				status = int(o.local.StatusCode)
			}
			if status != c.status {
				t.Fatalf("%s: status %d, want %d", c.name, status, c.status)
			}
			wantState(t, c.name, o, c.want)
			noKeyIn(t, c.name, o.state, k)
		}
		// The decision counters count what the filter state says.
		if n := e.counter(metricname.DecisionPrefix + "allowed"); n != 4 {
			t.Errorf("allowed decisions %d, want 4", n)
		}
	})
}

// noKeyIn fails the test when a filter-state value holds a key.
func noKeyIn(t *testing.T, what string, state map[string]string, k testKeys) {
	t.Helper()
	for name, v := range state {
		for _, key := range []string{k.billing, k.billingRevoked, k.billingExpired, k.billingFuture, k.reader, k.unknown} {
			if strings.Contains(v, key) || strings.Contains(v, key[4:]) {
				t.Errorf("%s: %s holds a key", what, name)
			}
		}
	}
}

// TestFilterStateShadow: in shadow mode a request that would be denied is
// forwarded and recorded as shadow_deny with its reason; an allowed one as
// allow, with its quota though shadow mode sets no quota header.
func TestFilterStateShadow(t *testing.T) {
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		k := newTestKeys(t)
		e := start(t, vm, quotaTestConfig(t, k, func(c map[string]any) { c["mode"] = "shadow" }))
		o := e.do("/v1/orders/42", [2]string{"x-api-key", k.unknown})
		if o.local != nil {
			t.Fatalf("shadow mode answered %d", o.local.StatusCode)
		}
		wantState(t, "shadow unknown", o, map[string]string{"decision": "shadow_deny", "reason": "unknown", "route": "get-order"})
		o = e.do("/v1/orders/42", [2]string{"x-api-key", k.reader})
		wantState(t, "shadow scope", o, map[string]string{"decision": "shadow_deny", "reason": "insufficient_scope",
			"route": "get-order", "consumer": "reader", "key_id": "reader-1"})
		o = e.do("/v1/orders/42", [2]string{"x-api-key", k.billing})
		wantState(t, "shadow allowed", o, map[string]string{"decision": "allow", "reason": "allowed", "route": "get-order",
			"consumer": "billing", "key_id": "billing-2026", "quota": "gold-daily", "rate_limit_remaining": "999"})
		if _, ok := header(o.upstream, "x-apiguard-quota"); ok {
			t.Error("shadow mode set the quota header")
		}
	})
}

// TestFilterStateMatchesLogLines: the decision, reason, route, consumer and
// key id of a logged decision are the filter state's, word for word, so
// that an access-log line and the filter's own log line of a request agree.
func TestFilterStateMatchesLogLines(t *testing.T) {
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		k := newTestKeys(t)
		for _, mode := range []string{"enforce", "shadow"} {
			t.Run(mode, func(t *testing.T) {
				e := start(t, vm, testConfig(t, k, func(c map[string]any) { c["mode"] = mode; c["log_allowed"] = true }))
				for _, key := range []string{k.billing, k.billingRevoked, k.unknown, k.reader} {
					info, warn := len(e.logs(logInfo)), len(e.logs(logWarn))
					o := e.do("/v1/orders/42", [2]string{"x-api-key", key})
					var lines []string
					for _, l := range append(e.logs(logInfo)[info:], e.logs(logWarn)[warn:]...) {
						if strings.HasPrefix(l, `{"time"`) {
							lines = append(lines, l)
						}
					}
					if len(lines) != 1 {
						t.Fatalf("%d decision lines logged for one request: %q", len(lines), lines)
					}
					var line map[string]any
					if err := json.Unmarshal([]byte(lines[0]), &line); err != nil {
						t.Fatalf("log line %q: %v", lines[0], err)
					}
					rec := record(t, "logged request", o)
					for _, field := range []string{policy.FieldDecision, policy.FieldReason, policy.FieldRoute,
						policy.FieldConsumer, policy.FieldKeyID} {
						logged, _ := line[field].(string)
						if got := rec[field]; got != logged {
							t.Errorf("%s in the filter state %q, in the log line %q (%s)", field, got, logged, lines[0])
						}
					}
				}
			})
		}
	})
}

// TestFilterStateKeyStore: with keys from a key store, a request before the
// first snapshot is recorded as denied for key_store_unavailable, and the
// consumer and key id of an allowed request come from the snapshot.
func TestFilterStateKeyStore(t *testing.T) {
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		k := newTestKeys(t)
		srv := &keyServer{}
		srv.set(testSnapshot(t, k, 1, testSigner, nil))
		e := startKeyStore(t, vm, k, srv)

		o := e.do("/v1/orders/42", [2]string{"x-api-key", k.billing})
		wantStatus(t, o, 503, "before the first snapshot")
		wantState(t, "before the first snapshot", o, map[string]string{"decision": "deny", "reason": "key_store_unavailable",
			"route": "get-order"})

		if n := e.deliverAll(); n != 1 {
			t.Fatalf("%d calls delivered", n)
		}
		o = e.do("/v1/orders/42", [2]string{"x-api-key", k.billing})
		wantStatus(t, o, 200, "after the snapshot")
		wantState(t, "after the snapshot", o, map[string]string{"decision": "allow", "reason": "allowed", "route": "get-order",
			"consumer": "billing", "key_id": "billing-2026", "rate_limit_remaining": "999"})
		o = e.do("/v1/orders/42", [2]string{"x-api-key", k.billingRevoked})
		wantState(t, "revoked in the snapshot", o, map[string]string{"decision": "deny", "reason": "revoked", "route": "get-order",
			"consumer": "billing", "key_id": "billing-2025"})
		noKeyIn(t, "key store", o.state, k)
	})
}

// TestRecordPrefixCache: the cache of record prefixes never answers for
// other values, whether they share a slot or differ in one field only.
func TestRecordPrefixCache(t *testing.T) {
	fields := [][6]string{
		{"allow", "allowed", "get-order", "billing", "billing-2026", "gold"},
		{"allow", "allowed", "get-order", "billing", "billing-2026", ""},
		{"deny", "allowed", "get-order", "billing", "billing-2026", ""},
		{"deny", "rate_limited", "get-order", "billing", "billing-2026", ""},
		{"deny", "rate_limited", "list-orders", "billing", "billing-2026", ""},
		{"deny", "rate_limited", "list-orders", "reader", "billing-2026", ""},
		{"deny", "rate_limited", "list-orders", "reader", "reader-1", ""},
		{"shadow_deny", "unknown", "", "", "", ""},
		{"deny", "unknown", "", "", "", ""},
		{"deny", "unknown", "a\"b", "", "", ""},
	}
	for round := range 2 {
		for _, f := range fields {
			// New strings every time: equal values at other addresses.
			c := func(s string) string { return strings.Clone(s) }
			got := string(recordPrefix(c(f[0]), c(f[1]), c(f[2]), c(f[3]), c(f[4]), c(f[5]))) + "}"
			var rec map[string]string
			if err := json.Unmarshal([]byte(got), &rec); err != nil {
				t.Fatalf("round %d: %s: %v", round, got, err)
			}
			for i, name := range []string{"decision", "reason", "route", "consumer", "key_id", "quota"} {
				if rec[name] != f[i] {
					t.Errorf("round %d: %s = %q, want %q (%s)", round, name, rec[name], f[i], got)
				}
			}
		}
	}
}

// TestSetPolicyForgetsRecords: a new policy empties the record prefixes,
// whose strings (key ids, consumers, routes) are views of the policy before
// and of its key snapshot, so that the cache does not keep them alive.
func TestSetPolicyForgetsRecords(t *testing.T) {
	forgetRecords() // what the tests before left
	t.Cleanup(forgetRecords)
	recordPrefix("allow", "allowed", "get-order", "billing", "billing-2026", "")
	held := 0
	for i := range recordCache {
		if recordCache[i].prefix != nil {
			held++
		}
	}
	if held != 1 {
		t.Fatalf("%d record prefixes held, want 1", held)
	}
	p := &pluginContext{}
	p.setPolicy(nil)
	for i, e := range recordCache {
		if e.prefix != nil || e.keyID != "" || e.route != "" || e.consumer != "" {
			t.Errorf("record prefix %d kept after setPolicy: %+v", i, e)
		}
	}
}
