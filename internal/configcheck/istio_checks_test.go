package configcheck

import (
	"strings"
	"testing"
)

// TestIstioAllFieldProblemsReported: three wrong spec fields give three
// problems, in file order, each at its own line, with camelCase
// suggestions.
func TestIstioAllFieldProblemsReported(t *testing.T) {
	broken := edit(t, readFile(t, istioFile),
		"imagePullPolicy: IfNotPresent", "imagePullPolicyy: IfNotPresent",
		"phase: AUTHN", "phase: AUTH",
		"failStrategy: FAIL_RELOAD", "failStrategi: FAIL_RELOAD")
	probs := Errors(ValidateIstioWasmPlugin([]byte(broken)))
	if len(probs) != 3 {
		t.Fatalf("want 3 problems, got:\n%s", listProblems(probs))
	}
	wantProblem(t, probs, "spec.imagePullPolicyy", `did you mean "imagePullPolicy"?`)
	wantProblem(t, probs, "spec.phase", `"AUTH"`)
	wantProblem(t, probs, "spec.failStrategi", `did you mean "failStrategy"?`)
	for i := 1; i < len(probs); i++ {
		if probs[i].Line <= probs[i-1].Line {
			t.Errorf("problems not in file order:\n%s", listProblems(probs))
		}
	}
	if strings.Contains(listProblems(probs), "image_pull_policy") {
		t.Errorf("a suggestion in snake_case:\n%s", listProblems(probs))
	}
}

func TestIstioSelectorWithTargetRefs(t *testing.T) {
	both := edit(t, readFile(t, istioFile), "  selector:\n",
		"  targetRefs:\n  - kind: Gateway\n    group: gateway.networking.k8s.io\n    name: public\n  selector:\n")
	wantProblem(t, Errors(ValidateIstioWasmPlugin([]byte(both))), "spec.targetRefs", "only one of them")
}

// TestIstioSha256: an unpinned network URL is a warning; a digest in the
// oci:// URL or spec.sha256 pins it; a malformed sha256 is an error.
func TestIstioSha256(t *testing.T) {
	shipped := readFile(t, istioFile)
	url := "url: oci://registry.example.com/apiguard:v0.1.0"
	digest := strings.Repeat("0a", 32)
	for _, tc := range []struct {
		name, url, extra string
		warn, err        bool
	}{
		{"oci tag", url, "", true, false},
		{"https", "url: https://example.com/apiguard.wasm", "", true, false},
		{"file", "url: file:///var/local/wasm/apiguard.wasm", "", false, false},
		{"oci digest", "url: oci://registry.example.com/apiguard@sha256:" + digest, "", false, false},
		{"sha256 field", url, "\n  sha256: " + digest, false, false},
		{"bad sha256", url, "\n  sha256: ABC", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			probs := ValidateIstioWasmPlugin([]byte(edit(t, shipped, url, tc.url+tc.extra)))
			warned := false
			for _, p := range probs {
				warned = warned || p.Warning && p.Path == "spec.url" && strings.Contains(p.Msg, "without sha256")
			}
			if warned != tc.warn || (len(Errors(probs)) > 0) != tc.err {
				t.Errorf("warning %v (want %v), errors %v (want %v):\n%s", warned, tc.warn, len(Errors(probs)) > 0, tc.err, listProblems(probs))
			}
		})
	}
}

// TestIstioDecodeErrorsDoNotHideTheRest: a field that does not decode is
// reported together with what the other fields hold wrong (FAIL_OPEN, a
// broken pluginConfig).
func TestIstioDecodeErrorsDoNotHideTheRest(t *testing.T) {
	broken := edit(t, readFile(t, istioFile),
		"imagePullPolicy: IfNotPresent", "imagePullPolicyy: IfNotPresent",
		"failStrategy: FAIL_RELOAD", "failStrategy: FAIL_OPEN",
		`"pagination": "lenient"`, `"pagination": "lenint"`)
	probs := Errors(ValidateIstioWasmPlugin([]byte(broken)))
	wantProblem(t, probs, "spec.imagePullPolicyy", "unknown field")
	wantProblem(t, probs, "spec.failStrategy", "FAIL_OPEN")
	wantProblem(t, probs, "spec.pluginConfig.routes[3].pagination", "lenint")
	if len(probs) != 3 {
		t.Errorf("want 3 problems:\n%s", listProblems(probs))
	}
	// A bad phase is reported once, as a bad value, not also as "not AUTHN".
	phase := Errors(ValidateIstioWasmPlugin([]byte(edit(t, readFile(t, istioFile), "phase: AUTHN", "phase: AUTHX"))))
	if len(phase) != 1 {
		t.Errorf("bad phase: want 1 problem:\n%s", listProblems(phase))
	}
}
