package configcheck

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	securityv1beta1 "istio.io/api/security/v1beta1"

	"github.com/apiguard/apiguard/policy"
)

// Istio security manifests this package checks next to a WasmPlugin: the
// pair that makes an upstream accept only requests carrying apiguard's
// identity token (docs/identity.md).
const (
	IstioSecurityAPIVersion    = "security.istio.io/v1"
	IstioSecurityAPIVersionOld = "security.istio.io/v1beta1"
	RequestAuthenticationKind  = "RequestAuthentication"
	AuthorizationPolicyKind    = "AuthorizationPolicy"
)

// ValidateRequestAuthentication checks an Istio RequestAuthentication (one
// document) that verifies apiguard's identity token. Its spec is decoded
// strictly into istio.io/api security/v1beta1.RequestAuthentication (the
// schema of security.istio.io/v1 too). Against the identity_token of the
// plugin configuration config (JSON), one of its jwtRules must:
//   - have the configuration's issuer;
//   - list its audience in audiences (Istio accepts only the service's own
//     name when audiences is empty);
//   - read the token where the filter puts it: fromHeaders holding the
//     header (with prefix "Bearer " for authorization), or no fromHeaders,
//     fromParams and fromCookies at all for authorization (Istio's default
//     locations; a warning, as the default also reads the access_token
//     query parameter, which apiguard does not remove);
//   - carry the key set in jwks holding the key_id as a kid of a key of the
//     configured algorithm (a jwksUri is fetched at run time: a warning).
//
// Without config (nil) the spec is only decoded.
func ValidateRequestAuthentication(data, config []byte) []Problem {
	t, probs := parseTree(data)
	if len(probs) > 0 {
		return probs
	}
	spec, probs := checkSecurityObject(t, RequestAuthenticationKind)
	if spec == nil {
		return probs
	}
	var ra securityv1beta1.RequestAuthentication
	sp, bad := decodeEachField(t, spec, "spec", &ra)
	probs = append(probs, sp...)
	if bad.any("jwtRules", "jwt_rules") {
		return probs
	}
	add := func(path string, warning bool, format string, args ...any) {
		probs = append(probs, Problem{Path: path, Line: t.line(path), Msg: fmt.Sprintf(format, args...), Warning: warning})
	}
	if config == nil {
		add("spec", false, "no plugin configuration to check the RequestAuthentication against: give apiguard validate "+
			"--config CONFIG, or put it in one file with the WasmPlugin")
		return probs
	}
	pol, err := policy.Compile(config)
	if err != nil {
		add("spec", false, "the plugin configuration it is checked against does not compile: %v", err)
		return probs
	}
	tok := pol.IdentityToken()
	if tok == nil {
		add("spec", false, "the plugin configuration has no identity_token: apiguard sends the upstream no token to verify")
		return probs
	}
	rulesPath := pathOf(spec, "spec", "jwtRules", "jwt_rules")
	var rule *securityv1beta1.JWTRule
	ruleIndex := -1
	for i, r := range ra.GetJwtRules() {
		if r.GetIssuer() == tok.Issuer {
			rule, ruleIndex = r, i
			break
		}
	}
	if rule == nil {
		add(rulesPath, false, "no jwtRules entry has issuer %q, the identity_token's issuer", tok.Issuer)
		return probs
	}
	base := fmt.Sprintf("%s[%d]", rulesPath, ruleIndex)
	ruleObj, _ := get(spec, firstKey(spec, "jwtRules", "jwt_rules"), ruleIndex)
	field := func(names ...string) string { return pathOf(ruleObj, base, names...) }

	if !containsString(rule.GetAudiences(), tok.Audience) {
		add(field("audiences"), false, "audiences must list %q, the identity_token's audience (Istio accepts only the "+
			"service's own name when audiences is empty)", tok.Audience)
	}
	checkTokenLocation(rule, tok, field, add)
	checkJWKS(rule, tok, field, add)
	return probs
}

