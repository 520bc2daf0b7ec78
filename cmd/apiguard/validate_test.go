package main

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestValidateShippedFiles(t *testing.T) {
	for _, rel := range []string{"examples/config.json", "envoy.yaml", "deploy/istio/wasmplugin.yaml", "deploy/istio/wasmplugin-gateway.yaml"} {
		t.Run(rel, func(t *testing.T) {
			r := apiguard(t, "", "validate", repoFile(t, rel))
			r.wantCode(t, exitOK)
			if !strings.Contains(r.stdout, ": ok (") {
				t.Errorf("stdout = %q", r.stdout)
			}
		})
	}
	// Several files at once, one of them on stdin.
	r := apiguard(t, `{"routes": [{"name": "all", "path": "/*"}]}`,
		"validate", repoFile(t, "envoy.yaml"), "-")
	r.wantCode(t, exitOK)
	if n := strings.Count(r.stdout, ": ok ("); n != 2 {
		t.Errorf("%d files reported ok, want 2:\n%s", n, r.stdout)
	}
}

func TestValidateBrokenFixtures(t *testing.T) {
	for _, tc := range []struct {
		file string
		kind string
		want []string // lines of stdout must contain each, in a problem line
	}{
		{"plugin-errors.json", "apiguard plugin configuration", []string{
			"line 2: moode: unknown field",
			"line 10: consumers[0].keys[0].sha256: must be 64 lowercase hex digits"}},
		{"plugin-not-json.json", "apiguard plugin configuration", []string{"not valid JSON"}},
		{"envoy-fail-open.yaml", "Envoy bootstrap", []string{
			"typed_config.config.failure_policy: FAIL_OPEN"}},
		{"envoy-unknown-cluster.yaml", "Envoy bootstrap", []string{
			`routes[0].route.cluster: route to cluster "upstreem"`}},
		{"envoy-bad-plugin-config.yaml", "Envoy bootstrap", []string{
			`config.configuration.value.rate_limits.demo.per: must be a duration`}},
		{"istio-bad-phase.yaml", "Istio WasmPlugin", []string{`spec.phase: invalid value "AUTHX"`}},
		{"istio-unknown-field.yaml", "Istio WasmPlugin", []string{`spec.failStrategyy: unknown field`}},
		{"istio-bad-plugin-config.yaml", "Istio WasmPlugin", []string{
			`spec.pluginConfig.routes[3].pagination: unknown profile "lenint"`}},
		{"unknown-kind.yaml", "unknown", []string{"cannot tell what this file is"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join("testdata", "validate", tc.file)
			r := apiguard(t, "", "validate", path)
			r.wantCode(t, exitFail)
			if !strings.Contains(r.stdout, "("+tc.kind+")") {
				t.Errorf("kind %q not reported:\n%s", tc.kind, r.stdout)
			}
			for _, w := range tc.want {
				// "FILE: line N: ..." or, for JSON syntax, "FILE:LINE:COL: ...".
				if !hasLine(r.stdout, path+":", w) {
					t.Errorf("no problem line containing %q:\n%s", w, r.stdout)
				}
			}
		})
	}
}

func TestValidateMixedAndUnreadable(t *testing.T) {
	good := repoFile(t, "examples/config.json")
	bad := filepath.Join("testdata", "validate", "plugin-errors.json")
	r := apiguard(t, "", "validate", good, bad)
	r.wantCode(t, exitFail)
	if !strings.Contains(r.stdout, good+": ok") || !strings.Contains(r.stdout, bad+": 2 problem(s)") {
		t.Errorf("stdout:\n%s", r.stdout)
	}
	r = apiguard(t, "", "validate", good, filepath.Join("testdata", "no-such-file.json"))
	r.wantCode(t, exitError)
	if !strings.Contains(r.stderr, "no-such-file.json") {
		t.Errorf("stderr does not name the missing file:\n%s", r.stderr)
	}
	apiguard(t, "", "validate").wantCode(t, exitError)
}

// hasLine reports whether a line of out starts with prefix and contains s.
func hasLine(out, prefix, s string) bool {
	for line := range strings.Lines(out) {
		if strings.HasPrefix(line, prefix) && strings.Contains(line, s) {
			return true
		}
	}
	return false
}

// TestValidateWarnings: warnings are printed with their line and path and
// leave the exit status at 0.
func TestValidateWarnings(t *testing.T) {
	config := `{
  "consumers": [{"id": "c", "scopes": ["a"], "keys": [{"id": "k", "sha256": "` + strings.Repeat("ab", 32) + `"}]},
                {"id": "empty", "scopes": ["a"]}],
  "routes": [{"name": "r", "path": "/r", "scopes": ["a", "b"]}]
}`
	r := apiguard(t, config, "validate", "-")
	r.wantCode(t, exitOK)
	for _, want := range []string{
		"-: ok (apiguard plugin configuration)",
		`-: warning: line 3: consumers[1].keys: consumer "empty" has no keys`,
		`-: warning: line 4: routes[0].scopes[1]: no consumer is granted scope "b"`,
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	// Warnings never hide errors: the status counts the errors alone.
	r = apiguard(t, strings.Replace(config, `"path": "/r"`, `"path": "r"`, 1), "validate", "-")
	r.wantCode(t, exitFail)
	if !strings.Contains(r.stdout, "-: 1 problem(s)") {
		t.Errorf("stdout:\n%s", r.stdout)
	}
}
