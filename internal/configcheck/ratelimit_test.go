package configcheck

import (
	"strings"
	"testing"
)

const (
	rlFilterPath = hcmPath + ".http_filters[2]"
	rlPath       = rlFilterPath + ".typed_config"
	vhPath       = hcmPath + ".route_config.virtual_hosts[0]"
)

// rlBlock is the rate-limit filter of envoy.yaml, from its name to the
// router's comment.
func rlBlock(t *testing.T, shipped string) string {
	t.Helper()
	start := strings.Index(shipped, "          - name: envoy.filters.http.ratelimit\n")
	end := strings.Index(shipped, routerBlock)
	if start < 0 || end < start {
		t.Fatal("envoy.yaml: no rate-limit filter before the router")
	}
	return shipped[start:end]
}

func TestValidateEnvoyYAMLRateLimit(t *testing.T) {
	shipped := readFile(t, envoyFile)
	if probs := ValidateEnvoyYAML([]byte(shipped), EnvoyOptions{}); len(probs) > 0 {
		t.Fatalf("envoy.yaml: %v", probs)
	}
	rl := rlBlock(t, shipped)
	quotaAction := "- request_headers: {header_name: x-apiguard-quota, descriptor_key: apiguard_quota}"
	consumerAction := "- request_headers: {header_name: x-apiguard-consumer, descriptor_key: apiguard_consumer}"
	tests := []struct {
		name  string
		edits []string
		opts  EnvoyOptions
		path  string
		msgs  []string
	}{
		{
			name:  "rate-limit filter before apiguard",
			edits: []string{rl, "", "          - name: envoy.filters.http.wasm\n", rl + "          - name: envoy.filters.http.wasm\n"},
			path:  hcmPath + ".http_filters[1]",
			msgs:  []string{"must come after apiguard's Wasm filter (http_filters[2])"},
		},
		{
			name:  "wrong domain",
			edits: []string{"domain: apiguard", "domain: edge"},
			path:  rlPath + ".domain",
			msgs:  []string{`domain "edge"`, `in domain "apiguard"`},
		},
		{
			name: "domain from options",
			opts: EnvoyOptions{RateLimitDomain: "edge"},
			path: rlPath + ".domain",
			msgs: []string{`domain "apiguard"`, `in domain "edge"`},
		},
		{
			name:  "service cluster missing",
			edits: []string{"envoy_grpc: {cluster_name: ratelimit}", "envoy_grpc: {cluster_name: ratelimt}"},
			path:  rlPath + ".rate_limit_service.grpc_service.envoy_grpc.cluster_name",
			msgs:  []string{`cluster "ratelimt"`},
		},
		{
			name:  "v2 transport",
			edits: []string{"transport_api_version: V3", "transport_api_version: V2"},
			path:  rlPath + ".rate_limit_service.transport_api_version",
			msgs:  []string{"must be V3"},
		},
		{
			name:  "an action reads a header the client chooses",
			edits: []string{"header_name: x-apiguard-consumer", "header_name: x-user"},
			path:  vhPath + ".rate_limits[0].actions[1].request_headers.header_name",
			msgs:  []string{`header "x-user" is not set by apiguard`},
		},
		{
			name:  "actions in the wrong order",
			edits: []string{quotaAction + "\n                " + consumerAction, consumerAction + "\n                " + quotaAction},
			path:  vhPath + ".rate_limits[0].actions",
			msgs:  []string{"must be exactly two request_headers actions"},
		},
		{
			name:  "skip_if_absent",
			edits: []string{"descriptor_key: apiguard_consumer}", "descriptor_key: apiguard_consumer, skip_if_absent: true}"},
			path:  vhPath + ".rate_limits[0].actions",
			msgs:  []string{"without skip_if_absent"},
		},
		{
			name:  "wrong descriptor key",
			edits: []string{"descriptor_key: apiguard_quota", "descriptor_key: quota"},
			path:  rlPath,
			msgs:  []string{"no rate_limits entry builds apiguard's quota descriptor"},
		},
		{
			name:  "rate_limits in another stage",
			edits: []string{"              rate_limits:\n              - actions:\n", "              rate_limits:\n              - stage: 1\n                actions:\n"},
			path:  rlPath,
			msgs:  []string{"no rate_limits entry builds apiguard's quota descriptor"},
		},
		{
			name:  "no rate_limit_service",
			edits: []string{"              rate_limit_service:\n                transport_api_version: V3\n                grpc_service:\n                  envoy_grpc: {cluster_name: ratelimit}\n", ""},
			path:  rlPath,
			msgs:  []string{"no rate_limit_service"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			broken := edit(t, shipped, tt.edits...)
			wantProblem(t, ValidateEnvoyYAML([]byte(broken), tt.opts), tt.path, tt.msgs...)
		})
	}
}

// TestValidateEnvoyYAMLQuotasWithoutRateLimitFilter: quotas that nothing
// counts are a warning, not an error.
func TestValidateEnvoyYAMLQuotasWithoutRateLimitFilter(t *testing.T) {
	shipped := readFile(t, envoyFile)
	probs := ValidateEnvoyYAML([]byte(edit(t, shipped, rlBlock(t, shipped), "")), EnvoyOptions{})
	if errs := Errors(probs); len(errs) > 0 {
		t.Fatalf("errors: %v", errs)
	}
	wantProblem(t, probs, hcmPath+".http_filters", "defines quotas, but no envoy.filters.http.ratelimit filter")
}
