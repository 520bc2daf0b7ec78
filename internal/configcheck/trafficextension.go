package configcheck

import (
	"google.golang.org/protobuf/encoding/protojson"
	extensionsv1alpha1 "istio.io/api/extensions/v1alpha1"
	typev1beta1 "istio.io/api/type/v1beta1"
)

// IstioTrafficExtensionKind is the kind of Istio's TrafficExtension
// (extensions.istio.io/v1alpha1, Istio 1.30 and later), which supersedes
// WasmPlugin: the Wasm fields sit under spec.wasm (istio/api
// extensions/v1alpha1/traffic_extension.proto at
// b8f8791d9653b2edc77a071d48887e582cfe84bf; the type is in istio.io/api
// v1.32.0). Istio translates every WasmPlugin into a TrafficExtension
// named <name>~istio-translated-wasmplugin (istio/istio
// pilot/pkg/config/kube/extensions/translate.go at
// 86c9f01fd735fb01d8192f5bcaf0d424afb7f14c).
const IstioTrafficExtensionKind = "TrafficExtension"

// ValidateIstioTrafficExtension checks an Istio TrafficExtension manifest
// that deploys apiguard, decoded strictly into istio.io/api's
// extensions/v1alpha1.TrafficExtension (spec) and WasmConfig (spec.wasm,
// decoded on its own so that a wrong field there leaves the others
// checked). Besides the envelope (readManifest) it reports what
// ValidateIstioWasmPlugin reports, at the TrafficExtension's paths: a
// phase other than AUTHN; a lua filter or no wasm; a FAIL_OPEN
// failStrategy; a NETWORK type; the url and its pin; the match modes and
// the attachment (see checkModes and checkAttachment: a selector of
// waypoint pods, a ServiceEntry target, mode CLIENT on a waypoint); a
// missing pluginConfig and every problem package policy finds in it.
func ValidateIstioTrafficExtension(data []byte) []Problem {
	m, probs := readManifest(data, IstioAPIVersion, IstioTrafficExtensionKind)
	if m == nil {
		return probs
	}
	if m.spec == nil {
		return m.probs
	}
	rest, wasmVal, hasWasm := splitWasm(m.spec)
	var te extensionsv1alpha1.TrafficExtension
	sp, bad := decodeEachField(m.t, rest, "spec", &te)
	m.probs = append(m.probs, sp...)
	var w extensionsv1alpha1.WasmConfig
	var wbad badFields
	if hasWasm {
		var wp []Problem
		wp, wbad = decodeEachField(m.t, wasmVal, "spec.wasm", &w)
		m.probs = append(m.probs, wp...)
	}

	if !bad.any("phase") && te.GetPhase() != extensionsv1alpha1.TrafficExtension_AUTHN {
		m.add("spec.phase", "phase is %s; apiguard must run in phase AUTHN, before Istio's authorization and stats filters", te.GetPhase())
	}
	m.checkTEAttachment(&te, bad)
	switch {
	case te.GetLua() != nil:
		m.add("spec.lua", "apiguard is a Wasm module: set spec.wasm, not lua")
		return m.probs
	case !hasWasm:
		m.add("spec", "missing wasm: apiguard is loaded from spec.wasm (url, pluginConfig, ...)")
		return m.probs
	}
	m.checkTEWasm(&w, wbad, wasmVal)
	return m.probs
}

// splitWasm returns a TrafficExtension's spec without its wasm field, and
// that field's value (hasWasm false when there is none), so that each is
// decoded on its own.
func splitWasm(spec any) (rest, wasmVal any, hasWasm bool) {
	fields, isMap := spec.(map[string]any)
	if !isMap {
		return spec, nil, false
	}
	r := make(map[string]any, len(fields))
	for k, v := range fields {
		if k == "wasm" {
			wasmVal, hasWasm = v, true
			continue
		}
		r[k] = v
	}
	return r, wasmVal, hasWasm
}

