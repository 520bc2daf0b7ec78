package configcheck

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	metricv3 "github.com/envoyproxy/go-control-plane/envoy/config/metrics/v3"
	wasmfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/wasm/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/encoding/protojson"
	extensionsv1alpha1 "istio.io/api/extensions/v1alpha1"
	typev1beta1 "istio.io/api/type/v1beta1"
)

// The shipped files, relative to this package's directory.
var (
	envoyFile   = filepath.Join("..", "..", "envoy.yaml")
	istioFile   = filepath.Join("..", "..", "deploy", "istio", "wasmplugin.yaml")
	gatewayFile = filepath.Join("..", "..", "deploy", "istio", "wasmplugin-gateway.yaml")
	exampleFile = filepath.Join("..", "..", "examples", "config.json")
)

func readFile(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// edit applies replacements to text in order; each old string must occur
// exactly once, so that a change to the shipped file cannot silently turn a
// test case into a no-op.
func edit(t *testing.T, text string, pairs ...string) string {
	t.Helper()
	if len(pairs)%2 != 0 {
		t.Fatal("edit needs old/new pairs")
	}
	for i := 0; i < len(pairs); i += 2 {
		if n := strings.Count(text, pairs[i]); n != 1 {
			t.Fatalf("edit: %q occurs %d times in the file, want exactly 1", pairs[i], n)
		}
		text = strings.Replace(text, pairs[i], pairs[i+1], 1)
	}
	return text
}

// wantProblem fails unless probs has a problem at exactly path whose
// message contains every one of msgs.
func wantProblem(t *testing.T, probs []Problem, path string, msgs ...string) {
	t.Helper()
	for _, p := range probs {
		if p.Path != path {
			continue
		}
		ok := true
		for _, m := range msgs {
			ok = ok && strings.Contains(p.Msg, m)
		}
		if ok {
			if p.Line <= 0 {
				t.Errorf("problem %q has no line number", p)
			}
			return
		}
	}
	t.Errorf("no problem at %q containing %q; got:\n%s", path, msgs, listProblems(probs))
}

func listProblems(probs []Problem) string {
	if len(probs) == 0 {
		return "\t(none)"
	}
	var b strings.Builder
	for _, p := range probs {
		b.WriteString("\t" + p.String() + "\n")
	}
	return b.String()
}

func TestShippedFilesAreValid(t *testing.T) {
	tests := []struct {
		file string
		kind Kind
	}{
		{envoyFile, KindEnvoyBootstrap},
		{istioFile, KindIstioWasmPlugin},
		{gatewayFile, KindIstioWasmPlugin},
		{exampleFile, KindPluginConfig},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.file), func(t *testing.T) {
			kind, probs := Validate([]byte(readFile(t, tt.file)), EnvoyOptions{})
			if kind != tt.kind {
				t.Errorf("detected as %v, want %v", kind, tt.kind)
			}
			if errs := Errors(probs); len(errs) > 0 {
				t.Errorf("%s is invalid:\n%s", tt.file, listProblems(errs))
			}
			// The only warning a shipped file may carry: the Istio
			// manifests' placeholder registry cannot be pinned.
			for _, p := range probs {
				istio := tt.file == istioFile || tt.file == gatewayFile
				if p.Warning && !(istio && p.Path == "spec.url" && strings.Contains(p.Msg, "without sha256")) {
					t.Errorf("%s: unexpected warning %s", tt.file, p)
				}
			}
		})
	}
}

