package configcheck

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/internal/ratelimitconf"
	"github.com/apiguard/apiguard/policy"
)

// deployFile is a file under deploy/, relative to this package.
func deployFile(rel string) string {
	return filepath.Join("..", "..", "deploy", filepath.FromSlash(rel))
}

// The manifests of docs/deploy, their kinds, and where their plugin
// configuration sits ("" for none).
var hostManifests = []struct {
	rel, configAt string
	kind          Kind
}{
	{"istio/trafficextension.yaml", "spec.wasm.pluginConfig", KindIstioTrafficExtension},
	{"istio/trafficextension-gateway.yaml", "spec.wasm.pluginConfig", KindIstioTrafficExtension},
	{"istio/ambient/trafficextension-service.yaml", "spec.wasm.pluginConfig", KindIstioTrafficExtension},
	{"istio/ambient/trafficextension-waypoint.yaml", "spec.wasm.pluginConfig", KindIstioTrafficExtension},
	{"istio/ambient/wasmplugin-service.yaml", "spec.pluginConfig", KindIstioWasmPlugin},
	{"istio/ambient/wasmplugin-waypoint.yaml", "spec.pluginConfig", KindIstioWasmPlugin},
	{"envoy-gateway/extensionpolicy.yaml", "spec.wasm[0].config", KindEnvoyExtensionPolicy},
	{"envoy-gateway/ratelimit.yaml", "", KindBackendTrafficPolicy},
	{"higress/wasmplugin.yaml", "spec.defaultConfig", KindHigressWasmPlugin},
	{"ratelimit/istio-envoyfilter-ratelimit.yaml", "", KindIstioEnvoyFilter},
	{"ratelimit/istio-envoyfilter-cors.yaml", "", KindIstioEnvoyFilter},
}

// treeAt returns the value at a path of the form a.b[0].c.
func treeAt(t *testing.T, root any, path string) any {
	t.Helper()
	var steps []any
	for _, part := range strings.Split(path, ".") {
		name, idx, ok := strings.Cut(part, "[")
		steps = append(steps, name)
		if ok {
			var i int
			for _, c := range strings.TrimSuffix(idx, "]") {
				i = i*10 + int(c-'0')
			}
			steps = append(steps, i)
		}
	}
	v, ok := get(root, steps...)
	if !ok {
		t.Fatalf("no %s", path)
	}
	return v
}

// TestHostManifestsAreValid: every shipped manifest validates as its
// kind, with no warning but the unpinned placeholder url (make manifests
// pins it), and carries envoy.yaml's plugin configuration.
func TestHostManifestsAreValid(t *testing.T) {
	var envoyCfg any
	if err := json.Unmarshal([]byte(wasmFilterConfig(t, readFile(t, envoyFile))), &envoyCfg); err != nil {
		t.Fatal(err)
	}
	for _, m := range hostManifests {
		t.Run(m.rel, func(t *testing.T) {
			data := readFile(t, deployFile(m.rel))
			kind, probs := Validate([]byte(data), EnvoyOptions{})
			if kind != m.kind {
				t.Errorf("detected as %v, want %v", kind, m.kind)
			}
			for _, p := range probs {
				if !p.Warning || !strings.Contains(p.Msg, "sha256") {
					t.Errorf("%s", p)
				}
			}
			if m.configAt == "" {
				return
			}
			tr, _ := parseTree([]byte(data))
			if got := treeAt(t, tr.root, m.configAt); !reflect.DeepEqual(normalJSON(t, got), envoyCfg) {
				t.Errorf("%s differs from envoy.yaml's plugin configuration", m.configAt)
			}
		})
	}
}

