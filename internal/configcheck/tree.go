package configcheck

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// A tree is a YAML or JSON document decoded into plain JSON values
// (map[string]any, []any, string, float64, int64, bool, nil), together with
// the source line of every path in it, so that later checks can report
// where in the file a problem sits.
type tree struct {
	root  any
	lines map[string]int // path → 1-based line of the key or item
	// blocks maps the path of every literal block scalar (key: |) to the
	// line its text starts on, so that a line inside the text can be
	// mapped back to the file.
	blocks map[string]int
}

// line returns the source line of path, or of its closest ancestor that has
// one, or 0.
func (t *tree) line(path string) int {
	for {
		if l, ok := t.lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			return t.lines[""]
		}
		path = path[:i]
	}
}

// parseTree decodes a single YAML document (JSON is YAML too). Unlike
// yaml.Unmarshal into a map, it reports every duplicate mapping key with its
// path, aliases are refused, and scalars keep the types JSON would give them.
// The tree is nil only when the text is not YAML at all; with other
// problems it holds what could be read.
func parseTree(data []byte) (*tree, []Problem) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, []Problem{{Msg: "empty document"}}
		}
		return nil, []Problem{syntaxProblem(err)}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, []Problem{{Line: extra.Line, Msg: "more than one YAML document; expected exactly one"}}
	} else if !errors.Is(err, io.EOF) {
		return nil, []Problem{syntaxProblem(err)}
	}
	t := &tree{lines: map[string]int{}, blocks: map[string]int{}}
	var probs []Problem
	if len(doc.Content) == 0 {
		return nil, []Problem{{Msg: "empty document"}}
	}
	t.root = t.convert(doc.Content[0], "", &probs)
	return t, probs
}

// syntaxMsgPrefix starts the message of every YAML syntax error.
const syntaxMsgPrefix = "not valid YAML: "

var yamlErrLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): `)

// syntaxProblem turns a YAML decoder error into a Problem with the line the
// decoder names ("yaml: line 7: did not find expected key").
func syntaxProblem(err error) Problem {
	msg := err.Error()
	p := Problem{}
	if m := yamlErrLine.FindStringSubmatchIndex(msg); m != nil {
		p.Line, _ = strconv.Atoi(msg[m[2]:m[3]])
		msg = msg[m[1]:]
	}
	p.Msg = syntaxMsgPrefix + strings.TrimPrefix(msg, "yaml: ")
	return p
}

func (t *tree) convert(n *yaml.Node, path string, probs *[]Problem) any {
	if _, ok := t.lines[path]; !ok {
		t.lines[path] = n.Line
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil
		}
		return t.convert(n.Content[0], path, probs)
	case yaml.AliasNode:
		*probs = append(*probs, Problem{Path: path, Line: n.Line, Msg: "YAML aliases are not supported"})
		return nil
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		seen := make(map[string]int, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				*probs = append(*probs, Problem{Path: path, Line: k.Line, Msg: "mapping key is not a scalar"})
				continue
			}
			if k.ShortTag() == "!!merge" {
				*probs = append(*probs, Problem{Path: path, Line: k.Line, Msg: "YAML merge keys (<<) are not supported"})
				continue
			}
			child := joinKey(path, k.Value)
			if first, dup := seen[k.Value]; dup {
				*probs = append(*probs, Problem{Path: child, Line: k.Line,
					Msg: fmt.Sprintf("duplicate key %q (first defined at line %d)", k.Value, first)})
				continue
			}
			seen[k.Value] = k.Line
			t.lines[child] = k.Line
			m[k.Value] = t.convert(v, child, probs)
		}
		return m
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for i, c := range n.Content {
			s = append(s, t.convert(c, fmt.Sprintf("%s[%d]", path, i), probs))
		}
		return s
	case yaml.ScalarNode:
		if n.Style&yaml.LiteralStyle != 0 {
			t.blocks[path] = n.Line + 1
		}
		return scalar(n, path, probs)
	}
	*probs = append(*probs, Problem{Path: path, Line: n.Line, Msg: "unsupported YAML node"})
	return nil
}

// scalar converts a YAML scalar to the JSON value it stands for.
func scalar(n *yaml.Node, path string, probs *[]Problem) any {
	switch n.ShortTag() {
	case "!!null":
		return nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err == nil {
			return b
		}
	case "!!int":
		if i, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64); err == nil {
			return i
		}
		var i int64
		if err := n.Decode(&i); err == nil {
			return i
		}
		var u uint64
		if err := n.Decode(&u); err == nil {
			return u
		}
	case "!!float":
		var f float64
		if err := n.Decode(&f); err == nil {
			if math.IsInf(f, 0) || math.IsNaN(f) {
				// JSON has no such numbers; protojson spells them as strings.
				return n.Value
			}
			return f
		}
	default: // !!str, !!timestamp, !!binary and custom tags stay text
		return n.Value
	}
	*probs = append(*probs, Problem{Path: path, Line: n.Line, Msg: fmt.Sprintf("cannot read %s value %q", n.ShortTag(), n.Value)})
	return nil
}

// joinKey appends a mapping key to a path. Keys that are not plain
// identifiers are quoted in brackets so that the path stays unambiguous.
func joinKey(path, key string) string {
	plain := key != ""
	for _, r := range key {
		if !(r == '_' || r == '-' || r == '@' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			plain = false
			break
		}
	}
	if !plain {
		return fmt.Sprintf("%s[%q]", path, key)
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

// joinPath appends a relative path (as reported by policy or PGV) to a
// prefix.
func joinPath(prefix, rel string) string {
	switch {
	case rel == "":
		return prefix
	case prefix == "":
		return rel
	case strings.HasPrefix(rel, "["):
		return prefix + rel
	}
	return prefix + "." + rel
}

// get walks a tree along keys (string for maps, int for lists) and returns
// the value, or nil and false when a step is missing.
func get(v any, steps ...any) (any, bool) {
	for _, s := range steps {
		switch s := s.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil, false
			}
			if v, ok = m[s]; !ok {
				return nil, false
			}
		case int:
			l, ok := v.([]any)
			if !ok || s < 0 || s >= len(l) {
				return nil, false
			}
			v = l[s]
		}
	}
	return v, true
}
