package configcheck

// The kinds of the hosts docs/deploy covers beyond Envoy and Istio's
// WasmPlugin: how Detect recognises them and which validator runs.

var kindNames = map[Kind]string{
	KindIstioTrafficExtension: "Istio TrafficExtension",
	KindEnvoyExtensionPolicy:  "Envoy Gateway EnvoyExtensionPolicy",
	KindBackendTrafficPolicy:  "Envoy Gateway BackendTrafficPolicy",
	KindHigressWasmPlugin:     "Higress WasmPlugin",
	KindIstioEnvoyFilter:      "Istio EnvoyFilter",
}

var hostValidators = map[Kind]func([]byte) []Problem{
	KindIstioTrafficExtension: ValidateIstioTrafficExtension,
	KindEnvoyExtensionPolicy:  ValidateEnvoyExtensionPolicy,
	KindBackendTrafficPolicy:  ValidateBackendTrafficPolicy,
	KindHigressWasmPlugin:     ValidateHigressWasmPlugin,
	KindIstioEnvoyFilter:      ValidateIstioEnvoyFilter,
}

// detectHostKind recognises the kinds of kindNames by kind and API group
// (a WasmPlugin of Higress's group is Higress's; of any other, Istio's).
func detectHostKind(top map[string]any) Kind {
	kind, _ := top["kind"].(string)
	api, _ := top["apiVersion"].(string)
	switch {
	case kind == IstioTrafficExtensionKind:
		return KindIstioTrafficExtension
	case kind == EnvoyExtensionPolicyKind:
		return KindEnvoyExtensionPolicy
	case kind == BackendTrafficPolicyKind:
		return KindBackendTrafficPolicy
	case kind == HigressKind && api == HigressAPIVersion:
		return KindHigressWasmPlugin
	case kind == IstioEnvoyFilterKind && api == IstioNetworkingAPIVersion:
		return KindIstioEnvoyFilter
	}
	return KindUnknown
}
