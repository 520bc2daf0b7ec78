package main

import (
	"strings"
	"testing"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/apiguard/apiguard/internal/testing/vmtest"
)

// TestHigressRulesStartWithAWarning: the configuration Higress delivers for
// a WasmPlugin with matchRules (defaultConfig at the top, _rules_ beside it)
// starts, logs one warning that the rules are not honoured, and the
// top-level configuration decides: a rule that would open every route and
// switch to shadow mode changes nothing.
func TestHigressRulesStartWithAWarning(t *testing.T) {
	k := newTestKeys(t)
	cfg := testConfig(t, k, func(c map[string]any) {
		c["_rules_"] = []any{
			map[string]any{"_match_route_": []any{"default/orders"}, "unmatched": "allow_authenticated", "mode": "shadow", "routes": []any{}},
			map[string]any{"_match_domain_": []any{"api.example.com"}},
		}
	})
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		e := start(t, vm, cfg)
		var warnings []string
		for _, l := range e.logs(logWarn) {
			if strings.Contains(l, "configuration warning") {
				warnings = append(warnings, l)
			}
		}
		want := "apiguard: configuration warning: _rules_: Higress matchRules (2 rule(s)) are not honoured"
		if len(warnings) != 1 || !strings.HasPrefix(warnings[0], want) {
			t.Errorf("warnings %q, want one starting %q", warnings, want)
		}
		if n := e.counter("apiguard.config.errors"); n != 0 {
			t.Errorf("apiguard.config.errors = %d, want 0", n)
		}
		o := e.do("/v1/orders/42")
		if o.local == nil || o.local.StatusCode != 401 {
			t.Fatalf("no key: want 401 from the top-level configuration, got action %v, local %+v", o.action, o.local)
		}
		o = e.do("/v1/orders/42", [2]string{"x-api-key", k.billing})
		if o.action != types.ActionContinue || o.local != nil {
			t.Fatalf("valid key: not forwarded: action %v, local %+v", o.action, o.local)
		}
		if got, _ := header(o.upstream, "x-apiguard-consumer"); got != "billing" {
			t.Errorf("upstream x-apiguard-consumer = %q, want billing", got)
		}
	})
}
