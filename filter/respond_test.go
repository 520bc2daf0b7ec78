package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestAppendJSONString: the output is valid JSON that decodes to the input
// (invalid UTF-8 as U+FFFD), with <, >, &, U+2028 and U+2029 escaped so that
// no consumer that embeds it in HTML or JavaScript can be confused.
func TestAppendJSONString(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"plain /v1/orders?x=1", "plain /v1/orders?x=1"},
		{`quote " backslash \ `, `quote " backslash \ `},
		{"ctl \x00\x01\n\t\x1f", "ctl \x00\x01\n\t\x1f"},
		{"<script>&amp;", "<script>&amp;"},
		{"ünïcödé 日本 \u2028\u2029", "ünïcödé 日本 \u2028\u2029"},
		{"bad \xff\xfe utf8 \xe2\x82", "bad \ufffd\ufffd utf8 \ufffd\ufffd"}, // one per invalid byte, as range does
	} {
		out := string(appendJSONString(nil, tc.in))
		var got string
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Errorf("%q: output %s is not a JSON string: %v", tc.in, out, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%q: decodes to %q, want %q", tc.in, got, tc.want)
		}
		for _, raw := range []string{"<", ">", "&", "\u2028", "\u2029", "\n", "\x00"} {
			if strings.Contains(out, raw) {
				t.Errorf("%q: output %s holds %q unescaped", tc.in, out, raw)
			}
		}
	}
}
