package configcheck

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestStateProblems: a format may read apiguard's filter state only as
// wasm.apiguard, downstream, and, to get the record itself, as PLAIN; in
// CEL only whole. Other filters' keys are not apiguard's business.
func TestStateProblems(t *testing.T) {
	tests := []struct {
		name      string
		text      string
		err, warn string // substrings; "" for none
	}{
		{"plain", "%FILTER_STATE(wasm.apiguard:PLAIN)%", "", ""},
		{"plain with length", "x %FILTER_STATE(wasm.apiguard:PLAIN):200% y", "", ""},
		{"typed", "%FILTER_STATE(wasm.apiguard:TYPED)%", "", "base64"},
		{"default typed", "%FILTER_STATE(wasm.apiguard)%", "", "TYPED (the default)"},
		{"field", "%FILTER_STATE(wasm.apiguard:FIELD:consumer)%", "FIELD always finds nothing", ""},
		{"upstream", "%UPSTREAM_FILTER_STATE(wasm.apiguard:PLAIN)%", "UPSTREAM_FILTER_STATE never has it", ""},
		{"a field as a key", "%FILTER_STATE(wasm.apiguard.consumer:PLAIN)%", "consumer is a field of that record", ""},
		{"misspelt key", "%FILTER_STATE(wasm.apiguard.consumr:PLAIN)%", "apiguard sets no filter state wasm.apiguard.consumr", ""},
		{"underscore key", "%FILTER_STATE(wasm.apiguard_decision:PLAIN)%", "apiguard sets no filter state", ""},
		{"another filter's key", "%FILTER_STATE(wasm.other.consumer:PLAIN)% %FILTER_STATE(envoy.network.upstream_server_name)%", "", ""},
		{"not apiguard's prefix", "%FILTER_STATE(wasm.apiguardian:PLAIN)%", "", ""},
		{"cel whole", `%CEL(filter_state['wasm.apiguard'])%`, "", ""},
		{"cel prefix test", `string(filter_state["wasm.apiguard"]).startsWith('{"decision":"deny"')`, "", ""},
		{"cel field", `%CEL(filter_state['wasm.apiguard'].consumer)%`, "bytes to CEL", ""},
		{"cel index", `filter_state['wasm.apiguard']['consumer'] == 'x'`, "bytes to CEL", ""},
		{"cel unknown key", `filter_state['wasm.apiguard.decision'] == b'deny'`, "apiguard sets no filter state wasm.apiguard.decision", ""},
		{"cel upstream", `upstream_filter_state['wasm.apiguard']`, "upstream_filter_state never has it", ""},
		{"nothing", "%START_TIME% %REQ(:PATH)%", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs, warns := stateProblems(tt.text)
			check := func(kind string, got []string, want string) {
				if want == "" {
					if len(got) > 0 {
						t.Errorf("%s: unexpected %s %q", tt.text, kind, got)
					}
					return
				}
				if len(got) != 1 || !strings.Contains(got[0], want) {
					t.Errorf("%s: %ss %q, want one with %q", tt.text, kind, got, want)
				}
			}
			check("error", errs, tt.err)
			check("warning", warns, tt.warn)
		})
	}
}

// TestEnvoyAccessLogState: ValidateEnvoyYAML checks the access logs of a
// bootstrap with stateProblems, at the line of the format field, in the
// connection manager's access_log and in a listener's.
func TestEnvoyAccessLogState(t *testing.T) {
	shipped := readFile(t, envoyFile)
	field := hcmPath + ".access_log[0].typed_config.log_format.json_format.apiguard"
	tests := []struct {
		name    string
		edits   []string
		path    string
		msg     string
		warning bool
	}{
		{"a field as a key", []string{"%FILTER_STATE(wasm.apiguard:PLAIN)%", "%FILTER_STATE(wasm.apiguard.consumer:PLAIN)%"},
			field, "consumer is a field of that record", false},
		{"upstream", []string{"%FILTER_STATE(wasm.apiguard:PLAIN)%", "%UPSTREAM_FILTER_STATE(wasm.apiguard:PLAIN)%"},
			field, "UPSTREAM_FILTER_STATE never has it", false},
		{"typed", []string{"%FILTER_STATE(wasm.apiguard:PLAIN)%", "%FILTER_STATE(wasm.apiguard)%"},
			field, "TYPED (the default)", true},
		{"listener access log", []string{"    filter_chains:\n", "    access_log:\n    - name: envoy.access_loggers.stderr\n" +
			"      typed_config:\n        \"@type\": type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StderrAccessLog\n" +
			"        log_format:\n          text_format_source:\n            inline_string: \"%FILTER_STATE(wasm.apiguard.route:PLAIN)%\\n\"\n" +
			"    filter_chains:\n"},
			"static_resources.listeners[0].access_log[0].typed_config.log_format.text_format_source.inline_string", "route is a field", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := edit(t, shipped, tt.edits...)
			_, probs := Validate([]byte(text), EnvoyOptions{})
			var found *Problem
			for i, p := range probs {
				if strings.Contains(p.Msg, tt.msg) {
					found = &probs[i]
				}
			}
			if found == nil {
				t.Fatalf("no problem with %q:\n%s", tt.msg, listProblems(probs))
			}
			if found.Path != tt.path || found.Warning != tt.warning || found.Line == 0 {
				t.Errorf("problem at %s (line %d, warning %v), want %s (warning %v)", found.Path, found.Line, found.Warning, tt.path, tt.warning)
			}
			if want := strings.Count(text[:strings.Index(text, strings.SplitN(tt.edits[1], "\n", 2)[0])], "\n") + 1; tt.name != "listener access log" && found.Line != want {
				t.Errorf("problem at line %d, want %d", found.Line, want)
			}
			if !tt.warning && len(Errors(probs)) == 0 {
				t.Error("the file still counts as valid")
			}
		})
	}
}

