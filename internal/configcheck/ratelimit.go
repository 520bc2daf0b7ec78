package configcheck

import (
	"fmt"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	ratelimitv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ratelimit/v3"
	wasmfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/wasm/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"

	"github.com/apiguard/apiguard/internal/ratelimitconf"
	"github.com/apiguard/apiguard/policy"
)

// rateLimitFilterName is the well-known name of Envoy's global rate-limit
// HTTP filter.
const rateLimitFilterName = "envoy.filters.http.ratelimit"

// rateLimitEntry is one rate_limits entry that applies to the filter, with
// its path.
type rateLimitEntry struct {
	rl   *routev3.RateLimit
	path string
}

// rateLimits checks the global rate-limit filters of one connection manager
// against apiguard's quotas: each must come after apiguard's Wasm filter,
// use opts.RateLimitDomain, reach a defined cluster over the v3 API, and
// build its descriptors only from headers apiguard sets, and when the
// plugin defines quotas, one rate_limits entry must build apiguard's quota
// descriptor exactly (see package ratelimitconf).
func (c *envoyChecker) rateLimits(hcm *hcmv3.HttpConnectionManager, path string) {
	filters := hcm.GetHttpFilters()
	wasmIdx := -1
	var pol *policy.Policy
	for i, f := range filters {
		tc := f.GetTypedConfig()
		if tc == nil || !tc.MessageIs((*wasmfilterv3.Wasm)(nil)) {
			continue
		}
		var w wasmfilterv3.Wasm
		if tc.UnmarshalTo(&w) != nil {
			continue
		}
		if wasmIdx < 0 {
			wasmIdx = i
		}
		if conf := w.GetConfig().GetConfiguration(); conf != nil && pol == nil {
			if text, _, err := configurationText(conf); err == nil {
				pol, _ = policy.Compile([]byte(text)) // its problems are reported by wasmFilter
			}
		}
	}
	found := false
	for i, f := range filters {
		tc := f.GetTypedConfig()
		if tc == nil || !tc.MessageIs((*ratelimitv3.RateLimit)(nil)) {
			continue
		}
		var rl ratelimitv3.RateLimit
		if tc.UnmarshalTo(&rl) != nil {
			continue // reported by validateTree
		}
		found = true
		fpath := fmt.Sprintf("%s.http_filters[%d]", path, i)
		if wasmIdx >= 0 && i < wasmIdx {
			c.add(fpath, "the rate-limit filter (%s) must come after apiguard's Wasm filter (http_filters[%d]): "+
				"before it, it cannot see the quota and consumer headers apiguard sets, and counts requests apiguard then denies", rateLimitFilterName, wasmIdx)
		}
		c.rateLimitFilter(&rl, fpath+".typed_config", hcm, path, pol)
	}
	if !found && pol != nil && len(pol.Quotas()) > 0 {
		c.probs = append(c.probs, Problem{Path: path + ".http_filters", Line: c.t.line(path + ".http_filters"), Warning: true,
			Msg: fmt.Sprintf("the plugin configuration defines quotas, but no %s filter follows apiguard: no quota is enforced", rateLimitFilterName)})
	}
}

// rateLimitFilter checks the global rate-limit filter at path, of the
// connection manager hcm at hcmPath: its domain and service, and the
// descriptors its rate_limits entries build from apiguard's headers.
func (c *envoyChecker) rateLimitFilter(rl *ratelimitv3.RateLimit, path string, hcm *hcmv3.HttpConnectionManager, hcmPath string, pol *policy.Policy) {
	c.rateLimitService(rl, path)
	entries := rateLimitEntries(rl, path, hcm, hcmPath)
	if pol == nil {
		return // the plugin configuration is broken: reported elsewhere
	}
	c.quotaDescriptors(entries, path, pol)
}

// rateLimitService checks the filter's domain and its rate-limit service.
func (c *envoyChecker) rateLimitService(rl *ratelimitv3.RateLimit, path string) {
	if rl.GetDomain() != c.opts.RateLimitDomain {
		c.add(path+".domain", "domain %q, but apiguard's quotas are in domain %q (apiguard ratelimit-config --domain)",
			rl.GetDomain(), c.opts.RateLimitDomain)
	}
	svc := rl.GetRateLimitService()
	switch {
	case svc == nil:
		c.add(path, "no rate_limit_service: Envoy would answer every check itself as within the limit, and no quota would be enforced")
	case svc.GetTransportApiVersion() != corev3.ApiVersion_V3:
		c.add(path+".rate_limit_service.transport_api_version", "must be V3, the only version Envoy and envoyproxy/ratelimit speak")
	}
	if name := svc.GetGrpcService().GetEnvoyGrpc().GetClusterName(); name != "" && !c.cds && !c.clusters[name] {
		c.add(path+".rate_limit_service.grpc_service.envoy_grpc.cluster_name",
			"cluster %q, which static_resources.clusters does not define", name)
	}
}

