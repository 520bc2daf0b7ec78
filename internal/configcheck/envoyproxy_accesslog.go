package configcheck

import (
	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"
)

// EnvoyProxyKind is Envoy Gateway's resource for the proxies it runs; its
// spec.telemetry.accessLog holds access-log formats
// (deploy/envoy-gateway/envoyproxy-accesslog.yaml, docs/logging.md).
const EnvoyProxyKind = "EnvoyProxy"

// ValidateEnvoyProxy checks an Envoy Gateway EnvoyProxy: its envelope, its
// spec decoded strictly into github.com/envoyproxy/gateway's
// EnvoyProxySpec, and, with stateProblems, every access-log format and CEL
// match under spec.telemetry.accessLog.
func ValidateEnvoyProxy(data []byte) []Problem {
	m, probs := readManifest(data, EnvoyGatewayAPIVersion, EnvoyProxyKind)
	if m == nil {
		return probs
	}
	if m.spec == nil {
		return m.probs
	}
	var spec egv1a1.EnvoyProxySpec
	if p := decodeGo(m.t, m.spec, "spec", &spec); len(p) > 0 {
		return append(m.probs, p...)
	}
	return append(m.probs, accessLogProblems(m.t, m.spec, "spec")...)
}
