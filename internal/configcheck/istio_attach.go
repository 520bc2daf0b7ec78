package configcheck

import (
	"fmt"
	"strings"

	typev1beta1 "istio.io/api/type/v1beta1"
)

// Where an Istio WasmPlugin or TrafficExtension attaches, and the ambient
// (waypoint) pitfalls. Facts from istio/istio at
// 86c9f01fd735fb01d8192f5bcaf0d424afb7f14c and istio/api at
// b8f8791d9653b2edc77a071d48887e582cfe84bf:
//   - a waypoint applies only policies that name it with targetRefs
//     (Gateway in the same namespace, or Service, which is for waypoints
//     only); a selector is ignored there (extensions/v1alpha1/
//     traffic_extension.proto, targetRefs);
//   - a waypoint's HTTP listeners are of class SidecarInbound, so a match
//     with mode CLIENT selects nothing on a waypoint; SERVER (or no mode)
//     does (pilot/pkg/networking/core/listener_waypoint.go, the
//     TrafficExtensionsByListenerInfo call; pilot/pkg/model/extensions.go,
//     workloadModeForListenerClass);
//   - waypoint pods carry gateway.networking.k8s.io/gateway-class-name:
//     istio-waypoint and gateway.istio.io/managed: istio.io-mesh-controller
//     (manifests/charts/istio-control/istio-discovery/files/waypoint.yaml).

// waypointPodLabels are labels that only waypoint pods carry (and the
// default waypoint name istioctl gives).
var waypointPodLabels = map[string]string{
	"gateway.networking.k8s.io/gateway-class-name": "istio-waypoint",
	"gateway.istio.io/managed":                     "istio.io-mesh-controller",
	"gateway.networking.k8s.io/gateway-name":       "waypoint",
}

// attachment is how a plugin manifest selects its proxies.
type attachment struct {
	selector   *typev1beta1.WorkloadSelector
	targetRefs []*typev1beta1.PolicyTargetReference
	refsPath   string // path of targetRefs (or targetRef) in the manifest
	selPath    string
}

// waypoint reports whether the manifest targets a waypoint for sure: a
// targetRef to a Service is honoured by waypoints only.
func (a attachment) waypoint() bool {
	for _, r := range a.targetRefs {
		if r.GetKind() == "Service" {
			return true
		}
	}
	return false
}

// checkAttachment reports selector and targetRefs together, a selector of
// waypoint pods (ignored by Istio), targetRefs Istio does not accept, and
// a targetRef to a ServiceEntry (a warning).
func (m *manifest) checkAttachment(a attachment) {
	if a.selector != nil && len(a.targetRefs) > 0 {
		m.add(a.refsPath, "selector and targetRefs are both set: Istio accepts only one of them (selector for sidecars "+
			"and gateways by workload label, targetRefs for a Gateway, a waypoint's Service or a ServiceEntry)")
	}
	for k, v := range a.selector.GetMatchLabels() {
		if want, ok := waypointPodLabels[k]; ok && v == want {
			m.add(joinKey(joinKey(a.selPath, "matchLabels"), k), "this selector picks waypoint pods, and waypoints ignore "+
				"selector policies: the plugin would never run; attach it with targetRefs to the waypoint's Gateway "+
				"(group gateway.networking.k8s.io, kind Gateway) or to a Service that uses the waypoint")
		}
	}
	for i, r := range a.targetRefs {
		p := fmt.Sprintf("%s[%d]", a.refsPath, i)
		if strings.HasSuffix(a.refsPath, "targetRef") {
			p = a.refsPath
		}
		switch r.GetKind() {
		case "Gateway", "GatewayClass":
			if r.GetGroup() != "gateway.networking.k8s.io" {
				m.add(p+".group", "group of a %s target must be gateway.networking.k8s.io, found %q", r.GetKind(), r.GetGroup())
			}
		case "Service":
			if g := r.GetGroup(); g != "" && g != "core" {
				m.add(p+".group", "group of a Service target must be \"\" (or \"core\"), found %q", g)
			}
		case "ServiceEntry":
			if r.GetGroup() != "networking.istio.io" {
				m.add(p+".group", "group of a ServiceEntry target must be networking.istio.io, found %q", r.GetGroup())
			}
			m.warn(p, "a ServiceEntry target runs apiguard on the waypoint of a ServiceEntry's hosts, usually external "+
				"services the mesh calls: the mesh's own clients would need an API key for those calls; target the "+
				"Service (or waypoint Gateway) of the API apiguard protects")
		default:
			m.add(p+".kind", "kind %q: Istio attaches plugins only to Gateway, GatewayClass, Service (waypoints) or ServiceEntry", r.GetKind())
		}
		if ns := r.GetNamespace(); ns != "" && m.namespace != "" && ns != m.namespace {
			m.add(p+".namespace", "namespace %q: Istio only attaches to targets in the plugin's own namespace (%q)", ns, m.namespace)
		}
	}
}

