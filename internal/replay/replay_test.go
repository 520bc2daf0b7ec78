package replay

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apiguard/apiguard/policy"
)

// testKey is a key the tests resolve placeholders to; it must never appear
// in an error.
const testKey = "agk_TESTKEYTESTKEYTESTKEYTESTKEY12000000"

func testKeys(t *testing.T) Keys {
	t.Helper()
	k, err := LoadKeys(strings.NewReader("# comment\n\nalice-1\t" + testKey + "\nbob-1 agk_other\n"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestLoadKeys(t *testing.T) {
	k := testKeys(t)
	if got := k.IDs(); !reflect.DeepEqual(got, []string{"alice-1", "bob-1"}) {
		t.Errorf("IDs = %v", got)
	}
	for _, tc := range []struct{ name, in, want string }{
		{"one field", "alice-1\n", "line 1: want"},
		{"three fields", "# c\na b c\n", "line 2: want"},
		{"duplicate id", "a " + testKey + "\na k2\n", `line 2: duplicate key id "a"`},
		{"braces in id", "{a} k\n", "may not contain braces"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadKeys(strings.NewReader(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), testKey) {
				t.Errorf("error shows the key: %v", err)
			}
		})
	}
}

func TestPlaceholders(t *testing.T) {
	k := testKeys(t)
	got, err := k.resolve("/v1?a={{key:alice-1}}&b={{key:bob-1}}")
	if err != nil {
		t.Fatal(err)
	}
	if want := "/v1?a=" + testKey + "&b=agk_other"; got != want {
		t.Errorf("resolve = %q, want %q", got, want)
	}
	if back := k.redact(got); back != "/v1?a={{key:alice-1}}&b={{key:bob-1}}" {
		t.Errorf("redact = %q", back)
	}
	for _, tc := range []struct {
		keys Keys
		in   string
		want string
	}{
		{k, "{{key:carol}}", `no key "carol" in the keys file (it has alice-1, bob-1)`},
		{k, "x{{key:alice-1", "unterminated placeholder"},
		{Keys{}, "{{key:alice-1}}", "needs a keys file (--keys)"},
	} {
		if _, err := tc.keys.resolve(tc.in); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("resolve(%q) error = %v, want %q", tc.in, err, tc.want)
		}
	}
}

func TestParseRequests(t *testing.T) {
	in := `# comment, then a blank line

{"path": "/a", "at": "+5s"}
{"method": "POST", "path": "/b?api_key={{key:alice-1}}", "headers": {"X-Api-Key": "{{key:alice-1}}", "accept": ["a", "b"]}, "at": "2026-03-01T10:00:00Z", "note": "n"}
{"path": "/c", "client_ip": "2001:db8::1"}
{"path": "/d", "at": 1.5, "client_ip": "::ffff:192.0.2.9"}
{"path": "/e", "at": "250ms"}
`
	reqs, err := ParseRequests(strings.NewReader(in), ParseOptions{Keys: testKeys(t)})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC) // the first absolute time
	want := []struct {
		line   int
		method string
		path   string
		at     time.Time
		ip     string
	}{
		{3, "GET", "/a", start.Add(5 * time.Second), DefaultClientIP},
		{4, "POST", "/b?api_key={{key:alice-1}}", start, DefaultClientIP},
		{5, "GET", "/c", start, "2001:db8::1"}, // no "at": the previous request's time
		{6, "GET", "/d", start.Add(1500 * time.Millisecond), "192.0.2.9"},
		{7, "GET", "/e", start.Add(250 * time.Millisecond), DefaultClientIP},
	}
	if len(reqs) != len(want) {
		t.Fatalf("%d requests, want %d", len(reqs), len(want))
	}
	for i, w := range want {
		r := reqs[i]
		if r.Line != w.line || r.Method != w.method || r.Path != w.path || !r.At.Equal(w.at) || r.ClientIP.String() != w.ip {
			t.Errorf("request %d = line %d %s %s at %v from %s, want %+v", i, r.Line, r.Method, r.Path, r.At, r.ClientIP, w)
		}
	}
	// Placeholders are resolved for the filter only; header order and
	// repeated headers are kept, names lower-cased.
	b := reqs[1]
	if b.path != "/b?api_key="+testKey {
		t.Errorf("resolved path = %q", b.path)
	}
	if want := [][2]string{{"x-api-key", testKey}, {"accept", "a"}, {"accept", "b"}}; !reflect.DeepEqual(b.headers, want) {
		t.Errorf("headers = %q, want %q", b.headers, want)
	}
	if b.Note != "n" {
		t.Errorf("note = %q", b.Note)
	}
	hs := requestHeaders(b)
	for _, name := range []string{":method", ":path", ":authority", "x-request-id"} {
		if _, ok := header(hs, name); !ok {
			t.Errorf("the filter would get no %s", name)
		}
	}

	// --start overrides the first absolute time.
	s := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	reqs, err = ParseRequests(strings.NewReader(in), ParseOptions{Keys: testKeys(t), Start: s})
	if err != nil {
		t.Fatal(err)
	}
	if !reqs[0].At.Equal(s.Add(5 * time.Second)) {
		t.Errorf("with Start, first request at %v", reqs[0].At)
	}
}

