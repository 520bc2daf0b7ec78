package configcheck

import (
	"encoding/json"
	"fmt"
	"strings"

	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"

	"github.com/apiguard/apiguard/internal/ratelimitconf"
	"github.com/apiguard/apiguard/policy"
)

// Envoy Gateway's API (github.com/envoyproxy/gateway v1.9.1, api/v1alpha1),
// decoded strictly with its own Go types (decodeGo). Facts from
// envoyproxy/gateway at tag v1.9.0:
//   - internal/gatewayapi/envoyextensionpolicy.go (buildWasm): an Image
//     code's sha256 must equal the OCI image's manifest digest (the wasm
//     cache checks it against the image's digest, internal/wasm/cache.go and
//     imagefetcher.go, PrepareFetch); an HTTP code's sha256 is the module's;
//   - internal/xds/translator/wasm.go (wasmConfig): one VM per Wasm entry
//     (vm_id is the entry's generated name,
//     envoyextensionpolicy/<namespace>/<name>/wasm/<index>), plugin name
//     the entry's name (else the generated one), and failOpen as Envoy's
//     fail_open: there is no FAIL_RELOAD;
//   - internal/xds/translator/httpfilters.go (newOrderedHTTPFilter): Wasm
//     filters run after CORS and the built-in authentication filters and
//     before RBAC, local and global rate limiting.
const (
	EnvoyGatewayAPIVersion   = ratelimitconf.EnvoyGatewayAPIVersion
	EnvoyExtensionPolicyKind = egv1a1.KindEnvoyExtensionPolicy
	BackendTrafficPolicyKind = egv1a1.KindBackendTrafficPolicy
)

// ValidateEnvoyExtensionPolicy checks an Envoy Gateway EnvoyExtensionPolicy
// that loads apiguard: the envelope; spec decoded strictly; a target
// (targetRefs, targetRef or targetSelectors) of kind Gateway or HTTPRoute;
// and for apiguard's Wasm entry (the only one, or those whose name or url
// says apiguard): failOpen: true is an error, the code type and its source,
// the pin (sha256 or an @sha256: image reference), and the configuration,
// compiled with package policy with every problem at its path.
func ValidateEnvoyExtensionPolicy(data []byte) []Problem {
	m, probs := readManifest(data, EnvoyGatewayAPIVersion, EnvoyExtensionPolicyKind)
	if m == nil {
		return probs
	}
	if m.spec == nil {
		return m.probs
	}
	var spec egv1a1.EnvoyExtensionPolicySpec
	if p := decodeGo(m.t, m.spec, "spec", &spec); len(p) > 0 {
		m.probs = append(m.probs, p...)
		return m.probs
	}
	m.checkEGTargets(spec.PolicyTargetReferences, "HTTPRoute")
	entries := apiguardWasmEntries(spec.Wasm)
	if len(entries) == 0 {
		m.add("spec.wasm", "no Wasm entry loads apiguard (expected one entry, or one whose name or url says apiguard)")
		return m.probs
	}
	for _, i := range entries {
		m.checkEGWasm(&spec.Wasm[i], fmt.Sprintf("spec.wasm[%d]", i))
	}
	return m.probs
}

// apiguardWasmEntries returns the indexes of the Wasm entries that are
// apiguard's.
func apiguardWasmEntries(ws []egv1a1.Wasm) []int {
	if len(ws) == 1 {
		return []int{0}
	}
	var out []int
	for i, w := range ws {
		url := ""
		if w.Code.Image != nil {
			url = w.Code.Image.URL
		} else if w.Code.HTTP != nil {
			url = w.Code.HTTP.URL
		}
		if w.Name != nil && strings.Contains(*w.Name, "apiguard") || strings.Contains(url, "apiguard") {
			out = append(out, i)
		}
	}
	return out
}