// checkModes checks the match entries' modes (nil: no match) of a plugin
// attached as a. Attached by selector (or to every workload), it runs in
// sidecars, so a missing match or mode selects outbound traffic too (as
// checkTrafficSelectors says for a WasmPlugin). Attached by targetRefs,
// it runs in gateways and waypoints only, where no mode is right; on a
// waypoint mode CLIENT selects nothing.
func (m *manifest) checkModes(matchPath string, modes []typev1beta1.WorkloadMode, a attachment) {
	if len(a.targetRefs) > 0 {
		if !a.waypoint() {
			return
		}
		for i, mode := range modes {
			if mode == typev1beta1.WorkloadMode_CLIENT {
				m.add(fmt.Sprintf("%s[%d].mode", matchPath, i), "mode CLIENT selects nothing on a waypoint (its listeners "+
					"are inbound): use mode SERVER, or no match")
			}
		}
		return
	}
	if len(modes) == 0 {
		m.add(matchPath, "no match: Istio then applies the plugin to inbound and outbound traffic (mode CLIENT_AND_SERVER), "+
			"so a sidecar's outbound calls would need an API key too; "+
			"set match: [{mode: SERVER}] for sidecars or [{mode: CLIENT}] for a gateway")
		return
	}
	for i, mode := range modes {
		p := fmt.Sprintf("%s[%d].mode", matchPath, i)
		switch mode {
		case typev1beta1.WorkloadMode_UNDEFINED:
			m.add(p, "match entry without a mode matches inbound and outbound traffic (CLIENT_AND_SERVER); "+
				"set mode: SERVER for sidecars or mode: CLIENT for a gateway")
		case typev1beta1.WorkloadMode_CLIENT_AND_SERVER:
			m.warn(p, "mode CLIENT_AND_SERVER: right for a gateway, but in a sidecar the workload's outbound calls "+
				"would need an API key too (use SERVER there)")
		}
	}
}

// checkPin checks a module reference: the url's scheme (oci, file, http,
// https; none means oci), a sha256 of 64 lowercase hex digits, and warns
// when a remote module is not pinned. What the sha256 is compared with:
// for an oci:// url the image's manifest digest, for http(s) the module's
// digest (istio/istio pkg/wasm/cache.go, getOrFetch; pkg/wasm/
// imagefetcher.go, PrepareFetch: the manifest digest is the one checked).
func (m *manifest) checkPin(urlPath, url, shaPath, sum string) {
	switch {
	case url == "":
		m.add(urlPath, "missing url of the module (oci://, file://, http:// or https://)")
		return
	case strings.Contains(url, "://") && !hasAnyPrefix(url, "oci://", "file://", "http://", "https://"):
		m.add(urlPath, "url %q has an unsupported scheme; use oci://, file://, http:// or https://", url)
		return
	}
	if sum != "" && !lowerHex64.MatchString(sum) {
		m.add(shaPath, "sha256 must be 64 lowercase hex digits")
		return
	}
	oci := strings.HasPrefix(url, "oci://") || !strings.Contains(url, "://")
	if _, digest, ok := strings.Cut(url, "@sha256:"); ok && oci && sum != "" && digest != sum {
		m.add(shaPath, "sha256 %s differs from the digest in the url (%s): Istio refuses the module", sum, digest)
	}
	if strings.HasPrefix(url, "file://") || sum != "" || oci && strings.Contains(url, "@sha256:") {
		return
	}
	what := "the module's sha256"
	if oci {
		what = "the image's manifest digest (make oci prints it; make manifests sets it), as sha256 or url ...@sha256:<digest>"
	}
	m.warn(urlPath, "the module is fetched without sha256: every proxy runs whatever %s serves when it fetches; pin %s", url, what)
}
