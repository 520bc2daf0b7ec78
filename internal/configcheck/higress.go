package configcheck

import (
	"encoding/json"
	"fmt"
)

// Higress's WasmPlugin (extensions.higress.io/v1alpha1). Its Go types are
// not on the Go module proxy (github.com/alibaba/higress/v2 is not served
// there), so the spec is decoded strictly (decodeGo) into higressSpec,
// written here from the message's fields in alibaba/higress
// api/extensions/v1alpha1/wasmplugin.proto at
// 4e0d69143208d713e88880d5af1c86f4386e425c. Higress turns it into an Istio
// WasmPlugin named <name>-wasmplugin in the same namespace for its gateway
// pods (pkg/ingress/config/ingress_config.go, convertIstioWasmPlugin and
// AddOrUpdateWasmPlugin): pluginConfig, when set, is used as is and
// defaultConfig and matchRules are ignored; otherwise defaultConfig is the
// configuration, with matchRules added as _rules_ (see
// policy.HigressRulesField). failStrategy has FAIL_CLOSE (the default)
// and FAIL_OPEN only.
const (
	HigressAPIVersion = "extensions.higress.io/v1alpha1"
	HigressKind       = "WasmPlugin"
)

// higressSpec holds the fields of higress.extensions.v1alpha1.WasmPlugin,
// by their JSON names (enums as their names).
type higressSpec struct {
	URL                  string           `json:"url"`
	SHA256               string           `json:"sha256"`
	ImagePullPolicy      string           `json:"imagePullPolicy"`
	ImagePullSecret      string           `json:"imagePullSecret"`
	VerificationKey      string           `json:"verificationKey"`
	PluginConfig         map[string]any   `json:"pluginConfig"`
	PluginName           string           `json:"pluginName"`
	Phase                string           `json:"phase"`
	Priority             *int32           `json:"priority"`
	FailStrategy         string           `json:"failStrategy"`
	VMConfig             *higressVMConfig `json:"vmConfig"`
	DefaultConfig        map[string]any   `json:"defaultConfig"`
	MatchRules           []higressRule    `json:"matchRules"`
	DefaultConfigDisable *bool            `json:"defaultConfigDisable"`
}

type higressVMConfig struct {
	Env []higressEnv `json:"env"`
}

type higressEnv struct {
	Name      string `json:"name"`
	ValueFrom string `json:"valueFrom"`
	Value     string `json:"value"`
}

type higressRule struct {
	Ingress       []string       `json:"ingress"`
	Domain        []string       `json:"domain"`
	Config        map[string]any `json:"config"`
	ConfigDisable *bool          `json:"configDisable"`
	Service       []string       `json:"service"`
	RouteType     string         `json:"routeType"`
}

// higressEnums are the enum fields' values.
var higressEnums = []struct {
	path   string
	get    func(*higressSpec) string
	values []string
}{
	{"spec.phase", func(s *higressSpec) string { return s.Phase }, []string{"UNSPECIFIED_PHASE", "AUTHN", "AUTHZ", "STATS"}},
	{"spec.failStrategy", func(s *higressSpec) string { return s.FailStrategy }, []string{"FAIL_CLOSE", "FAIL_OPEN"}},
	{"spec.imagePullPolicy", func(s *higressSpec) string { return s.ImagePullPolicy }, []string{"UNSPECIFIED_POLICY", "IfNotPresent", "Always"}},
}

// ValidateHigressWasmPlugin checks a Higress WasmPlugin that loads
// apiguard: the envelope; spec decoded strictly; enum values; phase AUTHN;
// failStrategy FAIL_OPEN is an error; the url and its pin; and the
// configuration Higress will deliver (pluginConfig, else defaultConfig
// with matchRules as _rules_), compiled with package policy with every
// problem at its path. A match rule's own config is not apiguard's
// (apiguard does not honour per-route rules: a warning says so) and is
// not compiled.
func ValidateHigressWasmPlugin(data []byte) []Problem {
	m, probs := readManifest(data, HigressAPIVersion, HigressKind)
	if m == nil {
		return probs
	}
	if m.spec == nil {
		return m.probs
	}
	var s higressSpec
	if p := decodeGo(m.t, m.spec, "spec", &s); len(p) > 0 {
		m.probs = append(m.probs, p...)
		return m.probs
	}
	for _, e := range higressEnums {
		if v := e.get(&s); v != "" && !contains(e.values, v) {
			m.add(e.path, "invalid value %q; valid values: %v", v, e.values)
		}
	}
	if s.Phase != "AUTHN" {
		m.add("spec.phase", "phase is %q; apiguard must run in phase AUTHN, before the gateway's authorization and stats filters", s.Phase)
	}
	if s.FailStrategy == "FAIL_OPEN" {
		m.add("spec.failStrategy", "FAIL_OPEN lets requests through unchecked when the plugin fails; apiguard must use FAIL_CLOSE "+
			"(the default; Higress has no FAIL_RELOAD)")
	}
	m.checkPin(pathOf(m.spec, "spec", "url"), s.URL, "spec.sha256", s.SHA256)
	for i, r := range s.MatchRules {
		if len(r.Ingress)+len(r.Domain)+len(r.Service) == 0 && (r.ConfigDisable == nil || !*r.ConfigDisable) {
			m.add(fmt.Sprintf("spec.matchRules[%d]", i), "a match rule without ingress, domain or service: Higress refuses the whole WasmPlugin")
		}
	}
	switch {
	case s.PluginConfig != nil:
		if len(s.MatchRules) > 0 || s.DefaultConfig != nil {
			m.warn("spec.pluginConfig", "pluginConfig is set, so Higress ignores defaultConfig and matchRules")
		}
		m.higressConfig("spec.pluginConfig", s.PluginConfig)
	case s.DefaultConfigDisable != nil && *s.DefaultConfigDisable:
		m.add("spec.defaultConfigDisable", "defaultConfigDisable: true leaves apiguard without its configuration (apiguard has "+
			"no per-route configuration); put the configuration in defaultConfig")
	case s.DefaultConfig == nil:
		m.add("spec", "missing defaultConfig: apiguard refuses to start without a configuration")
	default:
		cfg := s.DefaultConfig
		if len(s.MatchRules) > 0 {
			cfg = make(map[string]any, len(s.DefaultConfig)+1)
			for k, v := range s.DefaultConfig {
				cfg[k] = v
			}
			rules := make([]any, len(s.MatchRules))
			for i := range rules {
				rules[i] = map[string]any{}
			}
			cfg["_rules_"] = rules
		}
		m.higressConfig("spec.defaultConfig", cfg)
	}
	return m.probs
}

// higressConfig compiles the configuration Higress delivers; problems at
// _rules_ (what Higress adds from matchRules) are put at spec.matchRules.
func (m *manifest) higressConfig(path string, cfg map[string]any) {
	text, err := json.Marshal(cfg)
	if err != nil {
		m.add(path, "cannot encode as JSON: %v", err)
		return
	}
	for _, p := range pluginProblems(text, nil) {
		pp := joinPath(path, p.Path)
		if p.Path == "_rules_" {
			pp = "spec.matchRules"
		}
		m.probs = append(m.probs, Problem{Path: pp, Line: m.t.line(pp), Msg: p.Msg, Warning: p.Warning})
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