// wasmFilterConfig returns the configuration string of the first Wasm HTTP
// filter of a bootstrap, read through the real API types.
func wasmFilterConfig(t *testing.T, data string) string {
	t.Helper()
	tr, probs := parseTree([]byte(data))
	if len(probs) > 0 {
		t.Fatal(listProblems(probs))
	}
	var b bootstrapv3.Bootstrap
	if probs := decodeStrict(tr, tr.root, "", &b); len(probs) > 0 {
		t.Fatal(listProblems(probs))
	}
	for _, l := range b.GetStaticResources().GetListeners() {
		for _, fc := range l.GetFilterChains() {
			for _, f := range fc.GetFilters() {
				var hcm hcmv3.HttpConnectionManager
				if f.GetTypedConfig().UnmarshalTo(&hcm) != nil {
					continue
				}
				for _, hf := range hcm.GetHttpFilters() {
					var w wasmfilterv3.Wasm
					if hf.GetTypedConfig().UnmarshalTo(&w) != nil {
						continue
					}
					text, _, err := configurationText(w.GetConfig().GetConfiguration())
					if err != nil {
						t.Fatal(err)
					}
					return text
				}
			}
		}
	}
	t.Fatal("no Wasm HTTP filter found")
	return ""
}

func jsonValue(t *testing.T, what string, data []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// TestConfigCopiesMatchExample keeps the plugin configurations carried by
// envoy.yaml and the Istio manifest equal to examples/config.json, the one
// source of truth.
func TestConfigCopiesMatchExample(t *testing.T) {
	want := jsonValue(t, exampleFile, []byte(readFile(t, exampleFile)))

	envoyCopy := jsonValue(t, envoyFile+" configuration", []byte(wasmFilterConfig(t, readFile(t, envoyFile))))
	if !reflect.DeepEqual(envoyCopy, want) {
		t.Errorf("the configuration in %s differs from %s; copy it over", envoyFile, exampleFile)
	}

	for _, file := range []string{istioFile, gatewayFile} {
		tr, probs := parseTree([]byte(readFile(t, file)))
		if len(probs) > 0 {
			t.Fatal(listProblems(probs))
		}
		pc, ok := get(tr.root, "spec", "pluginConfig")
		if !ok {
			t.Fatalf("%s has no spec.pluginConfig", file)
		}
		raw, err := json.Marshal(pc)
		if err != nil {
			t.Fatal(err)
		}
		if istioCopy := jsonValue(t, file+" pluginConfig", raw); !reflect.DeepEqual(istioCopy, want) {
			t.Errorf("spec.pluginConfig in %s differs from %s; copy it over", file, exampleFile)
		}
	}
}

// TestIstioManifestsSelectOneDirection: the sidecar manifest applies to
// inbound traffic only and the gateway manifest to the gateway's (client)
// listeners, both reloading a crashed VM, read through istio.io/api's own
// types.
func TestIstioManifestsSelectOneDirection(t *testing.T) {
	for _, tt := range []struct {
		file string
		mode typev1beta1.WorkloadMode
	}{
		{istioFile, typev1beta1.WorkloadMode_SERVER},
		{gatewayFile, typev1beta1.WorkloadMode_CLIENT},
	} {
		t.Run(filepath.Base(tt.file), func(t *testing.T) {
			tr, probs := parseTree([]byte(readFile(t, tt.file)))
			if len(probs) > 0 {
				t.Fatal(listProblems(probs))
			}
			spec, _ := get(tr.root, "spec")
			var wp extensionsv1alpha1.WasmPlugin
			if probs := decodeStrict(tr, spec, "spec", &wp); len(probs) > 0 {
				t.Fatal(listProblems(probs))
			}
			if len(wp.GetMatch()) != 1 || wp.GetMatch()[0].GetMode() != tt.mode || len(wp.GetMatch()[0].GetPorts()) != 0 {
				t.Errorf("match = %v, want exactly [{mode: %v}]", wp.GetMatch(), tt.mode)
			}
			if wp.GetFailStrategy() != extensionsv1alpha1.FailStrategy_FAIL_RELOAD {
				t.Errorf("failStrategy = %v, want FAIL_RELOAD", wp.GetFailStrategy())
			}
		})
	}
}

const (
	hcmPath    = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config"
	wasmPath   = hcmPath + ".http_filters[1].typed_config"
	routerPath = hcmPath + ".http_filters[3]"
)

const routerBlock = `          # The router must stay last.
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
`

func TestValidateEnvoyYAMLRejectsBrokenCopies(t *testing.T) {
	shipped := readFile(t, envoyFile)
	tests := []struct {
		name  string
		edits []string // old/new pairs applied to envoy.yaml
		opts  EnvoyOptions
		path  string
		msgs  []string
	}{
		{
			name:  "misspelt field in a typed_config",
			edits: []string{"stat_prefix: ingress_http", "stat_prefx: ingress_http"},
			path:  hcmPath + ".stat_prefx",
			msgs:  []string{`unknown field "stat_prefx"`, `did you mean "stat_prefix"?`},
		},
		{
			name:  "misspelt top-level field",
			edits: []string{"static_resources:", "static_resource:"},
			path:  "static_resource",
			msgs:  []string{`unknown field "static_resource"`, "envoy.config.bootstrap.v3.Bootstrap"},
		},
		{
			name:  "bad enum value",
			edits: []string{"path_with_escaped_slashes_action: REJECT_REQUEST", "path_with_escaped_slashes_action: REJECT"},
			path:  hcmPath + ".path_with_escaped_slashes_action",
			msgs:  []string{`invalid value "REJECT"`, "REJECT_REQUEST"},
		},
		{
			name:  "bad enum value two Anys deep",
			edits: []string{"failure_policy: FAIL_RELOAD", "failure_policy: FAIL_SHUT"},
			path:  wasmPath + ".config.failure_policy",
			msgs:  []string{`invalid value "FAIL_SHUT"`, "envoy.extensions.wasm.v3.FailurePolicy", "FAIL_CLOSED"},
		},
		{
			name:  "wrong value type",
			edits: []string{"port_value: 10000", "port_value: lots"},
			path:  "static_resources.listeners[0].address.socket_address.port_value",
			msgs:  []string{"lots"},
		},
		{
			name:  "unknown typed_config type",
			edits: []string{"envoy.extensions.filters.http.router.v3.Router", "envoy.extensions.filters.http.router.v3.Routr"},
			path:  routerPath + ".typed_config.@type",
			msgs:  []string{`unknown type "type.googleapis.com/envoy.extensions.filters.http.router.v3.Routr"`},
		},
		{
			name:  "duplicate YAML key",
			edits: []string{"stat_prefix: ingress_http\n", "stat_prefix: ingress_http\n          stat_prefix: other\n"},
			path:  hcmPath + ".stat_prefix",
			msgs:  []string{`duplicate key "stat_prefix"`, "first defined at line"},
		},
		{
			name:  "PGV rule in the bootstrap",
			edits: []string{"connect_timeout: 1s", "connect_timeout: 0s"},
			path:  "static_resources.clusters[0].connect_timeout",
			msgs:  []string{"value must be greater than 0s"},
		},
		{
			name:  "PGV rule inside a typed_config",
			edits: []string{"stat_prefix: ingress_http", `stat_prefix: ""`},
			path:  hcmPath + ".stat_prefix",
			msgs:  []string{"value length must be at least 1 runes"},
		},
		{
			name:  "route to a missing cluster",
			edits: []string{"route: {cluster: upstream}", "route: {cluster: upstreem}"},
			path:  hcmPath + ".route_config.virtual_hosts[0].routes[0].route.cluster",
			msgs:  []string{`cluster "upstreem"`, "does not define"},
		},
		{
			name: "router not last",
			edits: []string{
				routerBlock, "",
				"          - name: envoy.filters.http.wasm\n", routerBlock + "          - name: envoy.filters.http.wasm\n",
			},
			path: hcmPath + ".http_filters[1]",
			msgs: []string{"router (envoy.filters.http.router) must be the last HTTP filter", "2 filter(s) follow it"},
		},
		{
			name:  "no router",
			edits: []string{routerBlock, ""},
			path:  hcmPath + ".http_filters",
			msgs:  []string{"no router filter"},
		},
		{
			name:  "wrong wasm path",
			edits: []string{"filename: build/apiguard.wasm", "filename: apiguard.wasm"},
			path:  wasmPath + ".config.vm_config.code.local.filename",
			msgs:  []string{`loads "apiguard.wasm"`, `"build/apiguard.wasm"`},
		},
		{
			name: "wasm path from options",
			opts: EnvoyOptions{WasmPath: "/tmp/x/apiguard.wasm"},
			path: wasmPath + ".config.vm_config.code.local.filename",
			msgs: []string{`loads "build/apiguard.wasm"`, `"/tmp/x/apiguard.wasm"`},
		},
		{
			name:  "failure_policy FAIL_OPEN",
			edits: []string{"failure_policy: FAIL_RELOAD", "failure_policy: FAIL_OPEN"},
			path:  wasmPath + ".config.failure_policy",
			msgs:  []string{"FAIL_OPEN lets requests through unchecked"},
		},
		{
			name:  "deprecated fail_open",
			edits: []string{"failure_policy: FAIL_RELOAD", "fail_open: true"},
			path:  wasmPath + ".config.fail_open",
			msgs:  []string{"fail_open: true lets requests through unchecked", "failure_policy: FAIL_RELOAD"},
		},
		{
			name:  "broken plugin configuration",
			edits: []string{`"pagination": "standard"`, `"pagination": "standrd"`},
			path:  wasmPath + ".config.configuration.value.routes[0].pagination",
			msgs:  []string{"standrd"},
		},
		{
			name:  "plugin configuration that is not JSON",
			edits: []string{`"mode": "enforce",`, `"mode": enforce,`},
			path:  wasmPath + ".config.configuration.value",
		},
		{
			name:  "configuration of the wrong type",
			edits: []string{"type.googleapis.com/google.protobuf.StringValue", "type.googleapis.com/google.protobuf.Int64Value"},
			path:  wasmPath + ".config.configuration.value",
			msgs:  []string{"invalid google.protobuf.Int64Value"},
		},
		{
			name:  "underscores in header names allowed",
			edits: []string{"headers_with_underscores_action: REJECT_REQUEST", "headers_with_underscores_action: ALLOW"},
			path:  hcmPath + ".common_http_protocol_options",
			msgs:  []string{"headers_with_underscores_action is ALLOW", "REJECT_REQUEST"},
		},
		{
			name:  "underscores left at the default",
			edits: []string{"headers_with_underscores_action: REJECT_REQUEST", "idle_timeout: 60s"},
			path:  hcmPath + ".common_http_protocol_options",
			msgs:  []string{"headers_with_underscores_action is ALLOW"},
		},
		{
			name:  "more than one document",
			edits: []string{"\nstatic_resources:\n", "\n---\nstatic_resources:\n"},
			msgs:  []string{"more than one YAML document"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			broken := edit(t, shipped, tt.edits...)
			probs := ValidateEnvoyYAML([]byte(broken), tt.opts)
			if len(probs) == 0 {
				t.Fatal("broken copy accepted")
			}
			if tt.path == "" {
				if !strings.Contains(probs[0].Msg, tt.msgs[0]) {
					t.Errorf("got %v, want a message containing %q", probs, tt.msgs[0])
				}
				return
			}
			wantProblem(t, probs, tt.path, tt.msgs...)
		})
	}
}

func TestValidateEnvoyYAMLNeedsTheWasmFilter(t *testing.T) {
	shipped := readFile(t, envoyFile)
	start := strings.Index(shipped, "          - name: envoy.filters.http.wasm\n")
	end := strings.Index(shipped, routerBlock)
	if start < 0 || end < start {
		t.Fatal("cannot find the Wasm filter block in envoy.yaml")
	}
	probs := ValidateEnvoyYAML([]byte(shipped[:start]+shipped[end:]), EnvoyOptions{})
	wantProblem(t, probs, "static_resources.listeners", "no envoy.filters.http.wasm filter")
}

func TestValidateEnvoyYAMLNotYAML(t *testing.T) {
	tests := []struct {
		name, data, msg string
	}{
		{"empty", "", "empty document"},
		{"syntax", "admin: [", "not valid YAML"},
		{"list", "- a\n- b\n", "expected a mapping"},
		{"alias", "a: &x {}\nadmin: *x\n", "aliases are not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			probs := ValidateEnvoyYAML([]byte(tt.data), EnvoyOptions{})
			if len(probs) == 0 || !strings.Contains(probs[0].Msg, tt.msg) {
				t.Errorf("got %v, want a problem containing %q", probs, tt.msg)
			}
		})
	}
}

