package configcheck

import (
	"fmt"

	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	telemetryv1alpha1 "istio.io/api/telemetry/v1alpha1"
)

// Istio access logging (deploy/istio/telemetry.yaml, docs/logging.md): a
// Telemetry resource turns on a provider that meshConfig.extensionProviders
// defines, here in an IstioOperator. Both are checked with istio.io/api's
// own types (telemetry/v1alpha1.Telemetry, the type of telemetry.istio.io
// v1 and v1alpha1; mesh/v1alpha1.MeshConfig), and the providers' log
// formats with stateProblems.
const (
	TelemetryKind     = "Telemetry"
	IstioOperatorKind = "IstioOperator"
)

// telemetryAPIVersions and operatorAPIVersion are the apiVersions accepted.
var telemetryAPIVersions = map[string]bool{"telemetry.istio.io/v1": true, "telemetry.istio.io/v1alpha1": true}

const operatorAPIVersion = "install.istio.io/v1alpha1"

// ValidateIstioTelemetry checks an Istio Telemetry manifest: its envelope
// (apiVersion, kind, metadata.name), its spec decoded strictly into
// telemetry/v1alpha1.Telemetry, and the CEL filters of its accessLogging
// entries with stateProblems.
func ValidateIstioTelemetry(data []byte) []Problem {
	t, top, probs := k8sEnvelope(data, TelemetryKind, func(v string) bool { return telemetryAPIVersions[v] },
		"telemetry.istio.io/v1")
	if top == nil {
		return probs
	}
	spec, ok := top["spec"]
	if !ok {
		return append(probs, Problem{Path: "spec", Line: t.line("spec"), Msg: "missing spec"})
	}
	var tm telemetryv1alpha1.Telemetry
	sp, _ := decodeEachField(t, spec, "spec", &tm)
	probs = append(probs, sp...)
	for i, al := range tm.GetAccessLogging() {
		path := fmt.Sprintf("%s[%d].filter.expression", pathOf(spec, "spec", "accessLogging", "access_logging"), i)
		errs, warns := stateProblems(al.GetFilter().GetExpression())
		for _, e := range errs {
			probs = append(probs, Problem{Path: path, Line: t.line(path), Msg: e})
		}
		for _, w := range warns {
			probs = append(probs, Problem{Path: path, Line: t.line(path), Msg: w, Warning: true})
		}
	}
	return probs
}

// ValidateIstioOperatorMesh checks the meshConfig of an IstioOperator
// (install.istio.io/v1alpha1): decoded strictly into
// mesh/v1alpha1.MeshConfig, and the log formats of its
// extensionProviders with stateProblems. The rest of the IstioOperator is
// Istio's installer's business and is not checked.
func ValidateIstioOperatorMesh(data []byte) []Problem {
	t, top, probs := k8sEnvelope(data, IstioOperatorKind, func(v string) bool { return v == operatorAPIVersion }, operatorAPIVersion)
	if top == nil {
		return probs
	}
	mesh, ok := get(top, "spec", "meshConfig")
	if !ok {
		return append(probs, Problem{Path: "spec", Line: t.line("spec"), Warning: true,
			Msg: "no spec.meshConfig: nothing of apiguard's to check"})
	}
	var mc meshv1alpha1.MeshConfig
	sp, _ := decodeEachField(t, mesh, "spec.meshConfig", &mc)
	probs = append(probs, sp...)
	return append(probs, accessLogProblems(t, mesh, "spec.meshConfig")...)
}

// k8sEnvelope parses a Kubernetes manifest of kind and checks its
// apiVersion, kind, metadata.name and top-level fields; top is nil when
// the document is not a mapping.
func k8sEnvelope(data []byte, kind string, apiVersionOK func(string) bool, want string) (*tree, map[string]any, []Problem) {
	t, probs := parseTree(data)
	if len(probs) > 0 {
		return t, nil, probs
	}
	top, probs := envelopeTop(t)
	if top == nil {
		return t, nil, probs
	}
	add := func(path, format string, args ...any) {
		probs = append(probs, Problem{Path: path, Line: t.line(path), Msg: fmt.Sprintf(format, args...)})
	}
	if v, _ := top["apiVersion"].(string); !apiVersionOK(v) {
		add("apiVersion", "apiVersion is %q; expected %q", fmt.Sprint(top["apiVersion"]), want)
	}
	if v, _ := top["kind"].(string); v != kind {
		add("kind", "kind is %q; expected %q", fmt.Sprint(top["kind"]), kind)
	}
	name, _ := get(top, "metadata", "name")
	if s, _ := name.(string); s == "" || len(s) > 253 || !dns1123Subdomain.MatchString(s) {
		add("metadata.name", "missing or invalid metadata.name %q", fmt.Sprint(name))
	}
	return t, top, probs
}
