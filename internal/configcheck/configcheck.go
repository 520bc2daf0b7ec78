// Package configcheck validates apiguard's deployment files without running
// Envoy: the plugin configuration (JSON), an Envoy bootstrap (envoy.yaml)
// that loads the filter, and an Istio WasmPlugin manifest.
//
// Envoy and Istio files are decoded strictly (unknown fields, bad enum
// values and duplicate YAML keys are errors) into the upstream API types
// (go-control-plane's bootstrap/v3.Bootstrap, istio.io/api's
// extensions/v1alpha1.WasmPlugin), checked with their protoc-gen-validate
// rules, including every typed_config packed in an Any, and then checked for
// what those rules cannot know: that the router is the last HTTP filter,
// that routes name existing clusters, that the filter loads the expected
// .wasm file and fails closed, and that the embedded plugin configuration
// compiles with package policy.
//
// Every check returns a list of Problems; an empty list means the file is
// valid. A Problem's Path locates it in the file, in the file's own
// spelling, for example
//
//	static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[2]
//
// It is used by the tests (make test) and by the command-line tool.
package configcheck

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// A Problem is one reason a file is invalid.
type Problem struct {
	// Path locates the problem in the file: mapping keys joined by dots
	// and list indexes in brackets, as spelt in the file. Inside an
	// embedded plugin configuration it continues with the configuration's
	// own JSON path. Empty means the whole file.
	Path string
	// Line is the 1-based line in the file where Path starts, or 0 when
	// unknown (for example inside a JSON string holding the plugin
	// configuration, where Line is that of the string).
	Line int
	// Column is the 1-based column (in characters) on Line, or 0 when only
	// the line is known; JSON syntax errors have one.
	Column int
	// Msg says what is wrong.
	Msg string
	// Warning marks a configuration that is valid but probably not meant
	// (policy.Policy.Warnings); it does not make the file invalid.
	Warning bool
}

// Errors returns the problems that are not warnings.
func Errors(probs []Problem) []Problem {
	var errs []Problem
	for _, p := range probs {
		if !p.Warning {
			errs = append(errs, p)
		}
	}
	return errs
}