// rateLimitEntries returns the rate_limits entries that apply to the
// filter rl at path: the filter's own, else those of the routes and
// virtual hosts of hcm (at hcmPath) with the filter's stage.
func rateLimitEntries(rl *ratelimitv3.RateLimit, path string, hcm *hcmv3.HttpConnectionManager, hcmPath string) []rateLimitEntry {
	var entries []rateLimitEntry
	for k, e := range rl.GetRateLimits() {
		entries = append(entries, rateLimitEntry{e, fmt.Sprintf("%s.rate_limits[%d]", path, k)})
	}
	if len(entries) == 0 {
		rc := hcm.GetRouteConfig()
		rcPath := hcmPath + ".route_config"
		add := func(list []*routev3.RateLimit, p string) {
			for k, e := range list {
				if e.GetStage().GetValue() == rl.GetStage() {
					entries = append(entries, rateLimitEntry{e, fmt.Sprintf("%s.rate_limits[%d]", p, k)})
				}
			}
		}
		for v, vh := range rc.GetVirtualHosts() {
			vpath := fmt.Sprintf("%s.virtual_hosts[%d]", rcPath, v)
			add(vh.GetRateLimits(), vpath)
			for r, rt := range vh.GetRoutes() {
				add(rt.GetRoute().GetRateLimits(), fmt.Sprintf("%s.routes[%d].route", vpath, r))
			}
		}
	}
	return entries
}

// quotaDescriptors checks that entries read only headers apiguard sets,
// and that one of them builds apiguard's quota descriptor when pol has
// quotas.
func (c *envoyChecker) quotaDescriptors(entries []rateLimitEntry, path string, pol *policy.Policy) {
	fwd := pol.ForwardHeaders()
	consumerHeader, quotaHeader := fwd[0], pol.QuotaHeader()
	set := map[string]bool{fwd[0]: true, fwd[1]: true, fwd[2]: true, quotaHeader: true}
	quotaEntries := 0
	for _, e := range entries {
		usesOurKeys := false
		for a, act := range e.rl.GetActions() {
			rh := act.GetRequestHeaders()
			if rh == nil {
				continue
			}
			apath := fmt.Sprintf("%s.actions[%d].request_headers", e.path, a)
			if !set[strings.ToLower(rh.GetHeaderName())] {
				c.add(apath+".header_name", "header %q is not set by apiguard, so the client chooses its value: "+
					"use the headers apiguard sets on allowed requests (%s, %s, %s, %s)", rh.GetHeaderName(), fwd[0], fwd[1], fwd[2], quotaHeader)
			}
			if k := rh.GetDescriptorKey(); k == ratelimitconf.DescriptorQuota || k == ratelimitconf.DescriptorConsumer {
				usesOurKeys = true
			}
		}
		if !usesOurKeys {
			continue
		}
		if isQuotaDescriptor(e.rl, quotaHeader, consumerHeader) {
			quotaEntries++
			continue
		}
		c.add(e.path+".actions", "apiguard's quota descriptor must be exactly two request_headers actions, without skip_if_absent: "+
			"{header_name: %s, descriptor_key: %s} then {header_name: %s, descriptor_key: %s}, as apiguard ratelimit-config writes it",
			quotaHeader, ratelimitconf.DescriptorQuota, consumerHeader, ratelimitconf.DescriptorConsumer)
	}
	if quotaEntries == 0 && len(pol.Quotas()) > 0 {
		c.add(path, "no rate_limits entry builds apiguard's quota descriptor ({header_name: %s, descriptor_key: %s}, "+
			"{header_name: %s, descriptor_key: %s}): no quota is enforced", quotaHeader, ratelimitconf.DescriptorQuota,
			consumerHeader, ratelimitconf.DescriptorConsumer)
	}
}

// isQuotaDescriptor reports whether rl builds exactly the descriptor the
// ratelimit-config file counts.
func isQuotaDescriptor(rl *routev3.RateLimit, quotaHeader, consumerHeader string) bool {
	acts := rl.GetActions()
	if len(acts) != 2 || rl.GetLimit() != nil {
		return false
	}
	want := [2][2]string{{quotaHeader, ratelimitconf.DescriptorQuota}, {consumerHeader, ratelimitconf.DescriptorConsumer}}
	for i, a := range acts {
		rh := a.GetRequestHeaders()
		if rh == nil || rh.GetSkipIfAbsent() || !strings.EqualFold(rh.GetHeaderName(), want[i][0]) || rh.GetDescriptorKey() != want[i][1] {
			return false
		}
	}
	return true
}