func TestValidateIstioWasmPluginRejectsBrokenCopies(t *testing.T) {
	shipped := readFile(t, istioFile)
	tests := []struct {
		name  string
		edits []string
		path  string
		msgs  []string
	}{
		{
			name:  "wrong phase",
			edits: []string{"phase: AUTHN", "phase: STATS"},
			path:  "spec.phase",
			msgs:  []string{"phase is STATS", "AUTHN"},
		},
		{
			name:  "phase that does not exist",
			edits: []string{"phase: AUTHN", "phase: AUTHENTICATION"},
			path:  "spec.phase",
			msgs:  []string{`invalid value "AUTHENTICATION"`, "istio.extensions.v1alpha1.PluginPhase"},
		},
		{
			name:  "unknown spec field",
			edits: []string{"pluginName: apiguard", "plugin_nam: apiguard"},
			path:  "spec.plugin_nam",
			msgs:  []string{`unknown field "plugin_nam"`, `did you mean "plugin_name"?`},
		},
		{
			name:  "fail open",
			edits: []string{"failStrategy: FAIL_RELOAD", "failStrategy: FAIL_OPEN"},
			path:  "spec.failStrategy",
			msgs:  []string{"FAIL_OPEN lets requests through unchecked"},
		},
		{
			name:  "no match",
			edits: []string{"  match:\n    - mode: SERVER\n", ""},
			path:  "spec.match",
			msgs:  []string{"no match", "CLIENT_AND_SERVER", "mode: SERVER"},
		},
		{
			name:  "match without a mode",
			edits: []string{"    - mode: SERVER\n", "    - ports: [{number: 8080}]\n"},
			path:  "spec.match[0].mode",
			msgs:  []string{"without a mode", "CLIENT_AND_SERVER"},
		},
		{
			name:  "mode that does not exist",
			edits: []string{"mode: SERVER", "mode: INBOUND"},
			path:  "spec.match[0].mode",
			msgs:  []string{`invalid value "INBOUND"`},
		},
		{
			name:  "network plugin",
			edits: []string{"type: HTTP", "type: NETWORK"},
			path:  "spec.type",
			msgs:  []string{"HTTP filter"},
		},
		{
			name:  "unsupported url scheme",
			edits: []string{"url: oci://", "url: ftp://"},
			path:  "spec.url",
			msgs:  []string{"unsupported scheme"},
		},
		{
			name:  "wrong apiVersion",
			edits: []string{"apiVersion: extensions.istio.io/v1alpha1", "apiVersion: networking.istio.io/v1"},
			path:  "apiVersion",
			msgs:  []string{`"networking.istio.io/v1"`, `"extensions.istio.io/v1alpha1"`},
		},
		{
			name:  "bad metadata name",
			edits: []string{"  name: apiguard\n", "  name: API_Guard\n"},
			path:  "metadata.name",
			msgs:  []string{`"API_Guard"`, "not a valid Kubernetes name"},
		},
		{
			name:  "server-side metadata",
			edits: []string{"  name: apiguard\n", "  name: apiguard\n  uid: 1234\n"},
			path:  "metadata.uid",
			msgs:  []string{`unexpected metadata field "uid"`},
		},
		{
			name:  "unknown top-level field",
			edits: []string{"spec:\n", "status: {}\nspec:\n"},
			path:  "status",
			msgs:  []string{`unknown top-level field "status"`},
		},
		{
			name:  "duplicate key",
			edits: []string{"  phase: AUTHN\n", "  phase: AUTHN\n  phase: AUTHZ\n"},
			path:  "spec.phase",
			msgs:  []string{`duplicate key "phase"`},
		},
		{
			name:  "broken plugin configuration",
			edits: []string{`"pagination": "standard"`, `"pagination": "standrd"`},
			path:  "spec.pluginConfig.routes[0].pagination",
			msgs:  []string{"standrd"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			probs := ValidateIstioWasmPlugin([]byte(edit(t, shipped, tt.edits...)))
			if len(probs) == 0 {
				t.Fatal("broken copy accepted")
			}
			wantProblem(t, probs, tt.path, tt.msgs...)
		})
	}
}

