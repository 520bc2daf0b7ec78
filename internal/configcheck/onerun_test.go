package configcheck

import (
	"strings"
	"testing"
)

// TestEveryUnknownFieldInOneRun: a bootstrap with unknown fields at three
// levels (the Bootstrap, a packed HttpConnectionManager, a Cluster) gets
// one problem for each, at its own line, in one run.
func TestEveryUnknownFieldInOneRun(t *testing.T) {
	text := readFile(t, envoyFile)
	lines := strings.Split(text, "\n")
	lineOf := func(prefix string) int {
		for i, l := range lines {
			if strings.HasPrefix(strings.TrimSpace(l), prefix) {
				return i + 1
			}
		}
		t.Fatalf("envoy.yaml has no line starting with %q", prefix)
		return 0
	}
	wantLines := []int{lineOf("admin:"), lineOf("stat_prefix:"), lineOf("connect_timeout:")}
	broken := strings.Replace(text, "\nadmin:", "\nadminn:", 1)
	broken = strings.Replace(broken, "stat_prefix:", "stat_prefixx:", 1)
	broken = strings.Replace(broken, "connect_timeout:", "connect_timeoutt:", 1)
	probs := ValidateEnvoyYAML([]byte(broken), EnvoyOptions{})
	want := []struct {
		field string
		line  int
	}{{"adminn", wantLines[0]}, {"stat_prefixx", wantLines[1]}, {"connect_timeoutt", wantLines[2]}}
	if len(probs) != len(want) {
		t.Fatalf("%d problems, want %d:\n%s", len(probs), len(want), listProblems(probs))
	}
	for i, w := range want {
		p := probs[i]
		if !strings.HasPrefix(p.Msg, `unknown field "`+w.field+`"`) || p.Line != w.line || !strings.HasSuffix(p.Path, w.field) {
			t.Errorf("problem %d = %s, want unknown field %q at line %d", i, p, w.field, w.line)
		}
	}
}

// TestJSONSyntaxLineColumn: a JSON syntax error is reported at its line and
// column, as JSON (never as YAML), whatever the kind of file.
func TestJSONSyntaxLineColumn(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		line, col  int
		msg        string
	}{
		{"trailing comma", "{\n  \"routes\": [\n    {\"name\": \"r\",}\n  ]\n}\n", 3, 18, "invalid character '}'"},
		{"third line", "\n\n  {\"routes\": [\n {\"a\": 1,\n \"b\": }]}", 5, 7, "invalid character '}'"},
		{"not closed", "{\"routes\": [\n", 1, 13, "unexpected end"},
		{"two values", "{}\n  {}\n", 2, 3, "more than one value"},
		{"byte order mark", "\xef\xbb\xbf{}", 1, 1, "byte order mark"},
		{"envoy bootstrap", "{\"static_resources\": {\"listeners\": [}}", 1, 37, "invalid character"},
		{"non-ASCII before", "{\"é\": 1 2}", 1, 9, "invalid character '2'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kind, probs := Validate([]byte(tc.text), EnvoyOptions{})
			if len(probs) != 1 {
				t.Fatalf("%d problems, want 1:\n%s", len(probs), listProblems(probs))
			}
			p := probs[0]
			if p.Line != tc.line || p.Column != tc.col || !strings.HasPrefix(p.Msg, "not valid JSON: ") || !strings.Contains(p.Msg, tc.msg) {
				t.Errorf("got %s (line %d col %d), want line %d:%d containing %q", p, p.Line, p.Column, tc.line, tc.col, tc.msg)
			}
			if kind == KindInvalidYAML || strings.Contains(p.Msg, "YAML") {
				t.Errorf("JSON judged as YAML: %v %s", kind, p)
			}
		})
	}
	// Valid JSON has no syntax problem.
	if p, bad := JSONSyntax([]byte(`{"a": [1, 2]}`)); bad {
		t.Errorf("valid JSON: %s", p)
	}
}