// checkTEAttachment checks what a TrafficExtension attaches to and its
// match modes (checkAttachment, checkModes); bad holds the fields of the
// spec that did not decode.
func (m *manifest) checkTEAttachment(te *extensionsv1alpha1.TrafficExtension, bad badFields) {
	a := attachment{selector: te.GetSelector(), targetRefs: te.GetTargetRefs(),
		refsPath: pathOf(m.spec, "spec", "targetRefs", "target_refs"), selPath: "spec.selector"}
	if !bad.any("selector", "targetRefs", "target_refs") {
		m.checkAttachment(a)
	}
	if !bad.any("match") {
		var modes []typev1beta1.WorkloadMode
		for _, s := range te.GetMatch() {
			modes = append(modes, s.GetMode())
		}
		m.checkModes(pathOf(m.spec, "spec", "match"), modes, a)
	}
}

// checkTEWasm checks spec.wasm (w, decoded from wasmVal; wbad holds its
// fields that did not decode): never FAIL_OPEN, an HTTP filter, the url
// and its pin, and the plugin configuration.
func (m *manifest) checkTEWasm(w *extensionsv1alpha1.WasmConfig, wbad badFields, wasmVal any) {
	if w.GetFailStrategy() == extensionsv1alpha1.FailStrategy_FAIL_OPEN {
		m.add("spec.wasm.failStrategy", "FAIL_OPEN lets requests through unchecked when the plugin fails; apiguard must use FAIL_RELOAD or FAIL_CLOSE")
	}
	if w.GetType() == extensionsv1alpha1.PluginType_NETWORK {
		m.add("spec.wasm.type", "apiguard is an HTTP filter; type must be HTTP (or left out)")
	}
	if !wbad.any("url", "sha256") {
		m.checkPin(pathOf(wasmVal, "spec.wasm", "url"), w.GetUrl(), "spec.wasm.sha256", w.GetSha256())
	}
	pc := w.GetPluginConfig()
	switch {
	case pc == nil && wbad.any("pluginConfig", "plugin_config"):
		return
	case pc == nil:
		m.add("spec.wasm", "missing pluginConfig: apiguard refuses to start without a configuration")
		return
	}
	text, err := protojson.Marshal(pc)
	if err != nil {
		m.add("spec.wasm.pluginConfig", "cannot encode as JSON: %v", err)
		return
	}
	m.pluginConfigProblems(pathOf(wasmVal, "spec.wasm", "pluginConfig", "plugin_config"), text)
}

// istioWasmPluginAttachment runs the attachment checks (checkAttachment)
// and the waypoint mode check on a WasmPlugin, which
// ValidateIstioWasmPlugin does not: a selector of waypoint pods, targetRefs
// Istio does not accept, a ServiceEntry target, mode CLIENT on a waypoint.
// Fields that do not decode are left to ValidateIstioWasmPlugin.
func istioWasmPluginAttachment(data []byte) []Problem {
	m, _ := readManifest(data, IstioAPIVersion, IstioKind)
	if m == nil || m.spec == nil {
		return nil
	}
	m.probs = nil // the envelope is ValidateIstioWasmPlugin's
	var wp extensionsv1alpha1.WasmPlugin
	_, bad := decodeEachField(m.t, m.spec, "spec", &wp)
	if bad.any("selector", "targetRefs", "target_refs", "targetRef", "target_ref", "match") {
		return nil
	}
	refs := wp.GetTargetRefs()
	refsPath := pathOf(m.spec, "spec", "targetRefs", "target_refs", "targetRef", "target_ref")
	if len(refs) == 0 && wp.GetTargetRef() != nil {
		refs = []*typev1beta1.PolicyTargetReference{wp.GetTargetRef()}
	}
	a := attachment{selector: wp.GetSelector(), targetRefs: refs, refsPath: refsPath, selPath: "spec.selector"}
	// selector together with targetRefs is reported by istioSpecChecks.
	sel := a.selector
	if len(refs) > 0 {
		a.selector = nil
	}
	m.checkAttachment(a)
	a.selector = sel
	if a.waypoint() {
		var modes []typev1beta1.WorkloadMode
		for _, s := range wp.GetMatch() {
			modes = append(modes, s.GetMode())
		}
		m.checkModes(pathOf(m.spec, "spec", "match"), modes, a)
	}
	return m.probs
}