// TestValidateIstioWasmPluginFailStrategies: FAIL_RELOAD (shipped) and
// FAIL_CLOSE both fail closed and are accepted; a selector of both
// directions is a warning, since it is right for a gateway.
func TestValidateIstioWasmPluginFailStrategies(t *testing.T) {
	shipped := readFile(t, istioFile)
	if probs := Errors(ValidateIstioWasmPlugin([]byte(edit(t, shipped, "failStrategy: FAIL_RELOAD", "failStrategy: FAIL_CLOSE")))); len(probs) > 0 {
		t.Errorf("FAIL_CLOSE refused:\n%s", listProblems(probs))
	}
	probs := ValidateIstioWasmPlugin([]byte(edit(t, shipped, "mode: SERVER", "mode: CLIENT_AND_SERVER")))
	wantProblem(t, probs, "spec.match[0].mode", "CLIENT_AND_SERVER", "outbound")
	probs = probs[:0:0]
	for _, p := range ValidateIstioWasmPlugin([]byte(edit(t, shipped, "mode: SERVER", "mode: CLIENT_AND_SERVER"))) {
		if p.Path != "spec.url" { // the placeholder registry's unpinned URL
			probs = append(probs, p)
		}
	}
	for _, p := range probs {
		if !p.Warning {
			t.Errorf("CLIENT_AND_SERVER gave an error, want a warning: %s", p)
		}
	}
}

