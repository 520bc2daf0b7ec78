package configcheck

import (
	"fmt"
	"regexp"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	extensionsv1alpha1 "istio.io/api/extensions/v1alpha1"
	typev1beta1 "istio.io/api/type/v1beta1"
)

// Istio WasmPlugin manifests this package accepts.
const (
	IstioAPIVersion = "extensions.istio.io/v1alpha1"
	IstioKind       = "WasmPlugin"
)

// objectMetaFields are the metadata fields a manifest may set; the others
// are written by the API server.
var objectMetaFields = map[string]bool{
	"name": true, "namespace": true, "labels": true, "annotations": true,
}

// dns1123Subdomain is the syntax Kubernetes requires of object names.
var dns1123Subdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

// ValidateIstioWasmPlugin checks an Istio WasmPlugin manifest (YAML or
// JSON, one document) that deploys apiguard. It reports:
//   - YAML errors and duplicate keys;
//   - an apiVersion other than extensions.istio.io/v1alpha1 or a kind
//     other than WasmPlugin; a missing or invalid metadata.name; metadata
//     fields a manifest does not set; unknown top-level fields;
//   - anything protojson refuses when decoding spec strictly into
//     istio.io/api extensions/v1alpha1.WasmPlugin (unknown fields, bad enum
//     values, wrong types), one problem per spec field, with suggestions
//     in the manifest's own spelling (imagePullPolicy);
//   - the checks of istioSpecChecks (selector with targetRefs, sha256);
//   - a phase other than AUTHN (apiguard must authenticate before Istio's
//     authorization and stats run), a failStrategy of FAIL_OPEN, a NETWORK
//     type, a missing url or one with an unsupported scheme;
//   - a missing match, or one whose every entry leaves mode unset: Istio's
//     TrafficSelector mode then defaults to CLIENT_AND_SERVER, and in a
//     sidecar the filter would also run on the workload's outbound calls
//     (an explicit CLIENT_AND_SERVER is a warning: right for a gateway,
//     wrong for a sidecar);
//   - a missing pluginConfig and every problem package policy finds in it.
func ValidateIstioWasmPlugin(data []byte) []Problem {
	return validateIstioWasmPlugin(data, nil)
}

// validateIstioWasmPlugin is ValidateIstioWasmPlugin, with the key snapshot
// of EnvoyOptions.KeySnapshot (nil for none).
func validateIstioWasmPlugin(data, snapshot []byte) []Problem {
	t, probs := parseTree(data)
	if len(probs) > 0 {
		return probs
	}
	top, probs := envelopeTop(t)
	if top == nil {
		return probs
	}
	add := func(path, format string, args ...any) {
		probs = append(probs, Problem{Path: path, Line: t.line(path), Msg: fmt.Sprintf(format, args...)})
	}
	checkIstioHeader(top, add)
	spec, ok := top["spec"]
	if !ok {
		add("spec", "missing spec")
		return probs
	}
	// Fields that do not decode are reported and left out; the checks
	// below look at the others, so that one run reports everything.
	var wp extensionsv1alpha1.WasmPlugin
	sp, bad := decodeEachField(t, spec, "spec", &wp)
	probs = append(probs, sp...)
	probs = append(probs, istioSpecChecks(t, spec, &wp, bad)...)
	checkIstioPlacement(&wp, bad, add)
	checkTrafficSelectors(&wp, spec, &probs, t)
	pc := wp.GetPluginConfig()
	switch {
	case pc == nil && bad.any("pluginConfig", "plugin_config"):
		return probs
	case pc == nil:
		add("spec", "missing pluginConfig: apiguard refuses to start without a configuration")
		return probs
	}
	text, err := protojson.Marshal(pc)
	if err != nil {
		add("spec.pluginConfig", "cannot encode as JSON: %v", err)
		return probs
	}
	base := pathOf(spec, "spec", "pluginConfig", "plugin_config")
	for _, p := range pluginProblems(text, snapshot) {
		path := joinPath(base, p.Path)
		probs = append(probs, Problem{Path: path, Line: t.line(path), Msg: p.Msg, Warning: p.Warning})
	}
	return probs
}

// addFunc records a problem at a path.
type addFunc func(path, format string, args ...any)

