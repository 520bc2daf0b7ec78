package configcheck

import (
	"strings"
	"testing"
)

// lineOf returns the 1-based line of the first occurrence of s in text.
func lineOf(t *testing.T, text, s string) int {
	t.Helper()
	i := strings.Index(text, s)
	if i < 0 {
		t.Fatalf("%q not in the text", s)
	}
	return strings.Count(text[:i], "\n") + 1
}

// onlyWarnings fails unless probs holds no error and a warning at path
// whose message contains every msg.
func onlyWarning(t *testing.T, probs []Problem, path string, msgs ...string) {
	t.Helper()
	if errs := Errors(probs); len(errs) > 0 {
		t.Errorf("errors where only a warning was expected:\n%s", listProblems(errs))
	}
	for _, p := range probs {
		if p.Path == path && p.Warning {
			ok := true
			for _, m := range msgs {
				ok = ok && strings.Contains(p.Msg, m)
			}
			if ok {
				return
			}
		}
	}
	t.Errorf("no warning at %q containing %q; got:\n%s", path, msgs, listProblems(probs))
}

// TestOtherWasmPathIsANote: without --wasm-path, a module installed
// elsewhere is a warning that names the flag; with it, a mismatch is an
// error.
func TestOtherWasmPathIsANote(t *testing.T) {
	moved := edit(t, readFile(t, envoyFile), "filename: build/apiguard.wasm", "filename: /opt/apiguard/apiguard.wasm")
	probs := ValidateEnvoyYAML([]byte(moved), EnvoyOptions{})
	onlyWarning(t, probs, wasmPath+".config.vm_config.code.local.filename", "/opt/apiguard/apiguard.wasm", "--wasm-path")
	if probs := ValidateEnvoyYAML([]byte(moved), EnvoyOptions{WasmPath: "/opt/apiguard/apiguard.wasm"}); len(probs) != 0 {
		t.Errorf("with the matching --wasm-path: %s", listProblems(probs))
	}
	probs = ValidateEnvoyYAML([]byte(moved), EnvoyOptions{WasmPath: "/srv/apiguard.wasm"})
	if len(Errors(probs)) != 1 {
		t.Errorf("with another --wasm-path, want one error, got:\n%s", listProblems(probs))
	}
}

// TestRemoteCodeAccepted: a module Envoy fetches (code.remote, with the
// sha256 Envoy requires) is valid.
func TestRemoteCodeAccepted(t *testing.T) {
	remote := edit(t, readFile(t, envoyFile), "local: {filename: build/apiguard.wasm}",
		`remote: {http_uri: {uri: "https://example.com/apiguard.wasm", cluster: upstream, timeout: 5s}, sha256: "`+strings.Repeat("ab", 32)+`"}`)
	if probs := ValidateEnvoyYAML([]byte(remote), EnvoyOptions{}); len(probs) != 0 {
		t.Errorf("code.remote refused:\n%s", listProblems(probs))
	}
	neither := edit(t, readFile(t, envoyFile), "local: {filename: build/apiguard.wasm}", `local: {inline_string: "x"}`)
	wantProblem(t, ValidateEnvoyYAML([]byte(neither), EnvoyOptions{}), wasmPath+".config.vm_config.code", "code.remote")
}

// TestPathHygieneWarnings: each of the three path settings envoy.yaml sets,
// left out, is a warning at the connection manager, not an error.
func TestPathHygieneWarnings(t *testing.T) {
	for _, tc := range []struct{ line, field string }{
		{"          normalize_path: true\n", "normalize_path"},
		{"          merge_slashes: true\n", "merge_slashes"},
		{"          path_with_escaped_slashes_action: REJECT_REQUEST\n", "path_with_escaped_slashes_action"},
	} {
		t.Run(tc.field, func(t *testing.T) {
			probs := ValidateEnvoyYAML([]byte(edit(t, readFile(t, envoyFile), tc.line, "")), EnvoyOptions{})
			onlyWarning(t, probs, hcmPath+"."+tc.field, tc.field, "envoy.yaml")
			if len(probs) != 1 {
				t.Errorf("want exactly one warning:\n%s", listProblems(probs))
			}
		})
	}
	other := edit(t, readFile(t, envoyFile), "path_with_escaped_slashes_action: REJECT_REQUEST", "path_with_escaped_slashes_action: KEEP_UNCHANGED")
	onlyWarning(t, ValidateEnvoyYAML([]byte(other), EnvoyOptions{}), hcmPath+".path_with_escaped_slashes_action", "REJECT_REQUEST")
}

// TestEmbeddedConfigProblemsHaveTheirOwnLine: a problem inside the plugin
// configuration (a literal block, value: |) points at its own line.
func TestEmbeddedConfigProblemsHaveTheirOwnLine(t *testing.T) {
	broken := edit(t, readFile(t, envoyFile), `"pagination": "lenient"`, `"pagination": "lenint"`)
	probs := ValidateEnvoyYAML([]byte(broken), EnvoyOptions{})
	path := wasmPath + ".config.configuration.value.routes[3].pagination"
	wantProblem(t, probs, path, "lenint")
	want := lineOf(t, broken, `"pagination": "lenint"`)
	for _, p := range probs {
		if p.Path == path && p.Line != want {
			t.Errorf("problem at line %d, want %d (the line of the route, not of value: |)", p.Line, want)
		}
	}
}