func TestValidatePluginConfig(t *testing.T) {
	example := readFile(t, exampleFile)
	tests := []struct {
		name  string
		edits []string
		path  string
		msgs  []string
	}{
		{
			name:  "unknown profile",
			edits: []string{`"pagination": "standard"`, `"pagination": "standrd"`},
			path:  "routes[0].pagination",
			msgs:  []string{"standrd"},
		},
		{
			name:  "unknown top-level field",
			edits: []string{`"mode": "enforce",`, `"mode": "enforce", "modes": "x",`},
			path:  "modes",
		},
		{
			name:  "duplicate key",
			edits: []string{`"mode": "enforce",`, `"mode": "enforce", "mode": "shadow",`},
			path:  "mode",
			msgs:  []string{"duplicate"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			probs := ValidatePluginConfig([]byte(edit(t, example, tt.edits...)))
			if len(probs) == 0 {
				t.Fatal("broken configuration accepted")
			}
			wantProblem(t, probs, tt.path, tt.msgs...)
		})
	}
	t.Run("not JSON", func(t *testing.T) {
		if probs := ValidatePluginConfig([]byte(`{"mode": `)); len(probs) == 0 {
			t.Error("truncated JSON accepted")
		}
	})
}

func TestDetect(t *testing.T) {
	tests := []struct {
		name string
		data string
		want Kind
	}{
		{"plugin config", `{"consumers": []}`, KindPluginConfig},
		{"broken JSON", `{"consumers": [`, KindPluginConfig},
		{"envoy YAML", "static_resources: {}\n", KindEnvoyBootstrap},
		{"envoy JSON", `{"admin": {}}`, KindEnvoyBootstrap},
		{"istio", "apiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\n", KindIstioWasmPlugin},
		{"other manifest", "apiVersion: v1\nkind: ConfigMap\n", KindUnknown},
		{"other YAML", "hello: world\n", KindUnknown},
		{"not YAML", "a: [", KindUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Detect([]byte(tt.data)); got != tt.want {
				t.Errorf("Detect = %v, want %v", got, tt.want)
			}
		})
	}
	if _, probs := Validate([]byte("hello: world\n"), EnvoyOptions{}); len(probs) != 1 || !strings.Contains(probs[0].Msg, "cannot tell") {
		t.Errorf("Validate of an unknown file = %v, want one 'cannot tell' problem", probs)
	}
}