func (m *manifest) checkEGWasm(w *egv1a1.Wasm, path string) {
	if w.FailOpen != nil && *w.FailOpen {
		m.add(path+".failOpen", "failOpen: true lets every request through unchecked when the module cannot be fetched, "+
			"fails to start (an invalid configuration included) or crashes; Envoy Gateway has no FAIL_RELOAD, so "+
			"apiguard must use failOpen: false (the default), which answers 5xx instead")
	}
	code := path + ".code"
	switch w.Code.Type {
	case egv1a1.ImageWasmCodeSourceType:
		if w.Code.Image == nil {
			m.add(code, "type Image needs image (url and sha256)")
			break
		}
		img := w.Code.Image
		sum := ""
		if img.SHA256 != nil {
			sum = *img.SHA256
		}
		m.checkEGPin(code+".image", img.URL, sum, strings.Contains(img.URL, "@sha256:"),
			"the image's manifest digest (make oci prints it; make manifests sets it)")
	case egv1a1.HTTPWasmCodeSourceType:
		if w.Code.HTTP == nil {
			m.add(code, "type HTTP needs http (url and sha256)")
			break
		}
		sum := ""
		if w.Code.HTTP.SHA256 != nil {
			sum = *w.Code.HTTP.SHA256
		}
		m.checkEGPin(code+".http", w.Code.HTTP.URL, sum, false, "the module's sha256 (sha256sum build/apiguard.wasm)")
	default:
		m.add(code+".type", "type %q: apiguard is loaded as Image (an OCI image, make oci) or HTTP", w.Code.Type)
	}
	if w.Config == nil || len(w.Config.Raw) == 0 {
		m.add(path, "missing config: apiguard refuses to start without a configuration")
		return
	}
	m.pluginConfigProblems(path+".config", w.Config.Raw)
}

func (m *manifest) checkEGPin(path, url, sum string, digestInURL bool, what string) {
	if url == "" {
		m.add(path+".url", "missing url")
	}
	switch {
	case sum != "" && !lowerHex64.MatchString(sum):
		m.add(path+".sha256", "sha256 must be 64 lowercase hex digits")
	case sum == "" && !digestInURL:
		m.warn(path, "no sha256: every Envoy Gateway controller runs whatever %s serves when it fetches; pin %s", url, what)
	}
	if _, d, ok := strings.Cut(url, "@sha256:"); ok && sum != "" && d != sum {
		m.add(path+".sha256", "sha256 %s differs from the digest in the url (%s): the fetch would fail", sum, d)
	}
}

// checkEGTargets checks that a policy names what it applies to, with
// kinds Gateway or the route kind given.
func (m *manifest) checkEGTargets(t egv1a1.PolicyTargetReferences, routeKind string) {
	//lint:ignore SA1019 the deprecated singular targetRef is still accepted by Envoy Gateway, so it is checked too
	ref := t.TargetRef
	if ref == nil && len(t.TargetRefs) == 0 && len(t.TargetSelectors) == 0 {
		m.add("spec", "no targetRefs: the policy applies to nothing; target the Gateway (or an %s)", routeKind)
		return
	}
	check := func(path, group, kind string) {
		if group != "gateway.networking.k8s.io" {
			m.add(path+".group", "group %q: targets are Gateway API objects (gateway.networking.k8s.io)", group)
		}
		if kind != "Gateway" && kind != routeKind && kind != "GRPCRoute" {
			m.add(path+".kind", "kind %q: target a Gateway or an %s", kind, routeKind)
		}
	}
	if ref != nil {
		check("spec.targetRef", string(ref.Group), string(ref.Kind))
		m.warn("spec.targetRef", "targetRef is deprecated in Envoy Gateway's API: use targetRefs")
	}
	for i, r := range t.TargetRefs {
		check(fmt.Sprintf("spec.targetRefs[%d]", i), string(r.Group), string(r.Kind))
	}
}

// ValidateBackendTrafficPolicy checks an Envoy Gateway
// BackendTrafficPolicy: the envelope, spec decoded strictly, a target, and
// the global rate-limit rules that read apiguard's quota or consumer
// header: each must be built as apiguard ratelimit-config --format
// envoy-gateway builds it (see EnvoyGatewayRateLimitProblems). Without
// the plugin configuration, the headers are apiguard's default names; a
// file that also holds the EnvoyExtensionPolicy is checked against its
// configuration by ValidateDocuments.
func ValidateBackendTrafficPolicy(data []byte) []Problem {
	return validateBTP(data, nil)
}

