package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/internal/replay"
	"github.com/apiguard/apiguard/policy"
)

// The replay fixture: a configuration, a changed copy of it, keys and
// traffic covering most reasons.
var (
	fixtureConfig    = filepath.Join("testdata", "replay", "config.json")
	fixtureConfigNew = filepath.Join("testdata", "replay", "config-new.json")
	fixtureKeys      = filepath.Join("testdata", "replay", "keys.txt")
	fixtureTraffic   = filepath.Join("testdata", "replay", "traffic.jsonl")
)

// replayArgs returns the arguments of a replay of the fixture traffic.
func replayArgs(t *testing.T, extra ...string) []string {
	return append([]string{"replay", "--wasm", wasmFile(t), "--keys", fixtureKeys,
		"--requests", fixtureTraffic}, extra...)
}

func TestReplayDecisionTable(t *testing.T) {
	r := apiguard(t, "", replayArgs(t, "--config", fixtureConfig)...)
	r.wantCode(t, exitOK)
	golden(t, filepath.Join("replay", "table.golden"), r.stdout)
	noKeys(t, fileKeys(t, fixtureKeys), r.stdout, r.stderr)
	if r.stderr != "" {
		t.Errorf("stderr:\n%s", r.stderr)
	}
}

func TestReplayJSON(t *testing.T) {
	r := apiguard(t, "", replayArgs(t, "--config", fixtureConfig, "--output", "json")...)
	r.wantCode(t, exitOK)
	golden(t, filepath.Join("replay", "json.golden"), r.stdout)
	noKeys(t, fileKeys(t, fixtureKeys), r.stdout, r.stderr)

	var out runJSON
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	byLine := map[int]replay.Result{}
	for _, res := range out.Requests {
		byLine[res.Line] = res
	}
	// What the filter forwarded: the credential and the spoofable identity
	// gone, the identity set, the default limit added.
	if got := byLine[4]; got.UpstreamPath != "/v1/orders?limit=20" || got.Consumer != "alice" || got.KeyID != "alice-1" {
		t.Errorf("line 4 = %+v", got)
	}
	if got := byLine[20]; got.Status != 429 || got.RetryAfter != "1" {
		t.Errorf("line 20 = %+v, want 429 with Retry-After 1", got)
	}
	if got := byLine[14]; got.ClientIP != "2001:db8::7" || got.Path != "/v1/orders?api_key=REDACTED" {
		t.Errorf("line 14 = %+v, want the IPv6 client and the literal key redacted", got)
	}
	if out.Summary.Total != len(out.Requests) || out.Summary.Allowed+out.Summary.Denied != out.Summary.Total {
		t.Errorf("summary = %+v", out.Summary)
	}
}

func TestReplayBaselineReportsExactlyTheChanges(t *testing.T) {
	// config-new.json takes files:read from bob, lowers max_limit from 100
	// to 50 and the anonymous burst from 3 to 2.
	wantChanged := []int{5, 9, 19}

	r := apiguard(t, "", replayArgs(t, "--baseline", fixtureConfig, "--config", fixtureConfigNew, "--output", "json")...)
	r.wantCode(t, exitFail)
	var out diffJSON
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, r.stdout)
	}
	var lines []int
	for _, c := range out.Changed {
		lines = append(lines, c.Line)
	}
	if !slices.Equal(lines, wantChanged) {
		t.Errorf("changed lines = %v, want %v", lines, wantChanged)
	}
	want := map[int][2]string{
		5:  {"allowed", "bad_pagination"},
		9:  {"allowed", "insufficient_scope"},
		19: {"allowed", "rate_limited"},
	}
	for _, c := range out.Changed {
		if w := want[c.Line]; c.Baseline.Reason != w[0] || c.New.Reason != w[1] {
			t.Errorf("line %d: %s -> %s, want %s -> %s", c.Line, c.Baseline.Reason, c.New.Reason, w[0], w[1])
		}
	}

	table := apiguard(t, "", replayArgs(t, "--baseline", fixtureConfig, "--config", fixtureConfigNew)...)
	table.wantCode(t, exitFail)
	golden(t, filepath.Join("replay", "baseline.golden"), table.stdout)
	noKeys(t, fileKeys(t, fixtureKeys), r.stdout, r.stderr, table.stdout, table.stderr)

	// The same configuration on both sides changes nothing.
	same := apiguard(t, "", replayArgs(t, "--baseline", fixtureConfig, "--config", fixtureConfig)...)
	same.wantCode(t, exitOK)
	if !strings.HasPrefix(same.stdout, "Nothing changed") {
		t.Errorf("stdout = %q", same.stdout)
	}
}

