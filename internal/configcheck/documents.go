package configcheck

import (
	"bytes"
	"regexp"
	"strings"
)

// A Document is one YAML document of a file and what Validate found in it.
type Document struct {
	Index int    // 1-based position in the file
	Line  int    // line of the file the document starts on
	Kind  Kind   // what the document is
	Skip  string // non-empty: not checked, and why (another Kubernetes kind)
	// Problems found, with lines counted from the start of the file.
	Problems []Problem
}

// docSeparator is a YAML document marker line: "---" alone or followed by
// a space (a comment, a tag or content).
var docSeparator = regexp.MustCompile(`^---(?:[ \t].*)?$`)

// k8sKind reads the kind of a Kubernetes object, for skipping.
var k8sKind = regexp.MustCompile(`(?m)^kind:[ \t]*["']?([A-Za-z0-9]+)`)

// ValidateDocuments validates every YAML document of data (kustomize and
// helm output hold many) with Validate. A RequestAuthentication is checked
// against opts.PluginConfig, else against the pluginConfig of the file's
// first WasmPlugin. A JSON file, or YAML with one
// document, gives one Document. In a file of several documents, Kubernetes
// objects of other kinds than WasmPlugin are skipped (Skip says so), and
// documents holding only comments are left out.
func ValidateDocuments(data []byte, opts EnvoyOptions) []Document {
	docs := splitDocuments(data)
	if len(docs) <= 1 {
		kind, probs := Validate(data, opts)
		return []Document{{Index: 1, Line: 1, Kind: kind, Problems: probs}}
	}
	if opts.PluginConfig == nil {
		for _, d := range docs {
			if m := k8sKind.FindSubmatch(d.text); m != nil && string(m[1]) == IstioKind {
				if pc := wasmPluginConfig(d.text); pc != nil {
					opts.PluginConfig = pc
					break
				}
			}
		}
	}
	out := make([]Document, 0, len(docs))
	for i, d := range docs {
		doc := Document{Index: i + 1, Line: d.line}
		kind, probs := Validate(d.text, opts)
		doc.Kind = kind
		if kind == KindUnknown {
			if m := k8sKind.FindSubmatch(d.text); m != nil && string(m[1]) != IstioKind {
				doc.Skip = "a " + string(m[1]) + ", not an apiguard file"
				probs = nil
			}
		}
		for _, p := range probs {
			if p.Line > 0 {
				p.Line += d.line - 1
			}
			doc.Problems = append(doc.Problems, p)
		}
		out = append(out, doc)
	}
	crossCheckEnvoyGateway(docs, out)
	return out
}

// rawDoc is one document's text and the file line it starts on.
type rawDoc struct {
	text []byte
	line int
}

// splitDocuments cuts YAML text at its document markers, dropping
// documents that hold nothing but blank lines and comments. JSON is never
// cut. A marker inside a block scalar is indented, so a marker at the start
// of a line always separates documents.
func splitDocuments(data []byte) []rawDoc {
	if bytes.HasPrefix(bytes.TrimSpace(data), []byte("{")) {
		return []rawDoc{{text: data, line: 1}}
	}
	var docs []rawDoc
	var cur []string
	start := 1
	flush := func() {
		text := strings.Join(cur, "")
		if hasContent(text) {
			docs = append(docs, rawDoc{text: []byte(text), line: start})
		}
	}
	n := 0
	for line := range strings.Lines(string(data)) {
		n++
		trimmed := strings.TrimRight(line, "\r\n")
		if docSeparator.MatchString(trimmed) || trimmed == "..." {
			flush()
			cur, start = nil, n
			if trimmed == "..." || trimmed == "---" || strings.HasPrefix(strings.TrimSpace(trimmed[3:]), "#") {
				// Keep the line count: the document starts after the marker.
				cur = []string{"\n"}
			} else {
				cur = []string{strings.TrimSpace(trimmed[3:]) + "\n"}
			}
			continue
		}
		cur = append(cur, line)
	}
	flush()
	return docs
}

// hasContent reports whether YAML text holds more than blank lines and
// comments.
func hasContent(text string) bool {
	for line := range strings.Lines(text) {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") {
			return true
		}
	}
	return false
}
