package configcheck

import (
	"fmt"
	"sort"
)

// manifest is a Kubernetes object read for checking: its tree, spec, and
// the problems found in its envelope.
type manifest struct {
	t         *tree
	spec      any    // nil when missing (reported)
	namespace string // metadata.namespace, "" when unset
	probs     []Problem
}

// add records an error at path.
func (m *manifest) add(path, format string, args ...any) {
	m.probs = append(m.probs, Problem{Path: path, Line: m.t.line(path), Msg: fmt.Sprintf(format, args...)})
}

// warn records a warning at path.
func (m *manifest) warn(path, format string, args ...any) {
	m.probs = append(m.probs, Problem{Path: path, Line: m.t.line(path), Msg: fmt.Sprintf(format, args...), Warning: true})
}

// envelopeTop returns the top-level mapping of a Kubernetes manifest and a
// problem for each top-level field other than apiVersion, kind, metadata
// and spec, in name order; top is nil, with its one problem, when the
// document is not a mapping.
func envelopeTop(t *tree) (top map[string]any, probs []Problem) {
	top, ok := t.root.(map[string]any)
	if !ok {
		return nil, []Problem{{Line: t.line(""), Msg: "expected a mapping at the top of a Kubernetes manifest"}}
	}
	keys := make([]string, 0, len(top))
	for k := range top {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch k {
		case "apiVersion", "kind", "metadata", "spec":
		default:
			path := joinKey("", k)
			probs = append(probs, Problem{Path: path, Line: t.line(path),
				Msg: fmt.Sprintf("unknown top-level field %q (expected apiVersion, kind, metadata, spec)", k)})
		}
	}
	return top, probs
}

// readManifest parses one YAML or JSON document as a Kubernetes object of
// the given apiVersion and kind and checks its envelope: only apiVersion,
// kind, metadata and spec at the top; metadata with a valid name and only
// the fields a manifest sets (name, namespace, labels, annotations); a
// spec. It returns nil and the problems when the text is not a mapping.
func readManifest(data []byte, apiVersion, kind string) (*manifest, []Problem) {
	t, probs := parseTree(data)
	if len(probs) > 0 {
		return nil, probs
	}
	top, probs := envelopeTop(t)
	if top == nil {
		return nil, probs
	}
	m := &manifest{t: t, probs: probs}
	if v, _ := top["apiVersion"].(string); v != apiVersion {
		m.add("apiVersion", "apiVersion is %q; expected %q", fmt.Sprint(top["apiVersion"]), apiVersion)
	}
	if v, _ := top["kind"].(string); v != kind {
		m.add("kind", "kind is %q; expected %q", fmt.Sprint(top["kind"]), kind)
	}
	meta, ok := top["metadata"].(map[string]any)
	if !ok {
		m.add("metadata", "missing metadata (with at least name)")
	} else {
		mk := make([]string, 0, len(meta))
		for k := range meta {
			mk = append(mk, k)
		}
		sort.Strings(mk)
		for _, k := range mk {
			if !objectMetaFields[k] {
				m.add(joinKey("metadata", k), "unexpected metadata field %q (a manifest sets name, namespace, labels, annotations)", k)
			}
		}
		name, _ := meta["name"].(string)
		switch {
		case name == "":
			m.add("metadata.name", "missing name")
		case len(name) > 253 || !dns1123Subdomain.MatchString(name):
			m.add("metadata.name", "name %q is not a valid Kubernetes name (lower-case letters, digits, '-' and '.')", name)
		}
		m.namespace, _ = meta["namespace"].(string)
	}
	spec, ok := top["spec"]
	if !ok {
		m.add("spec", "missing spec")
	} else {
		m.spec = spec
	}
	return m, nil
}

// pluginConfigProblems compiles the plugin configuration text found at
// path with package policy, and returns its problems at their paths in the
// manifest.
func (m *manifest) pluginConfigProblems(path string, text []byte) {
	for _, p := range pluginProblems(text, nil) {
		pp := joinPath(path, p.Path)
		m.probs = append(m.probs, Problem{Path: pp, Line: m.t.line(pp), Msg: p.Msg, Warning: p.Warning})
	}
}