// checkTokenLocation reports a rule that does not read the token from the
// identity_token's header.
func checkTokenLocation(rule *securityv1beta1.JWTRule, tok *policy.IdentityToken, field func(...string) string, add func(string, bool, string, ...any)) {
	wantPrefix := ""
	if tok.Header == "authorization" {
		wantPrefix = "Bearer "
	}
	hs := rule.GetFromHeaders()
	if len(hs) == 0 && len(rule.GetFromParams()) == 0 && len(rule.GetFromCookies()) == 0 {
		if tok.Header != "authorization" {
			add(field("fromHeaders", "from_headers"), false, "fromHeaders must read %q, the identity_token's header "+
				"(without fromHeaders Istio reads only Authorization and the access_token parameter)", tok.Header)
			return
		}
		add(field("fromHeaders", "from_headers"), true, "without fromHeaders Istio also takes a token from the access_token "+
			"query parameter, which apiguard does not remove, and a request with two tokens has an undefined principal: "+
			"set fromHeaders: [{name: Authorization, prefix: \"Bearer \"}]")
		return
	}
	found := false
	for _, h := range hs {
		if strings.EqualFold(h.GetName(), tok.Header) {
			found = true
			if h.GetPrefix() != wantPrefix {
				add(field("fromHeaders", "from_headers"), false, "fromHeaders reads %q with prefix %q; the filter sends %q",
					h.GetName(), h.GetPrefix(), wantPrefix+"<token>")
			}
		}
	}
	if !found {
		add(field("fromHeaders", "from_headers"), false, "fromHeaders must read %q, the identity_token's header", tok.Header)
	}
	if len(rule.GetFromParams()) > 0 || len(rule.GetFromCookies()) > 0 {
		add(field("fromParams", "from_params", "fromCookies", "from_cookies"), true, "fromParams and fromCookies let a client "+
			"add a token apiguard does not remove, and a request with two tokens has an undefined principal in Istio")
	}
}

