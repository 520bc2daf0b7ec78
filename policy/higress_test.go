package policy

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// TestHigressRules: a configuration Higress delivers for a WasmPlugin with
// matchRules (defaultConfig at the top, _rules_ beside it) compiles, with a
// warning at _rules_, and a rule's config changes nothing: the top-level
// configuration decides every request.
func TestHigressRules(t *testing.T) {
	data, err := os.ReadFile("testdata/example.json")
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	base := mustCompile(t, string(data))
	tests := []struct {
		name  string
		rules any
		count string
	}{
		{"route rule that would open everything", []any{map[string]any{
			"_match_route_": []any{"default/orders"}, "unmatched": "allow_authenticated", "routes": []any{},
		}}, "1 rule(s)"},
		{"domain and service rules", []any{
			map[string]any{"_match_domain_": []any{"api.example.com"}, "mode": "shadow"},
			map[string]any{"_match_service_": []any{"orders.default.svc.cluster.local"}},
		}, "2 rule(s)"},
		{"not a list", "junk", "some rule(s)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg[HigressRulesField] = tc.rules
			text, err := json.Marshal(cfg)
			if err != nil {
				t.Fatal(err)
			}
			p, err := Compile(text)
			if err != nil {
				t.Fatalf("Compile refused a configuration with %s: %v", HigressRulesField, err)
			}
			var found bool
			for _, w := range p.Warnings() {
				if w.Path == HigressRulesField {
					found = true
					if !strings.Contains(w.Msg, "not honoured") || !strings.Contains(w.Msg, tc.count) {
						t.Errorf("warning %q: want it to say the %s are not honoured", w.Msg, tc.count)
					}
				}
			}
			if !found {
				t.Errorf("no warning at %s; warnings: %v", HigressRulesField, p.Warnings())
			}
			if p.Shadow() {
				t.Error("a rule's mode: shadow switched the plugin to shadow mode")
			}
			// Without a key, the example denies every protected route;
			// a rule's unmatched/routes must not change that.
			for _, r := range []Request{get("/v1/orders"), get("/nowhere")} {
				got, want := p.Decide(r), base.Decide(r)
				if got.Allow || got.Status != want.Status || got.Reason != want.Reason {
					t.Errorf("%s: got allow=%v %d %s, want %d %s as without _rules_", r.Path, got.Allow, got.Status, got.Reason, want.Status, want.Reason)
				}
			}
		})
	}
}