// TestReplayBaselineSeesUpstreamChanges: a clamp profile whose max_limit
// goes from 100 to 50 allows the same requests, but the back end receives
// another limit: that is a change, and the table shows the upstream path.
func TestReplayBaselineSeesUpstreamChanges(t *testing.T) {
	data, err := os.ReadFile(fixtureConfig)
	if err != nil {
		t.Fatal(err)
	}
	clamp := strings.Replace(string(data), `"on_violation": "reject"`, `"on_violation": "clamp"`, 1)
	dir := t.TempDir()
	old, cur := filepath.Join(dir, "old.json"), filepath.Join(dir, "new.json")
	if err := os.WriteFile(old, []byte(clamp), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cur, []byte(strings.Replace(clamp, `"max_limit": 100`, `"max_limit": 50`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	r := apiguard(t, "", replayArgs(t, "--baseline", old, "--config", cur)...)
	r.wantCode(t, exitFail)
	table := strings.Join(strings.Fields(r.stdout), " ") // without the padding
	for _, want := range []string{
		"5 GET /v1/orders?limit=80 allow 200 allowed (list-orders) allow 200 allowed (list-orders) -> /v1/orders?limit=50 ",
		"6 GET /v1/orders?limit=500 allow 200 allowed (list-orders) -> /v1/orders?limit=100 allow 200 allowed (list-orders) -> /v1/orders?limit=50 ",
		"2 of 20 requests changed",
	} {
		if !strings.Contains(table, want) {
			t.Errorf("table does not contain %q:\n%s", want, r.stdout)
		}
	}
}

func TestReplayShadowModeForwardsEverything(t *testing.T) {
	data, err := os.ReadFile(fixtureConfig)
	if err != nil {
		t.Fatal(err)
	}
	shadow := filepath.Join(t.TempDir(), "shadow.json")
	if err := os.WriteFile(shadow, []byte(strings.Replace(string(data), `"enforce"`, `"shadow"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	r := apiguard(t, "", replayArgs(t, "--config", shadow, "--output", "json")...)
	r.wantCode(t, exitOK)
	var out runJSON
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatal(err)
	}
	if out.Mode != "shadow" || out.Summary.Denied != 0 || out.Summary.ShadowDenied == 0 {
		t.Errorf("summary = %+v in mode %s, want nothing denied and some shadow denials", out.Summary, out.Mode)
	}
	for _, res := range out.Requests {
		if res.Decision == policy.OutcomeShadowDeny && res.UpstreamPath == "" {
			t.Errorf("line %d: shadow denial not forwarded: %+v", res.Line, res)
		}
	}
	noKeys(t, fileKeys(t, fixtureKeys), r.stdout, r.stderr)
}

// TestReplayShippedDemo replays what make run shows: the shipped traffic
// against the shipped configuration, which together show every reason.
func TestReplayShippedDemo(t *testing.T) {
	keys := repoFile(t, "examples/demo-keys.txt")
	r := apiguard(t, "", "replay", "--wasm", wasmFile(t), "--config", repoFile(t, "examples/config.json"),
		"--keys", keys, "--requests", repoFile(t, "examples/traffic.jsonl"), "--output", "json")
	r.wantCode(t, exitOK)
	var out runJSON
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatal(err)
	}
	for _, reason := range policy.Reasons() {
		if reason == policy.ReasonKeyStoreUnavailable {
			continue // only with a key_store, which the inline demo has not
		}
		if out.Summary.ByReason[string(reason)] == 0 {
			t.Errorf("the demo traffic shows no %s decision", reason)
		}
	}
	noKeys(t, fileKeys(t, keys), r.stdout, r.stderr)
}

func TestReplayMalformedInput(t *testing.T) {
	for _, tc := range []struct {
		name    string
		traffic string
		want    string
	}{
		{"not JSON", "{\"path\": \"/a\"}\n{\"path\": \n", "line 2: not a request object"},
		{"unknown field", "# c\n\n{\"path\": \"/a\", \"heders\": {}}\n", `line 3: not a request object: json: unknown field "heders"`},
		{"no path", `{"method": "GET"}`, `line 1: "path" is required`},
		{"two objects", `{"path": "/a"} {"path": "/b"}`, "line 1: unexpected data after the JSON object"},
		{"bad time", "{\"path\": \"/a\"}\n{\"path\": \"/a\", \"at\": \"yesterday\"}", `line 2: "at": "yesterday" is neither`},
		{"bad client", `{"path": "/a", "client_ip": "10.0.0.300"}`, `line 1: "client_ip"`},
		{"bad method", `{"path": "/a", "method": "GE T"}`, `line 1: "method"`},
		{"bad header value", `{"path": "/a", "headers": {"x": 1}}`, `line 1: not a request object: header "x": want a string`},
		{"pseudo-header", `{"path": "/a", "headers": {":path": "/b"}}`, `line 1: "headers": ":path" is not allowed`},
		{"unknown key id", `{"path": "/a", "headers": {"x-api-key": "{{key:nobody}}"}}`, `line 1: "headers": x-api-key: placeholder {{key:nobody}}: no key "nobody"`},
		{"unterminated placeholder", `{"path": "/a?api_key={{key:alice-1"}`, `line 1: "path": unterminated placeholder`},
		{"array, not object", `["GET", "/a"]`, "line 1: not a request object"},
		{"no requests", "# only a comment\n", "no requests"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			traffic := filepath.Join(t.TempDir(), "traffic.jsonl")
			if err := os.WriteFile(traffic, []byte(tc.traffic), 0o644); err != nil {
				t.Fatal(err)
			}
			// The input is checked before the module is even read.
			r := apiguard(t, "", "replay", "--wasm", filepath.Join(t.TempDir(), "none.wasm"),
				"--config", fixtureConfig, "--keys", fixtureKeys, "--requests", traffic)
			r.wantCode(t, exitError)
			if !strings.Contains(r.stderr, traffic+": "+tc.want) {
				t.Errorf("stderr does not contain %q:\n%s", traffic+": "+tc.want, r.stderr)
			}
			noKeys(t, fileKeys(t, fixtureKeys), r.stdout, r.stderr)
		})
	}
}

func TestReplayErrors(t *testing.T) {
	badConfig := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(badConfig, []byte(`{"routes": [{"name": "x", "path": "/x", "pagination": "nope"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"config the filter refuses", replayArgs(t, "--config", badConfig),
			`the filter refused the configuration:` + "\n" + `  apiguard: invalid configuration: routes[0].pagination`},
		{"missing module", []string{"replay", "--wasm", filepath.Join(t.TempDir(), "none.wasm"),
			"--config", fixtureConfig, "--keys", fixtureKeys, "--requests", fixtureTraffic}, "run make build"},
		{"placeholders without keys", []string{"replay", "--wasm", wasmFile(t),
			"--config", fixtureConfig, "--requests", fixtureTraffic}, "needs a keys file (--keys)"},
		{"no config", []string{"replay", "--requests", fixtureTraffic}, "--config is required"},
		{"bad output", replayArgs(t, "--config", fixtureConfig, "--output", "yaml"), "--output must be table or json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := apiguard(t, "", tc.args...)
			r.wantCode(t, exitError)
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("stderr does not contain %q:\n%s", tc.want, r.stderr)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	r := apiguard(t, "", "help")
	r.wantCode(t, exitOK)
	for _, c := range commands {
		if got := strings.Contains(r.stdout, "  "+c.name+" "); got == c.hidden {
			t.Errorf("command list shows %s: %v, hidden: %v", c.name, got, c.hidden)
		}
		h := apiguard(t, "", c.name, "-h")
		h.wantCode(t, exitOK)
		if !strings.HasPrefix(h.stdout, "usage: apiguard "+c.name) {
			t.Errorf("%s -h:\n%s", c.name, h.stdout)
		}
		// Flags are listed as the usage line spells them: --name.
		_, flags, _ := strings.Cut(h.stdout, "\nFlags:\n")
		for line := range strings.Lines(flags) {
			if strings.HasPrefix(line, "  -") && !strings.HasPrefix(line, "  --") {
				t.Errorf("%s -h lists a flag with one dash: %q", c.name, line)
			}
		}
	}
	if h := apiguard(t, "", "help", "keygen"); !strings.Contains(h.stdout, "\n  --consumer string\n") {
		t.Errorf("help keygen does not list --consumer:\n%s", h.stdout)
	}
	apiguard(t, "", "frobnicate").wantCode(t, exitError)
	apiguard(t, "").wantCode(t, exitError)
}