// EnvoyGatewayRateLimitProblems checks the BackendTrafficPolicy btp
// against the plugin configuration pluginConfig (JSON): besides what
// ValidateBackendTrafficPolicy checks, there must be exactly one rule per
// quota, with the quota's requests and unit, and no rule for a quota the
// configuration does not define.
func EnvoyGatewayRateLimitProblems(btp, pluginConfig []byte) []Problem {
	pol, err := policy.Compile(pluginConfig)
	if err != nil {
		return []Problem{{Msg: "the plugin configuration does not compile: " + err.Error()}}
	}
	return validateBTP(btp, pol)
}

// validateBTP checks a BackendTrafficPolicy's rate limits against the
// quotas of pol (nil when the plugin configuration is not known).
func validateBTP(data []byte, pol *policy.Policy) []Problem {
	m, probs := readManifest(data, EnvoyGatewayAPIVersion, BackendTrafficPolicyKind)
	if m == nil {
		return probs
	}
	if m.spec == nil {
		return m.probs
	}
	var spec egv1a1.BackendTrafficPolicySpec
	if p := decodeGo(m.t, m.spec, "spec", &spec); len(p) > 0 {
		m.probs = append(m.probs, p...)
		return m.probs
	}
	m.checkEGTargets(spec.PolicyTargetReferences, "HTTPRoute")
	def := policy.DefaultSummary()
	h := btpHeaders{quota: def.QuotaHeader, consumer: def.IdentityHeaders[0]}
	if pol != nil {
		h = btpHeaders{quota: pol.QuotaHeader(), consumer: pol.ForwardHeaders()[0]}
	}
	rl := spec.RateLimit
	if rl != nil && rl.Local != nil {
		for i, r := range rl.Local.Rules {
			if usesHeader(r, h.quota, h.consumer) {
				m.add(fmt.Sprintf("spec.rateLimit.local.rules[%d]", i), "a local rate limit counts per Envoy replica: "+
					"apiguard's quotas are fleet-wide, so count them with global rules")
			}
		}
	}
	var rules []egv1a1.RateLimitRule
	if rl != nil && rl.Global != nil {
		rules = rl.Global.Rules
	}
	seen := m.checkBTPQuotaRules(rules, h, pol)
	if pol != nil {
		for _, q := range pol.Quotas() {
			if _, ok := seen[q.Name]; !ok {
				m.add(pathOf(m.spec, "spec", "rateLimit"), "no global rule counts quota %q (%d per %s): it is not enforced "+
					"(regenerate with apiguard ratelimit-config --format envoy-gateway)", q.Name, q.Requests, q.Per)
			}
		}
	}
	return m.probs
}

// btpHeaders are the headers apiguard's quota rules read.
type btpHeaders struct{ quota, consumer string }

// checkBTPQuotaRules checks the global rules that read apiguard's headers:
// each is exactly apiguard's quota rule, shared, counting one per request,
// the only one of its quota, and, with pol, for a quota pol defines with
// its limit. It returns the index of the rule of each quota.
func (m *manifest) checkBTPQuotaRules(rules []egv1a1.RateLimitRule, h btpHeaders, pol *policy.Policy) map[string]int {
	seen := map[string]int{}
	for i, r := range rules {
		path := fmt.Sprintf("spec.rateLimit.global.rules[%d]", i)
		if !usesHeader(r, h.quota, h.consumer) {
			continue
		}
		name, ok := quotaRule(r, h.quota, h.consumer)
		if !ok {
			m.add(path+".clientSelectors", "apiguard's quota rule must be one client selector with exactly two headers: "+
				"{name: %s, type: Exact, value: <quota name>} and {name: %s, type: Distinct}, neither inverted, "+
				"as apiguard ratelimit-config --format envoy-gateway writes it", h.quota, h.consumer)
			continue
		}
		if r.Shared == nil || !*r.Shared {
			m.add(path, "quota %q is not shared: true, so every route of the target keeps its own counter and a "+
				"consumer gets the quota once per route", name)
		}
		if r.Limit.FromMetadata != nil || r.Cost != nil {
			m.add(path, "quota %q: a rule for an apiguard quota counts one per request (no cost, no limit from metadata)", name)
		}
		if first, dup := seen[name]; dup {
			m.add(path, "second rule for quota %q (first at rules[%d]): each request would be counted twice", name, first)
			continue
		}
		seen[name] = i
		if pol != nil {
			m.checkBTPQuotaLimit(path, name, r.Limit, pol)
		}
	}
	return seen
}