// Counter names the filter defines (filter/metrics.go); Envoy stores them
// under "wasmcustom.".
var decisionCounters = []string{"apiguard.decision.allowed", "apiguard.decision.not_yet_valid", "apiguard.decision.rate_limited"}

// TestStatsTagGivesOnePrometheusFamily applies envoy.yaml's stats_tags the
// way Envoy's tag extractor does (RE2; the first group is cut from the name,
// the second is the value) and Envoy's Prometheus naming for custom
// namespaces (strip "wasmcustom.", no "envoy_" prefix, non-alphanumerics to
// '_'), to check the decision counters become apiguard_decision{reason=...}
// and other counters are left alone.
func TestStatsTagGivesOnePrometheusFamily(t *testing.T) {
	var b bootstrapv3.Bootstrap
	tr, _ := parseTree([]byte(readFile(t, envoyFile)))
	raw, _ := json.Marshal(tr.root)
	if err := protojson.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	tags := b.GetStatsConfig().GetStatsTags()
	var reasonTag *metricv3.TagSpecifier
	for _, tag := range tags {
		if tag.GetTagName() == "reason" {
			reasonTag = tag
		}
	}
	if reasonTag == nil {
		t.Fatalf("envoy.yaml has no stats tag named reason among %d", len(tags))
	}
	re := regexp.MustCompile(reasonTag.GetRegex())
	sanitize := regexp.MustCompile(`[^a-zA-Z0-9_]`)
	prom := func(name string) string {
		return sanitize.ReplaceAllString(strings.TrimPrefix(name, "wasmcustom."), "_")
	}
	for _, c := range decisionCounters {
		name := "wasmcustom." + c
		m := re.FindStringSubmatchIndex(name)
		if len(m) < 6 {
			t.Errorf("%s: stats tag regex does not match", name)
			continue
		}
		extracted := name[:m[2]] + name[m[3]:]
		value := name[m[4]:m[5]]
		if got := prom(extracted); got != "apiguard_decision" || value != strings.TrimPrefix(c, "apiguard.decision.") {
			t.Errorf("%s: Prometheus %s{%s=%q}, want apiguard_decision{reason=%q}", name, got, reasonTag.GetTagName(), value, strings.TrimPrefix(c, "apiguard.decision."))
		}
	}
	for _, tag := range tags {
		if regexp.MustCompile(tag.GetRegex()).MatchString("wasmcustom.apiguard.config.errors") {
			t.Errorf("stats tag %s matches wasmcustom.apiguard.config.errors", tag.GetTagName())
		}
	}
}

