package configcheck

import (
	"strings"
	"testing"
)

// TestYAMLSyntaxErrorHasItsLine: text that is not YAML is reported as a
// syntax error at the decoder's line, not as a file of unknown kind.
func TestYAMLSyntaxErrorHasItsLine(t *testing.T) {
	data := "apiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\nspec:\n  url: [oci://x\n  phase: AUTHN\n"
	kind, probs := Validate([]byte(data), EnvoyOptions{})
	if kind != KindInvalidYAML || len(probs) != 1 || !strings.HasPrefix(probs[0].Msg, "not valid YAML: ") || probs[0].Line == 0 {
		t.Fatalf("Validate = %v, %q; want one syntax error with a line", kind, probs)
	}
	if strings.Contains(probs[0].Msg, "line ") || strings.Contains(probs[0].Msg, "cannot tell") {
		t.Errorf("message %q repeats the line or guesses the kind", probs[0].Msg)
	}
}

// TestMultiDocumentFiles: each document of a kustomize-style stream is
// checked on its own, with lines counted in the whole file; other
// Kubernetes kinds are skipped; comment-only documents are dropped.
func TestMultiDocumentFiles(t *testing.T) {
	istio := readFile(t, istioFile)
	broken := edit(t, istio, "phase: AUTHN", "phase: AUTHX")
	deployment := "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: orders\n"
	stream := "# generated\n---\n" + deployment + "---\n" + istio + "---\n# nothing\n---\n" + broken + "---\nfoo: [\n"
	docs := ValidateDocuments([]byte(stream), EnvoyOptions{})
	if len(docs) != 4 {
		t.Fatalf("%d documents, want 4: %+v", len(docs), docs)
	}
	if docs[0].Skip == "" || !strings.Contains(docs[0].Skip, "Deployment") {
		t.Errorf("document 1 (a Deployment): skip %q", docs[0].Skip)
	}
	if docs[1].Kind != KindIstioWasmPlugin || len(Errors(docs[1].Problems)) != 0 {
		t.Errorf("document 2: %v %s", docs[1].Kind, listProblems(docs[1].Problems))
	}
	wantProblem(t, docs[2].Problems, "spec.phase", `"AUTHX"`)
	want := lineOf(t, stream, "phase: AUTHX")
	for _, p := range docs[2].Problems {
		if p.Path == "spec.phase" && p.Line != want {
			t.Errorf("spec.phase at line %d, want %d (counted in the whole file)", p.Line, want)
		}
	}
	if docs[2].Line != lineOf(t, stream, "---\n"+broken) {
		t.Errorf("document 3 starts at line %d", docs[2].Line)
	}
	if docs[3].Kind != KindInvalidYAML || len(docs[3].Problems) != 1 || docs[3].Problems[0].Line != strings.Count(stream, "\n") {
		t.Errorf("document 4: %v %q, want a syntax error on the last line", docs[3].Kind, docs[3].Problems)
	}
	// One document, with or without a leading marker: the old behaviour.
	for _, one := range []string{istio, "---\n" + istio} {
		if docs := ValidateDocuments([]byte(one), EnvoyOptions{}); len(docs) != 1 || len(Errors(docs[0].Problems)) != 0 {
			t.Errorf("single document: %+v", docs)
		}
	}
}
