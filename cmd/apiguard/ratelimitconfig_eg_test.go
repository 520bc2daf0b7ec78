package main

import (
	"os"
	"strings"
	"testing"
)

// TestRateLimitConfigEnvoyGatewayShipped: deploy/envoy-gateway/ratelimit.yaml
// is what --format envoy-gateway writes for examples/config.json, and
// validate accepts it.
func TestRateLimitConfigEnvoyGatewayShipped(t *testing.T) {
	r := apiguard(t, "", "ratelimit-config", "--config", repoFile(t, "examples/config.json"), "--format", "envoy-gateway")
	r.wantCode(t, exitOK)
	want, err := os.ReadFile(repoFile(t, "deploy/envoy-gateway/ratelimit.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if r.stdout != string(want) {
		t.Errorf("deploy/envoy-gateway/ratelimit.yaml is stale; regenerate it with\n"+
			"  go run ./cmd/apiguard ratelimit-config --config examples/config.json --format envoy-gateway --out deploy/envoy-gateway/ratelimit.yaml\ngot:\n%s", r.stdout)
	}
	v := apiguard(t, r.stdout, "validate", "-")
	v.wantCode(t, exitOK)
	if !strings.Contains(v.stdout, "ok (Envoy Gateway BackendTrafficPolicy)") {
		t.Errorf("validate: %s", v.stdout)
	}
}

// TestRateLimitConfigEnvoyGateway: the rules, target and namespace of
// --format envoy-gateway, and a bad --format.
func TestRateLimitConfigEnvoyGateway(t *testing.T) {
	cfg := `{"forward": {"consumer_header": "x-who", "quota_header": "x-plan"},
	  "consumers": [{"id": "a", "quota": "q1", "keys": []}],
	  "quotas": {"q1": {"requests": 5, "per": "second"}, "q0": {"requests": 7, "per": "week"}}}`
	r := apiguard(t, cfg, "ratelimit-config", "--config", "-", "--format", "envoy-gateway", "--gateway", "edge", "--namespace", "shop")
	r.wantCode(t, exitOK)
	for _, want := range []string{
		"kind: BackendTrafficPolicy\n", "  namespace: shop\n", "      kind: Gateway\n      name: edge\n",
		"- name: x-plan\n                  type: Exact\n                  value: q0\n                - name: x-who\n                  type: Distinct\n" +
			"          limit:\n            requests: 7\n            unit: Week\n          shared: true\n",
		"value: q1\n                - name: x-who\n                  type: Distinct\n          limit:\n            requests: 5\n            unit: Second\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Index(r.stdout, "value: q0") > strings.Index(r.stdout, "value: q1") {
		t.Error("rules not in quota name order")
	}
	apiguard(t, cfg, "ratelimit-config", "--config", "-", "--format", "istio").wantCode(t, exitError)
}