func TestSnakeField(t *testing.T) {
	tests := []struct{ in, want string }{
		{"StaticResources", "static_resources"},
		{"HttpFilters[2]", "http_filters[2]"},
		{"Clusters[upstream]", "clusters[upstream]"},
		{"Ipv4Compat", "ipv4_compat"},
		{"name", "name"},
	}
	for _, tt := range tests {
		if got := snakeField(tt.in); got != tt.want {
			t.Errorf("snakeField(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestProblemString(t *testing.T) {
	tests := []struct {
		p    Problem
		want string
	}{
		{Problem{Path: "a.b", Line: 3, Msg: "bad"}, "line 3: a.b: bad"},
		{Problem{Path: "a.b", Msg: "bad"}, "a.b: bad"},
		{Problem{Msg: "bad"}, "bad"},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

func TestJoinKey(t *testing.T) {
	tests := []struct{ path, key, want string }{
		{"", "admin", "admin"},
		{"a", "b", "a.b"},
		{"a", "@type", "a.@type"},
		{"labels", "app.kubernetes.io/name", `labels["app.kubernetes.io/name"]`},
	}
	for _, tt := range tests {
		if got := joinKey(tt.path, tt.key); got != tt.want {
			t.Errorf("joinKey(%q, %q) = %q, want %q", tt.path, tt.key, got, tt.want)
		}
	}
}

// TestEmbeddedConfigWarnings: the policy's warnings about an embedded plugin
// configuration reach the caller as warnings, with the path inside the file,
// and are not errors.
func TestEmbeddedConfigWarnings(t *testing.T) {
	envoy := edit(t, readFile(t, envoyFile),
		`"path": "/v1/orders", "scopes": ["orders:write"]}`, `"path": "/v1/orders", "scopes": ["orders:write", "orders:admin"]}`)
	probs := ValidateEnvoyYAML([]byte(envoy), EnvoyOptions{})
	if len(probs) != 1 || !probs[0].Warning || len(Errors(probs)) != 0 ||
		!strings.HasSuffix(probs[0].Path, "configuration.value.routes[1].scopes[1]") ||
		!strings.HasPrefix(probs[0].String(), "warning: line ") {
		t.Errorf("envoy.yaml: %q, want one warning at routes[1].scopes[1]", probs)
	}
}

// TestValidateEnvoyYAMLFailClosedPolicies: both policies that fail closed
// are accepted (the shipped file uses FAIL_RELOAD).
func TestValidateEnvoyYAMLFailClosedPolicies(t *testing.T) {
	shipped := readFile(t, envoyFile)
	for _, policy := range []string{"FAIL_RELOAD", "FAIL_CLOSED"} {
		text := edit(t, shipped, "failure_policy: FAIL_RELOAD", "failure_policy: "+policy)
		if kind, probs := Validate([]byte(text), EnvoyOptions{}); kind != KindEnvoyBootstrap || len(probs) > 0 {
			t.Errorf("%s: kind %v, problems:\n%s", policy, kind, listProblems(probs))
		}
	}
}

// The shipped files carry a demo key that expires on 2026-01-01: the tests
// check them as of a fixed time before that (TestExpiredKeyWarning after).
func init() { now = func() time.Time { return time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC) } }

// TestExpiredKeyWarning: validate warns about keys whose not_after has
// passed, with the line of the key.
func TestExpiredKeyWarning(t *testing.T) {
	defer func(f func() time.Time) { now = f }(now)
	now = func() time.Time { return time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC) }
	_, probs := Validate([]byte(readFile(t, exampleFile)), EnvoyOptions{})
	if len(probs) != 1 || !probs[0].Warning || probs[0].Line == 0 ||
		probs[0].Path != "consumers[1].keys[0].not_after" || !strings.Contains(probs[0].Msg, `key "reports-2025" has already expired`) {
		t.Errorf("problems %q, want one warning about reports-2025", probs)
	}
}

// TestProblemsSortedByLine: problems come in the order of their lines,
// whatever order the checks found them in.
func TestProblemsSortedByLine(t *testing.T) {
	config := "{\n\"routes\": [{\"name\": \"r\", \"path\": \"/r\", \"rate_limit\": \"nope\"}],\n\"mdoe\": \"x\",\n\"unmatched\": \"no\"\n}\n"
	_, probs := Validate([]byte(config), EnvoyOptions{})
	var lines []int
	for _, p := range probs {
		lines = append(lines, p.Line)
	}
	if len(lines) != 3 || !sort.IntsAreSorted(lines) {
		t.Errorf("problems %q: lines %v, want 3 problems sorted by line", probs, lines)
	}
}
