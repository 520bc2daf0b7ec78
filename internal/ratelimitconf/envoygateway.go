package ratelimitconf

import (
	"bytes"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/apiguard/apiguard/policy"
)

// Envoy Gateway (envoyproxy/gateway v1.9) counts apiguard's quotas with a
// BackendTrafficPolicy's global rate-limit rules instead of a service
// configuration file: it runs envoyproxy/ratelimit itself and writes the
// service's configuration from the rules. Each quota is one rule whose
// client selector matches the quota header exactly (the quota name) and
// the consumer header as Distinct (a counter per consumer), with the
// quota's limit, and shared: true, so that a consumer's quota is one
// counter across every route of the target (without it each route counts
// apart: api/v1alpha1/ratelimit_types.go, RateLimitRule.ClientSelectors
// and Shared, at v1.9.0). Envoy Gateway orders the Wasm filters before its
// rate-limit filter (internal/xds/translator/httpfilters.go,
// newOrderedHTTPFilter, at v1.9.0), so the rules see the headers apiguard
// sets.

// EnvoyGatewayAPIVersion is Envoy Gateway's API group and version.
const EnvoyGatewayAPIVersion = "gateway.envoyproxy.io/v1alpha1"

// EGTarget is what the BackendTrafficPolicy applies to and its name.
type EGTarget struct {
	Name      string // metadata.name; default apiguard-quotas
	Namespace string // metadata.namespace; "" leaves it out
	Kind      string // Gateway (default) or HTTPRoute
	Target    string // the Gateway's or HTTPRoute's name; default eg
}

// EGRule is one global rate-limit rule in the shape the BackendTrafficPolicy
// manifest spells it (field names of Envoy Gateway's RateLimitRule).
type EGRule struct {
	ClientSelectors []EGSelector `yaml:"clientSelectors"`
	Limit           EGLimit      `yaml:"limit"`
	Shared          bool         `yaml:"shared"`
}

// EGSelector is a RateLimitSelectCondition with headers only.
type EGSelector struct {
	Headers []EGHeader `yaml:"headers"`
}

// EGHeader is a HeaderMatch.
type EGHeader struct {
	Name  string `yaml:"name"`
	Type  string `yaml:"type"`
	Value string `yaml:"value,omitempty"`
}

// EGLimit is a RateLimitValue.
type EGLimit struct {
	Requests int64  `yaml:"requests"`
	Unit     string `yaml:"unit"`
}

// EGUnit is Envoy Gateway's RateLimitUnit for a quota unit (second →
// Second, ..., year → Year).
func EGUnit(per string) string {
	if per == "" {
		return ""
	}
	return strings.ToUpper(per[:1]) + per[1:]
}

// EnvoyGatewayRules returns the global rate-limit rules that count the
// quotas of p, one per quota in name order.
func EnvoyGatewayRules(p *policy.Policy) []EGRule {
	consumer, quota := p.ForwardHeaders()[0], p.QuotaHeader()
	rules := []EGRule{}
	for _, q := range p.Quotas() {
		rules = append(rules, EGRule{
			ClientSelectors: []EGSelector{{Headers: []EGHeader{
				{Name: quota, Type: "Exact", Value: q.Name},
				{Name: consumer, Type: "Distinct"},
			}}},
			Limit:  EGLimit{Requests: q.Requests, Unit: EGUnit(q.Per)},
			Shared: true,
		})
	}
	return rules
}

// EnvoyGatewayYAML returns a BackendTrafficPolicy manifest with the rules
// of p, targeting tgt.
func EnvoyGatewayYAML(p *policy.Policy, tgt EGTarget) ([]byte, error) {
	if tgt.Name == "" {
		tgt.Name = "apiguard-quotas"
	}
	if tgt.Kind == "" {
		tgt.Kind = "Gateway"
	}
	if tgt.Target == "" {
		tgt.Target = "eg"
	}
	meta := map[string]any{"name": tgt.Name}
	if tgt.Namespace != "" {
		meta["namespace"] = tgt.Namespace
	}
	doc := struct {
		APIVersion string         `yaml:"apiVersion"`
		Kind       string         `yaml:"kind"`
		Metadata   map[string]any `yaml:"metadata"`
		Spec       any            `yaml:"spec"`
	}{EnvoyGatewayAPIVersion, "BackendTrafficPolicy", meta, map[string]any{
		"targetRefs": []map[string]string{{"group": "gateway.networking.k8s.io", "kind": tgt.Kind, "name": tgt.Target}},
		"rateLimit":  map[string]any{"global": map[string]any{"rules": EnvoyGatewayRules(p)}},
	}}
	var b bytes.Buffer
	b.WriteString("# Envoy Gateway global rate limits written by `apiguard ratelimit-config --format envoy-gateway`\n" +
		"# from the quotas of an apiguard configuration. Do not edit: regenerate it.\n" +
		"# One rule per quota: the quota header (Exact: the quota name) and the consumer header\n" +
		"# (Distinct: a counter per consumer), shared by every route of the target.\n")
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("encoding the BackendTrafficPolicy: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