// checkIstioHeader checks a WasmPlugin's apiVersion, kind and metadata.
func checkIstioHeader(top map[string]any, add addFunc) {
	if v, _ := top["apiVersion"].(string); v != IstioAPIVersion {
		add("apiVersion", "apiVersion is %q; expected %q", fmt.Sprint(top["apiVersion"]), IstioAPIVersion)
	}
	if v, _ := top["kind"].(string); v != IstioKind {
		add("kind", "kind is %q; expected %q", fmt.Sprint(top["kind"]), IstioKind)
	}
	meta, ok := top["metadata"].(map[string]any)
	if !ok {
		add("metadata", "missing metadata (with at least name)")
		return
	}
	for k := range meta {
		if !objectMetaFields[k] {
			add(joinKey("metadata", k), "unexpected metadata field %q (a manifest sets name, namespace, labels, annotations)", k)
		}
	}
	name, _ := meta["name"].(string)
	switch {
	case name == "":
		add("metadata.name", "missing name")
	case len(name) > 253 || !dns1123Subdomain.MatchString(name):
		add("metadata.name", "name %q is not a valid Kubernetes name (lower-case letters, digits, '-' and '.')", name)
	}
}

// checkIstioPlacement checks where and how a WasmPlugin runs apiguard:
// phase AUTHN, a fail strategy that never fails open, an HTTP filter,
// and a module URL of a supported scheme. bad holds the fields that did
// not decode (already reported).
func checkIstioPlacement(wp *extensionsv1alpha1.WasmPlugin, bad badFields, add addFunc) {
	if !bad.any("phase") && wp.GetPhase() != extensionsv1alpha1.PluginPhase_AUTHN {
		add("spec.phase", "phase is %s; apiguard must run in phase AUTHN, before Istio's authorization and stats filters", wp.GetPhase())
	}
	if wp.GetFailStrategy() == extensionsv1alpha1.FailStrategy_FAIL_OPEN {
		add("spec.failStrategy", "FAIL_OPEN lets requests through unchecked when the plugin fails; apiguard must use FAIL_RELOAD or FAIL_CLOSE")
	}
	if wp.GetType() == extensionsv1alpha1.PluginType_NETWORK {
		add("spec.type", "apiguard is an HTTP filter; type must be HTTP (or left out)")
	}
	switch url := wp.GetUrl(); {
	case bad.any("url"):
	case url == "":
		add("spec.url", "missing url of the module (oci://, file://, http:// or https://)")
	case strings.Contains(url, "://") && !hasAnyPrefix(url, "oci://", "file://", "http://", "https://"):
		add("spec.url", "url %q has an unsupported scheme; use oci://, file://, http:// or https://", url)
	}
}

// checkTrafficSelectors reports a WasmPlugin that selects both directions of
// a sidecar's traffic. Istio matches a listener when any entry of match
// matches it; an entry without a mode (or with CLIENT_AND_SERVER) matches
// every listener, and so does an empty match (istio/istio
// pilot/pkg/model/extensions.go, matchTrafficSelectors and matchMode).
func checkTrafficSelectors(wp *extensionsv1alpha1.WasmPlugin, spec any, probs *[]Problem, t *tree) {
	matchPath := pathOf(spec, "spec", "match")
	if len(wp.GetMatch()) == 0 {
		*probs = append(*probs, Problem{Path: matchPath, Line: t.line(matchPath),
			Msg: "no match: Istio then applies the plugin to inbound and outbound traffic (mode CLIENT_AND_SERVER), " +
				"so a sidecar's outbound calls would need an API key too; " +
				"set match: [{mode: SERVER}] for sidecars or [{mode: CLIENT}] for a gateway"})
		return
	}
	for i, m := range wp.GetMatch() {
		path := fmt.Sprintf("%s[%d].mode", matchPath, i)
		switch m.GetMode() {
		case typev1beta1.WorkloadMode_UNDEFINED:
			*probs = append(*probs, Problem{Path: path, Line: t.line(fmt.Sprintf("%s[%d]", matchPath, i)),
				Msg: "match entry without a mode matches inbound and outbound traffic (CLIENT_AND_SERVER); " +
					"set mode: SERVER for sidecars or mode: CLIENT for a gateway"})
		case typev1beta1.WorkloadMode_CLIENT_AND_SERVER:
			*probs = append(*probs, Problem{Path: path, Line: t.line(path), Warning: true,
				Msg: "mode CLIENT_AND_SERVER: right for a gateway, but in a sidecar the workload's outbound calls " +
					"would need an API key too (use SERVER there)"})
		}
	}
}

// pathOf returns parent.<name> for whichever of the spellings obj uses.
func pathOf(obj any, parent string, names ...string) string {
	if m, ok := obj.(map[string]any); ok {
		for _, n := range names {
			if _, ok := m[n]; ok {
				return joinKey(parent, n)
			}
		}
	}
	return joinKey(parent, names[0])
}

func hasAnyPrefix(s string, prefixes ...string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
