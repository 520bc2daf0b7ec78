package main

import (
	"os"
	"strings"
	"testing"
)

// TestValidateMultiDocumentAndSyntax: a stream of documents is checked per
// document, other kinds skipped; a YAML syntax error is named as such.
func TestValidateMultiDocumentAndSyntax(t *testing.T) {
	istio, err := os.ReadFile(repoFile(t, "deploy/istio/wasmplugin.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	stream := "apiVersion: v1\nkind: Service\nmetadata:\n  name: orders\n---\n" + string(istio) +
		"---\n" + strings.Replace(string(istio), "phase: AUTHN", "phase: AUTHX", 1)
	r := apiguard(t, stream, "validate", "-")
	r.wantCode(t, exitFail)
	for _, want := range []string{
		"-: document 1 (line 1): skipped: a Service",
		"-: document 2 (line 5): ok (Istio WasmPlugin)",
		"-: document 3 (line ",
		`spec.phase: invalid value "AUTHX"`,
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}

	r = apiguard(t, "apiVersion: v1\nkind: Service\n---\nkind: ConfigMap\n", "validate", "-")
	r.wantCode(t, exitFail)
	if !strings.Contains(r.stdout, "no apiguard plugin configuration") {
		t.Errorf("a file with nothing to check passed:\n%s", r.stdout)
	}

	r = apiguard(t, "static_resources:\n  listeners: [\n  clusters: []\n", "validate", "-")
	r.wantCode(t, exitFail)
	if !strings.Contains(r.stdout, "(invalid YAML)") || !hasLine(r.stdout, "-: line ", "not valid YAML") {
		t.Errorf("syntax error not reported with its line:\n%s", r.stdout)
	}
}
