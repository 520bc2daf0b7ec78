package configcheck

import (
	"fmt"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	ratelimitv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ratelimit/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/apiguard/apiguard/internal/ratelimitconf"
	"github.com/apiguard/apiguard/policy"
)

// Istio EnvoyFilters that complete apiguard on sidecars and gateways
// (deploy/ratelimit/istio-envoyfilter-*.yaml): Envoy's global rate-limit
// filter for apiguard's quotas and Envoy's CORS filter before apiguard.
const (
	IstioNetworkingAPIVersion = "networking.istio.io/v1alpha3"
	IstioEnvoyFilterKind      = "EnvoyFilter"
)

// ValidateIstioEnvoyFilter checks an EnvoyFilter of apiguard's: spec
// decoded strictly into istio.io/api networking/v1alpha3.EnvoyFilter, and
// each patch value decoded strictly into the Envoy type it patches
// (HTTP_FILTER: an HttpFilter with its typed_config, checked with Envoy's
// validation rules; VIRTUAL_HOST: a VirtualHost). Then apiguard's rules:
// the rate-limit filter is not inserted first (it must come after apiguard
// to see its headers), uses domain apiguard and a V3 rate-limit service;
// the CORS filter is inserted first (before apiguard, which answers
// preflights 401); a rate_limits entry that uses apiguard's descriptor keys
// builds the quota descriptor exactly; and an EnvoyFilter without a
// workloadSelector or targetRefs applies to every proxy of its namespace
// (all of them in the root namespace): a warning.
func ValidateIstioEnvoyFilter(data []byte) []Problem {
	m, probs := readManifest(data, IstioNetworkingAPIVersion, IstioEnvoyFilterKind)
	if m == nil {
		return probs
	}
	if m.spec == nil {
		return m.probs
	}
	var ef networkingv1alpha3.EnvoyFilter
	sp, bad := decodeEachField(m.t, m.spec, "spec", &ef)
	m.probs = append(m.probs, sp...)
	if bad.any("configPatches", "config_patches") {
		return m.probs
	}
	if ef.GetWorkloadSelector() == nil && len(ef.GetTargetRefs()) == 0 && !bad.any("workloadSelector", "targetRefs") {
		m.warn("spec", "no workloadSelector or targetRefs: the patches apply to every proxy of the namespace "+
			"(of the mesh, in Istio's root namespace), not only those that run apiguard")
	}
	for i, cp := range ef.GetConfigPatches() {
		path := fmt.Sprintf("%s[%d]", pathOf(m.spec, "spec", "configPatches", "config_patches"), i)
		val, _ := get(m.spec, pathOf(m.spec, "", "configPatches", "config_patches"), i, "patch", "value")
		vpath := path + ".patch.value"
		op := cp.GetPatch().GetOperation()
		switch cp.GetApplyTo() {
		case networkingv1alpha3.EnvoyFilter_HTTP_FILTER:
			var hf hcmv3.HttpFilter
			if p := decodeStrict(m.t, val, vpath, &hf); len(p) > 0 {
				m.probs = append(m.probs, p...)
				continue
			}
			if op == networkingv1alpha3.EnvoyFilter_Patch_REMOVE {
				continue
			}
			m.probs = append(m.probs, validateTree(m.t, &hf, vpath)...)
			m.checkPatchedFilter(&hf, op, path)
		case networkingv1alpha3.EnvoyFilter_VIRTUAL_HOST:
			var vh routev3.VirtualHost
			if p := decodeStrict(m.t, val, vpath, &vh); len(p) > 0 {
				m.probs = append(m.probs, p...)
				continue
			}
			for k, rl := range vh.GetRateLimits() {
				m.checkQuotaDescriptor(rl, fmt.Sprintf("%s.rate_limits[%d]", vpath, k))
			}
		}
	}
	return m.probs
}

// checkPatchedFilter applies apiguard's rules to an inserted HTTP filter.
func (m *manifest) checkPatchedFilter(hf *hcmv3.HttpFilter, op networkingv1alpha3.EnvoyFilter_Patch_Operation, path string) {
	tc := hf.GetTypedConfig()
	if tc == nil {
		return
	}
	opPath := path + ".patch.operation"
	switch {
	case tc.MessageIs((*ratelimitv3.RateLimit)(nil)):
		var rl ratelimitv3.RateLimit
		if tc.UnmarshalTo(&rl) != nil {
			return
		}
		if op == networkingv1alpha3.EnvoyFilter_Patch_INSERT_FIRST {
			m.add(opPath, "INSERT_FIRST puts the rate-limit filter before apiguard: it would not see the quota and consumer "+
				"headers apiguard sets, and would count requests apiguard then denies; insert it before the router")
		}
		tcp := path + ".patch.value.typed_config"
		if rl.GetDomain() != ratelimitconf.DefaultDomain {
			m.add(tcp+".domain", "domain %q, but apiguard's quotas are in domain %q (apiguard ratelimit-config --domain)",
				rl.GetDomain(), ratelimitconf.DefaultDomain)
		}
		switch svc := rl.GetRateLimitService(); {
		case svc == nil:
			m.add(tcp, "no rate_limit_service: Envoy would answer every check itself as within the limit")
		case svc.GetTransportApiVersion() != corev3.ApiVersion_V3:
			m.add(tcp+".rate_limit_service.transport_api_version", "must be V3, the only version Envoy and envoyproxy/ratelimit speak")
		}
	case tc.MessageIs((*corsv3.Cors)(nil)):
		if op != networkingv1alpha3.EnvoyFilter_Patch_INSERT_FIRST {
			m.add(opPath, "the CORS filter must be inserted first (INSERT_FIRST): after apiguard, a preflight (which carries "+
				"no API key) gets apiguard's 401 before CORS can answer it")
		}
	}
}

// checkQuotaDescriptor checks a rate_limits entry that uses apiguard's
// descriptor keys: it must build the quota descriptor exactly from
// apiguard's default quota and consumer headers.
func (m *manifest) checkQuotaDescriptor(rl *routev3.RateLimit, path string) {
	uses := false
	for _, a := range rl.GetActions() {
		if k := a.GetRequestHeaders().GetDescriptorKey(); k == ratelimitconf.DescriptorQuota || k == ratelimitconf.DescriptorConsumer {
			uses = true
		}
	}
	def := policy.DefaultSummary()
	if !uses || isQuotaDescriptor(rl, def.QuotaHeader, def.IdentityHeaders[0]) {
		return
	}
	m.add(path+".actions", "apiguard's quota descriptor must be exactly two request_headers actions, without skip_if_absent: "+
		"{header_name: %s, descriptor_key: %s} then {header_name: %s, descriptor_key: %s}",
		def.QuotaHeader, ratelimitconf.DescriptorQuota, def.IdentityHeaders[0], ratelimitconf.DescriptorConsumer)
}
