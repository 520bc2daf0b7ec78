package configcheck

// The kinds of the hosts docs/deploy covers beyond Envoy and Istio's
// WasmPlugin: how Detect recognises them and which validator runs.

var kindNames = map[Kind]string{
	KindIstioTrafficExtension: "Istio TrafficExtension",
	KindEnvoyExtensionPolicy:  "Envoy Gateway EnvoyExtensionPolicy",
	KindBackendTrafficPolicy:  "Envoy Gateway BackendTrafficPolicy",
	KindHigressWasmPlugin:     "Higress WasmPlugin",
	KindIstioEnvoyFilter:      "Istio EnvoyFilter",
	KindIstioTelemetry:        "Istio Telemetry",
	KindIstioOperator:         "IstioOperator meshConfig",
	KindEnvoyProxy:            "Envoy Gateway EnvoyProxy",
}

var hostValidators = map[Kind]func([]byte) []Problem{
	KindIstioTrafficExtension: ValidateIstioTrafficExtension,
	KindEnvoyExtensionPolicy:  ValidateEnvoyExtensionPolicy,
	KindBackendTrafficPolicy:  ValidateBackendTrafficPolicy,
	KindHigressWasmPlugin:     ValidateHigressWasmPlugin,
	KindIstioEnvoyFilter:      ValidateIstioEnvoyFilter,
	KindIstioTelemetry:        ValidateIstioTelemetry,    // istio_telemetry.go
	KindIstioOperator:         ValidateIstioOperatorMesh, // istio_telemetry.go
	KindEnvoyProxy:            ValidateEnvoyProxy,        // envoyproxy_accesslog.go
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
	case kind == TelemetryKind:
		return KindIstioTelemetry
	case kind == IstioOperatorKind:
		return KindIstioOperator
	case kind == EnvoyProxyKind && api == EnvoyGatewayAPIVersion:
		return KindEnvoyProxy
	}
	return KindUnknown
}