// normalJSON round-trips a tree value through JSON (integers become
// float64, as in envoyCfg).
func normalJSON(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestHostManifestsBroken: a broken copy of each kind is refused, with
// the problem at its path (and its line).
func TestHostManifestsBroken(t *testing.T) {
	const (
		te      = "istio/trafficextension.yaml"
		teSvc   = "istio/ambient/trafficextension-service.yaml"
		wpWay   = "istio/ambient/wasmplugin-waypoint.yaml"
		eep     = "envoy-gateway/extensionpolicy.yaml"
		btp     = "envoy-gateway/ratelimit.yaml"
		higress = "higress/wasmplugin.yaml"
		rlef    = "ratelimit/istio-envoyfilter-ratelimit.yaml"
		corsef  = "ratelimit/istio-envoyfilter-cors.yaml"
	)
	waypointSelector := "  selector:\n    matchLabels:\n      gateway.istio.io/managed: istio.io-mesh-controller\n"
	tests := []struct {
		name, file string
		edits      []string
		path       string
		msgs       []string
	}{
		{"TE wrong phase", te, []string{"  phase: AUTHN\n", "  phase: STATS\n"}, "spec.phase", []string{"AUTHN"}},
		{"TE no match", te, []string{"  match:\n    - mode: SERVER\n", ""}, "spec.match", []string{"no match", "SERVER"}},
		{"TE match without mode", te, []string{"    - mode: SERVER\n", "    - ports: [{number: 8080}]\n"}, "spec.match[0].mode", []string{"without a mode"}},
		{"TE fail open", te, []string{"failStrategy: FAIL_RELOAD", "failStrategy: FAIL_OPEN"}, "spec.wasm.failStrategy", []string{"FAIL_OPEN"}},
		{"TE unknown field", te, []string{"    pluginName: apiguard\n", "    pluginNmae: apiguard\n"}, "spec.wasm.pluginNmae", []string{"unknown field", `"pluginName"`}},
		{"TE unknown spec field", te, []string{"  phase: AUTHN\n", "  phase: AUTHN\n  failStrategy: FAIL_CLOSE\n"}, "spec.failStrategy", []string{"unknown field"}},
		{"TE bad enum", te, []string{"  phase: AUTHN\n", "  phase: AUTHENTICATION\n"}, "spec.phase", []string{"invalid value", "AUTHN"}},
		{"TE invalid plugin configuration", te, []string{`"mode": "enforce"`, `"mode": "audit"`}, "spec.wasm.pluginConfig.mode", []string{"enforce"}},
		{"TE network type", te, []string{"    type: HTTP\n", "    type: NETWORK\n"}, "spec.wasm.type", []string{"HTTP filter"}},
		{"TE bad sha256", te, []string{"    pluginName: apiguard\n", "    pluginName: apiguard\n    sha256: ABC\n"}, "spec.wasm.sha256", []string{"64 lowercase"}},
		{"TE lua", te, []string{"  wasm:\n", "  lua:\n    inlineCode: x\n  wasmx:\n"}, "spec.lua", []string{"Wasm module"}},
		{"TE selector on a waypoint", teSvc, []string{"  targetRefs:\n    - kind: Service\n      group: \"\"\n      name: orders\n", waypointSelector},
			`spec.selector.matchLabels["gateway.istio.io/managed"]`, []string{"waypoint", "targetRefs"}},
		{"TE CLIENT on a waypoint", teSvc, []string{"    - mode: SERVER\n", "    - mode: CLIENT\n"}, "spec.match[0].mode", []string{"waypoint"}},
		{"TE Service target in another namespace", teSvc, []string{"  name: apiguard-orders\n", "  name: apiguard-orders\n  namespace: shop\n", "      name: orders\n", "      name: orders\n      namespace: other\n"},
			"spec.targetRefs[0].namespace", []string{"own namespace"}},
		{"TE selector and targetRefs", teSvc, []string{"  match:\n", "  selector:\n    matchLabels: {app: orders}\n  match:\n"}, "spec.targetRefs", []string{"both"}},
		{"TE unknown target kind", teSvc, []string{"    - kind: Service\n", "    - kind: Deployment\n"}, "spec.targetRefs[0].kind", []string{"Deployment"}},
		{"WasmPlugin selector on a waypoint", wpWay, []string{"  targetRefs:\n    - kind: Gateway\n      group: gateway.networking.k8s.io\n      name: waypoint\n",
			"  selector:\n    matchLabels:\n      gateway.networking.k8s.io/gateway-class-name: istio-waypoint\n"},
			`spec.selector.matchLabels["gateway.networking.k8s.io/gateway-class-name"]`, []string{"waypoint"}},
		{"WasmPlugin fail open on a waypoint", wpWay, []string{"failStrategy: FAIL_RELOAD", "failStrategy: FAIL_OPEN"}, "spec.failStrategy", []string{"FAIL_OPEN"}},
		{"EEP failOpen", eep, []string{"      failOpen: false\n", "      failOpen: true\n"}, "spec.wasm[0].failOpen", []string{"FAIL_RELOAD", "failOpen: false"}},
		{"EEP unknown field", eep, []string{"rootID: apiguard", "rootId: apiguard"}, "spec.wasm[0].rootId", []string{"unknown field", `"rootID"`}},
		{"EEP unknown spec field", eep, []string{"  wasm:\n", "  wasms:\n"}, "spec.wasms", []string{"unknown field", `"wasm"`}},
		{"EEP wrong type", eep, []string{"      failOpen: false\n", "      failOpen: \"no\"\n"}, "spec.wasm[0].failOpen", []string{"true or false"}},
		{"EEP invalid plugin configuration", eep, []string{`"mode": "enforce"`, `"mode": "audit"`}, "spec.wasm[0].config.mode", []string{"enforce"}},
		{"EEP code type", eep, []string{"type: Image", "type: ConfigMap"}, "spec.wasm[0].code.type", []string{"Image"}},
		{"EEP no target", eep, []string{"  targetRefs:\n    - group: gateway.networking.k8s.io\n      kind: Gateway\n      name: eg\n", ""}, "spec", []string{"no targetRefs"}},
		{"EEP target kind", eep, []string{"      kind: Gateway\n", "      kind: Service\n"}, "spec.targetRefs[0].kind", []string{"Service"}},
		{"BTP not shared", btp, []string{"value: free-minute\n                - name: x-apiguard-consumer\n                  type: Distinct\n          limit:\n            requests: 60\n            unit: Minute\n          shared: true",
			"value: free-minute\n                - name: x-apiguard-consumer\n                  type: Distinct\n          limit:\n            requests: 60\n            unit: Minute\n          shared: false"},
			"spec.rateLimit.global.rules[0]", []string{"shared"}},
		{"BTP consumer not Distinct", btp, []string{"value: gold-daily\n                - name: x-apiguard-consumer\n                  type: Distinct",
			"value: gold-daily\n                - name: x-apiguard-consumer\n                  type: Exact"},
			"spec.rateLimit.global.rules[1].clientSelectors", []string{"Distinct"}},
		{"BTP unknown field", btp, []string{"          limit:\n            requests: 60", "          limits:\n            requests: 60"}, "spec.rateLimit.global.rules[0].limits", []string{"unknown field"}},
		{"Higress wrong phase", higress, []string{"  phase: AUTHN\n", "  phase: STATS\n"}, "spec.phase", []string{"AUTHN"}},
		{"Higress fail open", higress, []string{"failStrategy: FAIL_CLOSE", "failStrategy: FAIL_OPEN"}, "spec.failStrategy", []string{"FAIL_OPEN"}},
		{"Higress has no FAIL_RELOAD", higress, []string{"failStrategy: FAIL_CLOSE", "failStrategy: FAIL_RELOAD"}, "spec.failStrategy", []string{"invalid value"}},
		{"Higress unknown field", higress, []string{"  defaultConfig:\n", "  defaultconfig:\n"}, "spec.defaultconfig", []string{"unknown field", `"defaultConfig"`}},
		{"Higress invalid plugin configuration", higress, []string{`"mode": "enforce"`, `"mode": "audit"`}, "spec.defaultConfig.mode", []string{"enforce"}},
		{"Higress default config disabled", higress, []string{"  failStrategy: FAIL_CLOSE\n", "  failStrategy: FAIL_CLOSE\n  defaultConfigDisable: true\n"}, "spec.defaultConfigDisable", []string{"defaultConfig"}},
		{"Higress rule without a match", higress, []string{"  failStrategy: FAIL_CLOSE\n", "  failStrategy: FAIL_CLOSE\n  matchRules:\n    - config: {}\n"}, "spec.matchRules[0]", []string{"refuses"}},
		{"EnvoyFilter rate limit first", rlef, []string{"operation: INSERT_BEFORE", "operation: INSERT_FIRST"}, "spec.configPatches[0].patch.operation", []string{"before apiguard"}},
		{"EnvoyFilter domain", rlef, []string{"domain: apiguard", "domain: other"}, "spec.configPatches[0].patch.value.typed_config.domain", []string{"apiguard"}},
		{"EnvoyFilter unknown Envoy field", rlef, []string{"            failure_mode_deny: false\n", "            failure_mode_denied: false\n"}, "spec.configPatches[0].patch.value.typed_config.failure_mode_denied", []string{"unknown field"}},
		{"EnvoyFilter descriptor", rlef, []string{"descriptor_key: apiguard_consumer", "descriptor_key: consumer"}, "spec.configPatches[1].patch.value.rate_limits[0].actions", []string{"exactly two"}},
		{"EnvoyFilter unknown Istio field", rlef, []string{"  workloadSelector:\n", "  workloadSelectors:\n"}, "spec.workloadSelectors", []string{"unknown field"}},
		{"EnvoyFilter CORS after apiguard", corsef, []string{"operation: INSERT_FIRST", "operation: INSERT_BEFORE"}, "spec.configPatches[0].patch.operation", []string{"INSERT_FIRST"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := edit(t, readFile(t, deployFile(tt.file)), tt.edits...)
			_, probs := Validate([]byte(data), EnvoyOptions{})
			if len(Errors(probs)) == 0 {
				t.Errorf("broken copy accepted:\n%s", listProblems(probs))
			}
			wantProblem(t, probs, tt.path, tt.msgs...)
		})
	}
}

// TestHostWarnings: valid but probably not meant.
func TestHostWarnings(t *testing.T) {
	// A ServiceEntry target.
	data := edit(t, readFile(t, deployFile("istio/ambient/trafficextension-service.yaml")),
		"    - kind: Service\n      group: \"\"\n", "    - kind: ServiceEntry\n      group: networking.istio.io\n")
	_, probs := Validate([]byte(data), EnvoyOptions{})
	wantWarning(t, probs, "spec.targetRefs[0]", "ServiceEntry")
	// Higress matchRules: accepted, the rules are not honoured.
	data = edit(t, readFile(t, deployFile("higress/wasmplugin.yaml")), "  failStrategy: FAIL_CLOSE\n",
		"  failStrategy: FAIL_CLOSE\n  matchRules:\n    - ingress: [default/orders]\n      config: {mode: shadow}\n")
	_, probs = Validate([]byte(data), EnvoyOptions{})
	if errs := Errors(probs); len(errs) > 0 {
		t.Errorf("matchRules refused:\n%s", listProblems(errs))
	}
	wantWarning(t, probs, "spec.matchRules", "not honoured")
	// An EnvoyFilter for every proxy.
	data = edit(t, readFile(t, deployFile("ratelimit/istio-envoyfilter-cors.yaml")),
		"  workloadSelector:\n    labels:\n      istio: ingressgateway\n", "")
	_, probs = Validate([]byte(data), EnvoyOptions{})
	wantWarning(t, probs, "spec", "every proxy")
}

func wantWarning(t *testing.T, probs []Problem, path, msg string) {
	t.Helper()
	for _, p := range probs {
		if p.Warning && p.Path == path && strings.Contains(p.Msg, msg) {
			return
		}
	}
	t.Errorf("no warning at %s containing %q:\n%s", path, msg, listProblems(probs))
}

// TestEnvoyGatewayRulesAgreeWithRateLimitConfig: for every quota of
// envoy.yaml's configuration, the shipped BackendTrafficPolicy has one
// rule with the limit apiguard ratelimit-config gives the service
// (deploy/ratelimit/apiguard.yaml), the file is what ratelimit-config
// --format envoy-gateway writes, and a rule that disagrees is refused.
func TestEnvoyGatewayRulesAgreeWithRateLimitConfig(t *testing.T) {
	cfg := []byte(wasmFilterConfig(t, readFile(t, envoyFile)))
	pol, err := policy.Compile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(pol.Quotas()) == 0 {
		t.Fatal("envoy.yaml defines no quotas: nothing to compare")
	}
	btp := readFile(t, deployFile("envoy-gateway/ratelimit.yaml"))
	if probs := EnvoyGatewayRateLimitProblems([]byte(btp), cfg); len(probs) > 0 {
		t.Errorf("shipped rules disagree:\n%s", listProblems(probs))
	}
	gen, err := ratelimitconf.EnvoyGatewayYAML(pol, ratelimitconf.EGTarget{})
	if err != nil {
		t.Fatal(err)
	}
	if string(gen) != btp {
		t.Errorf("deploy/envoy-gateway/ratelimit.yaml is not what ratelimit-config writes; regenerate:\n" +
			"  go run ./cmd/apiguard ratelimit-config --config examples/config.json --format envoy-gateway --out deploy/envoy-gateway/ratelimit.yaml")
	}
	service := ratelimitconf.ForPolicy(pol, ratelimitconf.DefaultDomain)
	rules := ratelimitconf.EnvoyGatewayRules(pol)
	for i, q := range pol.Quotas() {
		d := service.Descriptors[i]
		r := rules[i]
		if d.Value != q.Name || r.ClientSelectors[0].Headers[0].Value != q.Name {
			t.Fatalf("quota %s: order differs", q.Name)
		}
		rl := d.Descriptors[0].RateLimit
		if r.Limit.Requests != rl.RequestsPerUnit || !strings.EqualFold(r.Limit.Unit, rl.Unit) {
			t.Errorf("quota %s: Envoy Gateway %d per %s, ratelimit-config %d per %s", q.Name, r.Limit.Requests, r.Limit.Unit, rl.RequestsPerUnit, rl.Unit)
		}
		// A rule that disagrees, or is missing, is refused.
		line := regexp.MustCompile(`(?s)value: ` + regexp.QuoteMeta(q.Name) + `\n.*?requests: \d+`)
		bad := line.ReplaceAllStringFunc(btp, func(s string) string { return s + "0" })
		wantProblem(t, EnvoyGatewayRateLimitProblems([]byte(bad), cfg), "spec.rateLimit.global.rules["+string(rune('0'+i))+"].limit", q.Name)
		gone := strings.Replace(btp, "value: "+q.Name+"\n", "value: not-a-quota\n", 1)
		probs := EnvoyGatewayRateLimitProblems([]byte(gone), cfg)
		wantProblem(t, probs, "spec.rateLimit", "no global rule counts quota \""+q.Name+"\"")
		wantProblem(t, probs, "spec.rateLimit.global.rules["+string(rune('0'+i))+"]", "not-a-quota")
	}
	// In one file with the EnvoyExtensionPolicy, validate checks them together.
	both := readFile(t, deployFile("envoy-gateway/extensionpolicy.yaml")) + "---\n" +
		strings.Replace(btp, "requests: 60", "requests: 61", 1)
	docs := ValidateDocuments([]byte(both), EnvoyOptions{})
	if len(docs) != 2 || len(Errors(docs[1].Problems)) != 1 || docs[1].Problems[0].Line <= strings.Count(readFile(t, deployFile("envoy-gateway/extensionpolicy.yaml")), "\n") {
		t.Errorf("EnvoyExtensionPolicy and BackendTrafficPolicy in one file: %+v", docs)
	}
}

// TestRateLimitKubernetesManifest: the service's ConfigMap holds
// ratelimit-config's output for envoy.yaml (deploy/ratelimit/apiguard.yaml)
// and the image is the version make test builds.
func TestRateLimitKubernetesManifest(t *testing.T) {
	data := readFile(t, deployFile("ratelimit/kubernetes.yaml"))
	service := readFile(t, deployFile("ratelimit/apiguard.yaml"))
	var found bool
	for _, d := range splitDocuments([]byte(data)) {
		tr, probs := parseTree(d.text)
		if len(probs) > 0 {
			t.Fatalf("document at line %d: %s", d.line, listProblems(probs))
		}
		if k, _ := get(tr.root, "kind"); k == "ConfigMap" {
			v, _ := get(tr.root, "data", "apiguard.yaml")
			if v != service {
				t.Errorf("the ConfigMap's apiguard.yaml differs from deploy/ratelimit/apiguard.yaml")
			}
			found = true
		}
	}
	if !found {
		t.Error("no ConfigMap")
	}
	mk, err := os.ReadFile(filepath.Join("..", "..", "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^RATELIMIT_VERSION\s*:=\s*v\S+-([0-9a-f]{12})$`).FindSubmatch(mk)
	if m == nil {
		t.Fatal("no RATELIMIT_VERSION pseudo-version in the Makefile")
	}
	if want := "image: docker.io/envoyproxy/ratelimit:" + string(m[1][:8]) + "\n"; !strings.Contains(data, want) {
		t.Errorf("kubernetes.yaml does not run %q", strings.TrimSpace(want))
	}
}
