package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/policy"
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

// TestHeaderMapRoundTrip: appendHeaderMap writes what decodePairs and the
// SDK read back, and mapHolds tells the pairs after the first ones.
func TestHeaderMapRoundTrip(t *testing.T) {
	a := [][2]string{{"content-type", "x"}, {"cache-control", ""}}
	b := [][2]string{{"www-authenticate", `ApiKey realm="apiguard"`}, {"retry-after", "7"}}
	m := appendHeaderMap(nil, a, b)
	if len(m) != headerMapSize(a)+headerMapSize(b)-4 {
		t.Errorf("size %d, headerMapSize says %d", len(m), headerMapSize(a)+headerMapSize(b)-4)
	}
	got, ok := decodePairs(nil, m)
	if want := append(append([][2]string{}, a...), b...); !ok || len(got) != len(want) {
		t.Fatalf("decoded %q, %v; want %q", got, ok, want)
	} else {
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("pair %d: %q, want %q", i, got[i], want[i])
			}
		}
	}
	if !mapHolds(m, 2, b) || mapHolds(m, 2, b[:1]) || mapHolds(m, 1, b) ||
		mapHolds(m, 2, [][2]string{b[0], {"retry-after", "8"}}) {
		t.Error("mapHolds does not tell the pairs apart")
	}
	for _, bad := range [][]byte{nil, {1, 0, 0}, m[:len(m)-3], {9, 0, 0, 0}} {
		if _, ok := decodePairs(nil, bad); ok {
			t.Errorf("decodePairs(%q) accepted", bad)
		}
	}
}

// TestReplyReused: a denial like a recent one gets its reply again, and
// every reply is the headers and problem document of its own decision.
func TestReplyReused(t *testing.T) {
	scope := func(detail string) *policy.Decision {
		return &policy.Decision{Status: 403, Reason: policy.ReasonInsufficientScope, Problem: policy.Problem{
			Type: policy.ProblemTypeBase + "insufficient_scope", Title: "Insufficient scope", Detail: detail,
			ResponseHeaders: [][2]string{{"www-authenticate", "ApiKey " + detail}}}}
	}
	d1, d2 := scope(strings.Clone("missing scopes: a")), scope(strings.Clone("missing scopes: a"))
	r1, r2 := replyFor(d1), replyFor(d2)
	if r1 != r2 {
		t.Error("an equal denial built its reply again")
	}
	d3 := scope("missing scopes: b")
	r3 := replyFor(d3)
	if r3 == r1 {
		t.Error("a different denial got another's reply")
	}
	for _, c := range []struct {
		d *policy.Decision
		r *reply
	}{{d1, r1}, {d3, r3}} {
		wantBody := appendProblem(nil, c.d.Problem.Type, c.d.Problem.Title, c.d.Status, c.d.Problem.Detail)
		wantHeaders := appendHeaderMap(nil, denialHeaders[:], c.d.Problem.ResponseHeaders)
		if string(c.r.body) != string(wantBody) || string(c.r.headers) != string(wantHeaders) {
			t.Errorf("reply %q %q, want %q %q", c.r.body, c.r.headers, wantBody, wantHeaders)
		}
	}
}

// TestReplyBySource: a denial made of the very strings and header slice of
// a reply's last problem is found by them; one that shares some of them
// but differs in any field, or in its headers' text, gets a reply of its
// own; setPolicy empties the replies.
func TestReplyBySource(t *testing.T) {
	forgetReplies()
	t.Cleanup(forgetReplies)
	headers := [][2]string{{"www-authenticate", "ApiKey x"}}
	base := policy.Decision{Status: 403, Reason: policy.ReasonInsufficientScope, Problem: policy.Problem{
		Type: policy.ProblemTypeBase + "insufficient_scope", Title: "Insufficient scope",
		Detail: "missing scopes: a", ResponseHeaders: headers}}
	r := replyFor(&base)
	again := base
	if replyFor(&again) != r || !r.sameSource(&again) {
		t.Fatal("the same problem did not find its reply by its source")
	}
	for name, change := range map[string]func(d *policy.Decision){
		"detail of the same length": func(d *policy.Decision) { d.Problem.Detail = "missing scopes: b" },
		"title":                     func(d *policy.Decision) { d.Problem.Title = "Insufficient scopf" },
		"header value, another slice": func(d *policy.Decision) {
			d.Problem.ResponseHeaders = [][2]string{{"www-authenticate", "ApiKey y"}}
		},
		"one header less": func(d *policy.Decision) { d.Problem.ResponseHeaders = headers[:0] },
		"status":          func(d *policy.Decision) { d.Status = 401 },
	} {
		d := base
		change(&d)
		got := replyFor(&d)
		wantBody := appendProblem(nil, d.Problem.Type, d.Problem.Title, d.Status, d.Problem.Detail)
		wantHeaders := appendHeaderMap(nil, denialHeaders[:], d.Problem.ResponseHeaders)
		if got.status != d.Status || string(got.body) != string(wantBody) || string(got.headers) != string(wantHeaders) {
			t.Errorf("%s: reply %d %q %q, want %d %q %q", name, got.status, got.body, got.headers, d.Status, wantBody, wantHeaders)
		}
		if r := replyFor(&base); string(r.body) != string(appendProblem(nil, base.Problem.Type, base.Problem.Title, 403, base.Problem.Detail)) {
			t.Errorf("after %s: the first problem's reply is %q", name, r.body)
		}
	}
	(&pluginContext{}).setPolicy(nil)
	for i, r := range replies {
		if r != nil {
			t.Errorf("reply %d kept after setPolicy", i)
		}
	}
}