// checkBTPQuotaLimit checks that the rule at path counts a quota of pol,
// with its limit.
func (m *manifest) checkBTPQuotaLimit(path, name string, limit egv1a1.RateLimitValue, pol *policy.Policy) {
	var q *policy.Quota
	for _, c := range pol.Quotas() {
		if c.Name == name {
			q = c
		}
	}
	switch {
	case q == nil:
		m.add(path, "quota %q is not one the plugin configuration defines: no request carries it", name)
	case int64(limit.Requests) != q.Requests || string(limit.Unit) != ratelimitconf.EGUnit(q.Per):
		m.add(path+".limit", "quota %q is %d per %s in the plugin configuration, but this rule allows %d per %s "+
			"(regenerate with apiguard ratelimit-config --format envoy-gateway)", name, q.Requests, q.Per, limit.Requests, limit.Unit)
	}
}

// usesHeader reports whether a rule reads the quota or consumer header.
func usesHeader(r egv1a1.RateLimitRule, quotaHeader, consumerHeader string) bool {
	for _, s := range r.ClientSelectors {
		for _, h := range s.Headers {
			if strings.EqualFold(h.Name, quotaHeader) || strings.EqualFold(h.Name, consumerHeader) {
				return true
			}
		}
	}
	return false
}

// quotaRule returns the quota a rule counts when it has exactly the shape
// ratelimit-config writes.
func quotaRule(r egv1a1.RateLimitRule, quotaHeader, consumerHeader string) (string, bool) {
	if len(r.ClientSelectors) != 1 {
		return "", false
	}
	s := r.ClientSelectors[0]
	if len(s.Headers) != 2 || len(s.Methods) > 0 || s.Path != nil || s.SourceCIDR != nil || len(s.QueryParams) > 0 {
		return "", false
	}
	q, c := s.Headers[0], s.Headers[1]
	if strings.EqualFold(q.Name, consumerHeader) {
		q, c = c, q
	}
	exact := q.Type == nil || *q.Type == egv1a1.HeaderMatchExact
	if !strings.EqualFold(q.Name, quotaHeader) || !exact || q.Value == nil || *q.Value == "" || q.Invert != nil && *q.Invert {
		return "", false
	}
	if !strings.EqualFold(c.Name, consumerHeader) || c.Type == nil || *c.Type != egv1a1.HeaderMatchDistinct || c.Value != nil ||
		c.Invert != nil && *c.Invert {
		return "", false
	}
	return *q.Value, true
}

// egPluginConfig returns the configuration of apiguard's Wasm entry of an
// EnvoyExtensionPolicy document, or nil.
func egPluginConfig(data []byte) []byte {
	m, _ := readManifest(data, EnvoyGatewayAPIVersion, EnvoyExtensionPolicyKind)
	if m == nil || m.spec == nil {
		return nil
	}
	var spec egv1a1.EnvoyExtensionPolicySpec
	if len(decodeGo(m.t, m.spec, "spec", &spec)) > 0 {
		return nil
	}
	for _, i := range apiguardWasmEntries(spec.Wasm) {
		if c := spec.Wasm[i].Config; c != nil && json.Valid(c.Raw) {
			return c.Raw
		}
	}
	return nil
}