// checkJWKS reports a rule whose key set cannot verify the tokens.
func checkJWKS(rule *securityv1beta1.JWTRule, tok *policy.IdentityToken, field func(...string) string, add func(string, bool, string, ...any)) {
	if rule.GetJwks() == "" {
		if rule.GetJwksUri() != "" {
			add(field("jwksUri", "jwks_uri"), true, "the key set is fetched from %s at run time and cannot be checked here: "+
				"it must hold key %q (apiguard identity jwks prints it)", rule.GetJwksUri(), tok.KeyID)
			return
		}
		add(field("jwks"), false, "jwks (or jwksUri) must hold the public key %q: apiguard identity jwks prints it", tok.KeyID)
		return
	}
	var set struct {
		Keys []struct {
			Kty string `json:"kty"`
			Crv string `json:"crv"`
			Alg string `json:"alg"`
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal([]byte(rule.GetJwks()), &set); err != nil {
		add(field("jwks"), false, "jwks is not a JSON Web Key Set: %v", err)
		return
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.Kid)
		if k.Kid != tok.KeyID {
			continue
		}
		want := map[string][2]string{policy.AlgEdDSA: {"OKP", "Ed25519"}, policy.AlgES256: {"EC", "P-256"}}[tok.Algorithm]
		if k.Kty != want[0] || k.Crv != want[1] || k.Alg != "" && k.Alg != tok.Algorithm {
			add(field("jwks"), false, "key %q of jwks is a %s %s key (alg %q); the identity_token signs with %s (kty %s, crv %s)",
				k.Kid, k.Kty, k.Crv, k.Alg, tok.Algorithm, want[0], want[1])
		}
		return
	}
	sort.Strings(kids)
	add(field("jwks"), false, "jwks has no key %q, the identity_token's key_id (it has %q): apiguard identity jwks prints it",
		tok.KeyID, kids)
}

// ValidateAuthorizationPolicy checks an Istio AuthorizationPolicy (one
// document) strictly against istio.io/api security/v1beta1.
func ValidateAuthorizationPolicy(data []byte) []Problem {
	t, probs := parseTree(data)
	if len(probs) > 0 {
		return probs
	}
	spec, probs := checkSecurityObject(t, AuthorizationPolicyKind)
	if spec == nil {
		return probs
	}
	var ap securityv1beta1.AuthorizationPolicy
	sp, _ := decodeEachField(t, spec, "spec", &ap)
	return append(probs, sp...)
}

// checkSecurityObject checks the envelope of a security.istio.io object of
// kind and returns its spec (nil when missing).
func checkSecurityObject(t *tree, kind string) (any, []Problem) {
	top, probs := envelopeTop(t)
	if top == nil {
		return nil, probs
	}
	add := func(path, format string, args ...any) {
		probs = append(probs, Problem{Path: path, Line: t.line(path), Msg: fmt.Sprintf(format, args...)})
	}
	if v, _ := top["apiVersion"].(string); v != IstioSecurityAPIVersion && v != IstioSecurityAPIVersionOld {
		add("apiVersion", "apiVersion is %q; expected %q", fmt.Sprint(top["apiVersion"]), IstioSecurityAPIVersion)
	}
	if v, _ := top["kind"].(string); v != kind {
		add("kind", "kind is %q; expected %q", fmt.Sprint(top["kind"]), kind)
	}
	if meta, ok := top["metadata"].(map[string]any); !ok {
		add("metadata", "missing metadata (with at least name)")
	} else {
		for k := range meta {
			if !objectMetaFields[k] {
				add(joinKey("metadata", k), "unexpected metadata field %q (a manifest sets name, namespace, labels, annotations)", k)
			}
		}
		if name, _ := meta["name"].(string); name == "" || len(name) > 253 || !dns1123Subdomain.MatchString(name) {
			add("metadata.name", "name %q is missing or not a valid Kubernetes name", name)
		}
	}
	spec, ok := top["spec"]
	if !ok {
		add("spec", "missing spec")
		return nil, probs
	}
	return spec, probs
}

// wasmPluginConfig returns the pluginConfig of a WasmPlugin document as
// JSON, nil when it has none.
func wasmPluginConfig(doc []byte) []byte {
	t, probs := parseTree(doc)
	if len(probs) > 0 {
		return nil
	}
	spec, _ := get(t.root, "spec")
	pc, ok := get(spec, firstKey(spec, "pluginConfig", "plugin_config"))
	if !ok {
		return nil
	}
	b, err := json.Marshal(pc)
	if err != nil {
		return nil
	}
	return b
}

// firstKey returns whichever of names the mapping obj has, else names[0].
func firstKey(obj any, names ...string) string {
	if m, ok := obj.(map[string]any); ok {
		for _, n := range names {
			if _, ok := m[n]; ok {
				return n
			}
		}
	}
	return names[0]
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// wasmPluginIdentityEnv checks that an Istio WasmPlugin whose pluginConfig
// reads the identity token's key from the environment (signing_key_env)
// passes that variable to the VM: Istio hands the VM only the variables of
// spec.vmConfig.env (valueFrom HOST copies one from the proxy's own
// environment). Without it the plugin refuses to start. A value inline in
// the manifest is a warning: everyone who can read the WasmPlugin can mint
// identities.
func wasmPluginIdentityEnv(data []byte) []Problem {
	t, probs := parseTree(data)
	if len(probs) > 0 {
		return nil
	}
	spec, _ := get(t.root, "spec")
	pc := wasmPluginConfig(data)
	if pc == nil {
		return nil
	}
	pol, err := policy.Compile(pc)
	if err != nil || pol.IdentityToken() == nil || pol.IdentityToken().KeyEnv == "" {
		return nil // the pluginConfig's own problems are reported elsewhere
	}
	name := pol.IdentityToken().KeyEnv
	vmKey := firstKey(spec, "vmConfig", "vm_config")
	vm, _ := get(spec, vmKey)
	envPath := joinKey(joinKey("spec", vmKey), "env")
	env, _ := get(vm, "env")
	list, _ := env.([]any)
	for i, e := range list {
		m, _ := e.(map[string]any)
		if n, _ := m["name"].(string); n != name {
			continue
		}
		from, _ := m["valueFrom"].(string)
		if from == "" {
			from, _ = m["value_from"].(string)
		}
		if from != "HOST" {
			path := fmt.Sprintf("%s[%d]", envPath, i)
			return []Problem{{Path: path, Line: t.line(path), Warning: true,
				Msg: fmt.Sprintf("%s, the identity token's signing key, is inline in the WasmPlugin: everyone who can read it "+
					"can mint identities; use valueFrom: HOST and put the key in the proxy's environment from a Secret", name)}}
		}
		return nil
	}
	path := envPath
	if vm == nil {
		path = "spec"
	}
	return []Problem{{Path: path, Line: t.line(path), Msg: fmt.Sprintf("the pluginConfig's identity_token.signing_key_env "+
		"names %s, which vmConfig.env does not pass to the Wasm VM: the plugin would fail to start; add "+
		"{name: %s, valueFrom: HOST}", name, name)}}
}