// TestIstioTelemetryManifest: deploy/istio/telemetry.yaml is an
// IstioOperator whose meshConfig defines the access-log provider and a
// Telemetry that turns it on, both valid against istio.io/api; broken
// copies are refused where they break.
func TestIstioTelemetryManifest(t *testing.T) {
	shipped := readFile(t, filepath.Join("..", "..", "deploy", "istio", "telemetry.yaml"))
	docs := ValidateDocuments([]byte(shipped), EnvoyOptions{})
	if len(docs) != 2 || docs[0].Kind != KindIstioOperator || docs[1].Kind != KindIstioTelemetry {
		t.Fatalf("documents %+v, want an IstioOperator and a Telemetry", docs)
	}
	for _, d := range docs {
		if len(d.Problems) > 0 {
			t.Errorf("document %d (%v):\n%s", d.Index, d.Kind, listProblems(d.Problems))
		}
	}
	if !strings.Contains(shipped, `apiguard: "%FILTER_STATE(wasm.apiguard:PLAIN)%"`) {
		t.Error("the provider's format does not print apiguard's record")
	}

	tests := []struct {
		name  string
		edits []string
		path  string
		msg   string
	}{
		{"a field as a key", []string{`apiguard: "%FILTER_STATE(wasm.apiguard:PLAIN)%"`, `apiguard: "%FILTER_STATE(wasm.apiguard.consumer:PLAIN)%"`},
			"spec.meshConfig.extensionProviders[0].envoyFileAccessLog.logFormat.labels.apiguard", "consumer is a field"},
		{"misspelt provider field", []string{"envoyFileAccessLog:", "envoyFileAccesLog:"},
			"spec.meshConfig.extensionProviders[0].envoyFileAccesLog", "unknown field"},
		{"misspelt telemetry field", []string{"  accessLogging:", "  accesLogging:"}, "spec.accesLogging", "unknown field"},
		{"cel field", []string{"  - providers:\n", "  - filter:\n      expression: \"filter_state['wasm.apiguard'].decision == 'deny'\"\n    providers:\n"},
			"spec.accessLogging[0].filter.expression", "bytes to CEL"},
		{"wrong apiVersion", []string{"telemetry.istio.io/v1\n", "telemetry.istio.io/v2\n"}, "apiVersion", "telemetry.istio.io/v1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var found bool
			for _, d := range ValidateDocuments([]byte(edit(t, shipped, tt.edits...)), EnvoyOptions{}) {
				for _, p := range Errors(d.Problems) {
					if p.Path == tt.path && strings.Contains(p.Msg, tt.msg) && p.Line > 0 {
						found = true
					}
				}
				if !found && len(Errors(d.Problems)) > 0 {
					t.Logf("document %d:\n%s", d.Index, listProblems(d.Problems))
				}
			}
			if !found {
				t.Errorf("no error at %s with %q", tt.path, tt.msg)
			}
		})
	}
}

// TestEnvoyProxyAccessLogManifest: deploy/envoy-gateway/envoyproxy-accesslog.yaml
// is a valid EnvoyProxy (Envoy Gateway's Go types) printing apiguard's
// record; a format or a CEL match that cannot read it is refused.
func TestEnvoyProxyAccessLogManifest(t *testing.T) {
	shipped := readFile(t, filepath.Join("..", "..", "deploy", "envoy-gateway", "envoyproxy-accesslog.yaml"))
	kind, probs := Validate([]byte(shipped), EnvoyOptions{})
	if kind != KindEnvoyProxy || len(probs) > 0 {
		t.Fatalf("%v:\n%s", kind, listProblems(probs))
	}
	tests := []struct {
		name  string
		edits []string
		path  string
		msg   string
	}{
		{"a field as a key", []string{"wasm.apiguard:PLAIN", "wasm.apiguard.key_id:PLAIN"},
			"spec.telemetry.accessLog.settings[0].format.json.apiguard", "key_id is a field"},
		{"cel match on a field", []string{"        sinks:\n", "        matches:\n        - \"filter_state['wasm.apiguard'].decision == 'deny'\"\n        sinks:\n"},
			"spec.telemetry.accessLog.settings[0].matches[0]", "bytes to CEL"},
		{"misspelt field", []string{"        sinks:\n", "        sink:\n"}, "spec.telemetry.accessLog.settings[0].sink", "unknown field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, probs := Validate([]byte(edit(t, shipped, tt.edits...)), EnvoyOptions{})
			for _, p := range Errors(probs) {
				if p.Path == tt.path && strings.Contains(p.Msg, tt.msg) && p.Line > 0 {
					return
				}
			}
			t.Errorf("no error at %s with %q:\n%s", tt.path, tt.msg, listProblems(probs))
		})
	}
}