func TestParseRequestsErrorsNameTheLine(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"{\"path\": \"/a\"}\n\n{", "line 3: not a request object"},
		{`{"path": ""}`, `line 1: "path" is required`},
		{`{"path": "/a", "at": "2026-13-01T00:00:00Z"}`, `line 1: "at"`},
		{`{"path": "/a", "at": true}`, `line 1: "at": want an RFC 3339 time`},
		{`{"path": "/a", "at": 1e300}`, `line 1: "at": 1e300 seconds is out of range`},
		{`{"path": "/a", "headers": []}`, `line 1: not a request object: "headers" must be an object`},
		{`{"path": "/a", "headers": {"": "x"}}`, `line 1: "headers": "" is not allowed`},
		{`{"path": "/a", "headers": {"x-api-key": "{{key:alice-1}}", "y": "{{key:zed}}"}}`, `line 1: "headers": y: placeholder {{key:zed}}`},
		{`{"path": "/a"}` + "\n" + `{"path": "/` + strings.Repeat("a", maxLineBytes) + `"}`, "line 2: longer than"},
	} {
		_, err := ParseRequests(strings.NewReader(tc.in), ParseOptions{Keys: testKeys(t)})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("input %.60q: error = %v, want %q", tc.in, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), testKey) {
			t.Errorf("error shows a resolved key: %v", err)
		}
	}
}

func TestWithLogAllowed(t *testing.T) {
	const rest = `"routes": [{"name": "all", "path": "/*", "public": true}]`
	for _, tc := range []struct{ name, in string }{
		{"absent", `{` + rest + `}`},
		{"false", `{"log_allowed": false, ` + rest + `}`},
		{"already true", `{` + rest + `, "log_allowed": true}`},
		{"false, last", "{\n  " + rest + ",\n  \"log_allowed\" : false\n}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := withLogAllowed([]byte(tc.in))
			p, err := policy.Compile(out)
			if err != nil {
				t.Fatalf("%s does not compile: %v", out, err)
			}
			if !p.LogAllowed() {
				t.Errorf("%s: log_allowed is off", out)
			}
		})
	}
	// Anything but an object is left for the filter to refuse.
	for _, in := range []string{``, `[]`, `{`} {
		if out := withLogAllowed([]byte(in)); string(out) != in {
			t.Errorf("withLogAllowed(%q) = %q", in, out)
		}
	}
}

func TestRedactQuery(t *testing.T) {
	ci := readConfigInfo([]byte(`{"key_sources": [{"header": "x-api-key"}, {"query": "api_key"}, {"query": "token"}]}`))
	for in, want := range map[string]string{
		"/a":                              "/a",
		"/a?limit=5":                      "/a?limit=5",
		"/a?api_key=secret&limit=5":       "/a?api_key=REDACTED&limit=5",
		"/a?limit=5&token=s&api%5Fkey=s":  "/a?limit=5&token=REDACTED&api%5Fkey=REDACTED",
		"/a?api_key={{key:alice-1}}":      "/a?api_key={{key:alice-1}}",
		"/a?api_key=&x":                   "/a?api_key=&x",
		"/a?x=1;api_key=s&y":              "/a?x=1;api_key=REDACTED&y",
		"/a?api_key[]=s&api_key%5B0%5D=s": "/a?api_key[]=REDACTED&api_key%5B0%5D=REDACTED",
		"/a?api_keys=s":                   "/a?api_keys=s",
	} {
		if got := ci.redactQuery(in); got != want {
			t.Errorf("redactQuery(%q) = %q, want %q", in, got, want)
		}
	}
	if ci.consumerHeader != "x-apiguard-consumer" || ci.keyIDHeader != "x-apiguard-key-id" || ci.shadow {
		t.Errorf("defaults: %+v", ci)
	}
}

func TestDiff(t *testing.T) {
	res := func(line int, decision policy.Outcome, status int, reason, route string) Result {
		return Result{Line: line, Outcome: Outcome{Decision: decision, Status: status, Reason: reason, Route: route}}
	}
	forwarded := func(line int, path, consumer string) Result {
		r := res(line, policy.OutcomeAllow, 200, "allowed", "a")
		r.UpstreamPath, r.UpstreamIdentity = path, map[string]string{"x-apiguard-consumer": consumer}
		return r
	}
	base := []Result{
		res(1, policy.OutcomeAllow, 200, "allowed", "a"),
		res(2, policy.OutcomeAllow, 200, "allowed", "a"),
		res(3, policy.OutcomeDeny, 401, "missing", ""),
		res(4, policy.OutcomeDeny, 401, "expired", ""),
		forwarded(5, "/a?limit=200", "c"),
		forwarded(6, "/a", "c"),
		forwarded(7, "/a", "c"),
	}
	cur := []Result{
		res(1, policy.OutcomeAllow, 200, "allowed", "renamed"), // route only: not a change
		res(2, policy.OutcomeDeny, 429, "rate_limited", "a"),
		res(3, policy.OutcomeDeny, 401, "missing", ""),
		res(4, policy.OutcomeDeny, 401, "revoked", ""),
		forwarded(5, "/a?limit=50", "c"), // the back end gets another path
		forwarded(6, "/a", "d"),          // another identity
		forwarded(7, "/a", "c"),
	}
	changes, err := Diff(base, cur)
	if err != nil {
		t.Fatal(err)
	}
	var lines []int
	for _, c := range changes {
		lines = append(lines, c.Line)
	}
	if !reflect.DeepEqual(lines, []int{2, 4, 5, 6}) {
		t.Errorf("changed lines = %v, want [2 4 5 6]", lines)
	}
	if changes[0].Baseline.Reason != "allowed" || changes[0].New.Reason != "rate_limited" {
		t.Errorf("change = %+v", changes[0])
	}
	if _, err := Diff(base, cur[:6]); err == nil {
		t.Error("runs of different lengths compared")
	}
}

func TestProblemReason(t *testing.T) {
	for body, want := range map[string]string{
		`{"type":"https://apiguard.dev/problems/expired","status":401}`: "expired",
		`not json`: "",
		`{}`:       "",
	} {
		if got := problemReason([]byte(body)); got != want {
			t.Errorf("problemReason(%s) = %q, want %q", body, got, want)
		}
	}
}