// String formats the problem as "line N: path: message", leaving out the
// parts that are unknown.
func (p Problem) String() string {
	var b strings.Builder
	if p.Warning {
		b.WriteString("warning: ")
	}
	switch {
	case p.Line > 0 && p.Column > 0:
		fmt.Fprintf(&b, "line %d:%d: ", p.Line, p.Column)
	case p.Line > 0:
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Kind is the kind of file Detect recognised.
type Kind int

// The kinds of file this package validates.
const (
	KindUnknown         Kind = iota
	KindPluginConfig         // apiguard's JSON configuration
	KindEnvoyBootstrap       // an Envoy bootstrap, YAML or JSON
	KindIstioWasmPlugin      // an Istio extensions.istio.io WasmPlugin
	KindInvalidYAML          // text that is not YAML (nor JSON)
	// Kinds added for the hosts of docs/deploy (kinds.go).
	KindIstioTrafficExtension // an Istio extensions.istio.io TrafficExtension (1.30+)
	KindEnvoyExtensionPolicy  // an Envoy Gateway EnvoyExtensionPolicy
	KindBackendTrafficPolicy  // an Envoy Gateway BackendTrafficPolicy
	KindHigressWasmPlugin     // a Higress extensions.higress.io WasmPlugin
	KindIstioEnvoyFilter      // an Istio EnvoyFilter (apiguard's rate-limit and CORS patches)
	KindIstioTelemetry        // an Istio telemetry.istio.io Telemetry (istio_telemetry.go)
	KindIstioOperator         // an Istio install.istio.io IstioOperator: its meshConfig
	KindEnvoyProxy            // an Envoy Gateway EnvoyProxy: its access logs (envoyproxy_accesslog.go)
	// Istio security objects for the identity token (identity.go).
	KindIstioRequestAuthentication
	KindIstioAuthorizationPolicy
)

// String returns a short name for the kind.
func (k Kind) String() string {
	switch k {
	case KindPluginConfig:
		return "apiguard plugin configuration"
	case KindEnvoyBootstrap:
		return "Envoy bootstrap"
	case KindIstioWasmPlugin:
		return "Istio WasmPlugin"
	case KindInvalidYAML:
		return "invalid YAML"
	case KindIstioRequestAuthentication:
		return "Istio RequestAuthentication"
	case KindIstioAuthorizationPolicy:
		return "Istio AuthorizationPolicy"
	}
	if n, ok := kindNames[k]; ok {
		return n
	}
	return "unknown"
}

// envoyTopLevel are Bootstrap fields of which any one marks a document as an
// Envoy bootstrap.
var envoyTopLevel = []string{
	"static_resources", "staticResources", "dynamic_resources", "dynamicResources",
	"admin", "node", "layered_runtime", "layeredRuntime", "stats_config", "statsConfig",
}

// Detect guesses the kind of a file from its top-level keys: kind
// WasmPlugin is an Istio manifest, Envoy bootstrap fields such as
// static_resources or admin mark a bootstrap, and any other JSON object is
// taken as a plugin configuration. It does not validate anything.
func Detect(data []byte) Kind {
	var top map[string]any
	trimmed := bytes.TrimSpace(data)
	isJSON := bytes.HasPrefix(trimmed, []byte("{"))
	if isJSON {
		if json.Unmarshal(trimmed, &top) != nil {
			// Broken JSON: most likely a plugin configuration being edited.
			return KindPluginConfig
		}
	} else {
		t, _ := parseTree(data)
		if t == nil {
			return KindUnknown
		}
		m, ok := t.root.(map[string]any)
		if !ok {
			return KindUnknown
		}
		top = m
	}
	if k := detectHostKind(top); k != KindUnknown {
		return k
	}
	switch k, _ := top["kind"].(string); k {
	case "WasmPlugin":
		return KindIstioWasmPlugin
	case RequestAuthenticationKind:
		return KindIstioRequestAuthentication
	case AuthorizationPolicyKind:
		return KindIstioAuthorizationPolicy
	}
	if _, ok := top["apiVersion"]; ok {
		return KindUnknown
	}
	for _, f := range envoyTopLevel {
		if _, ok := top[f]; ok {
			return KindEnvoyBootstrap
		}
	}
	if isJSON {
		return KindPluginConfig
	}
	return KindUnknown
}

// Validate detects the kind of data and runs the matching validator. opts
// is used for Envoy bootstraps only, but for its KeySnapshot, which applies
// to every kind. The problems are sorted by line (those without a line
// first), in the order found within a line.
func Validate(data []byte, opts EnvoyOptions) (Kind, []Problem) {
	var probs []Problem
	k := Detect(data)
	// JSON text is judged as JSON: a syntax error at its line and column,
	// never as YAML, and nothing else (every later check would only repeat
	// it).
	if probs := jsonSyntaxProblems(data); probs != nil {
		if k == KindUnknown {
			k = KindPluginConfig
		}
		return k, probs
	}
	switch k {
	case KindPluginConfig:
		probs = validatePluginConfig(data, opts.KeySnapshot)
	case KindEnvoyBootstrap:
		probs = ValidateEnvoyYAML(data, opts)
	case KindIstioWasmPlugin:
		probs = append(validateIstioWasmPlugin(data, opts.KeySnapshot), istioWasmPluginAttachment(data)...)
		probs = append(probs, wasmPluginIdentityEnv(data)...)
	case KindIstioTrafficExtension, KindEnvoyExtensionPolicy, KindBackendTrafficPolicy, KindHigressWasmPlugin, KindIstioEnvoyFilter,
		KindIstioTelemetry, KindIstioOperator, KindEnvoyProxy:
		probs = hostValidators[k](data)
	case KindIstioRequestAuthentication:
		probs = ValidateRequestAuthentication(data, opts.PluginConfig)
	case KindIstioAuthorizationPolicy:
		probs = ValidateAuthorizationPolicy(data)
	default:
		if _, probs := parseTree(data); len(probs) == 1 && strings.HasPrefix(probs[0].Msg, syntaxMsgPrefix) {
			return KindInvalidYAML, probs
		}
		return KindUnknown, []Problem{{Msg: "cannot tell what this file is: expected an apiguard JSON configuration, " +
			"an Envoy bootstrap (with static_resources), an Istio WasmPlugin or TrafficExtension, an Envoy Gateway " +
			"EnvoyExtensionPolicy or BackendTrafficPolicy, or a Higress WasmPlugin"}}
	}
	sort.SliceStable(probs, func(i, j int) bool { return probs[i].Line < probs[j].Line })
	return k, probs
}
