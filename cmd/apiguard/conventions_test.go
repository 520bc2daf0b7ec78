package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// decodeStrictJSON decodes s into v, refusing fields v does not declare, so
// that the documented schema and the output cannot drift apart.
func decodeStrictJSON(t *testing.T, s string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("output does not decode into %T: %v\n%s", v, err, s)
	}
}

// warningConfig is a valid plugin configuration with one warning (a
// consumer without keys) at line 3.
const warningConfig = `{
  "consumers": [{"id": "c", "scopes": ["a"], "keys": [{"id": "k", "sha256": "` + "abababababababababababababababababababababababababababababababab" + `"}]},
                {"id": "empty", "scopes": ["a"]}],
  "routes": [{"name": "r", "path": "/r", "scopes": ["a"]}]
}`

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestFlagsAfterArguments: every command takes its flags before or after
// its arguments, with the same result; "--" ends the flags.
func TestFlagsAfterArguments(t *testing.T) {
	cfg := writeTemp(t, "warn.json", warningConfig)
	key := strings.TrimSpace(apiguard(t, "", "keygen", "--consumer", "x", "--prefix", "zz_").stdout)
	for _, tc := range []struct {
		name          string
		before, after []string
		code          int
	}{
		{"validate", []string{"validate", "--strict", cfg}, []string{"validate", cfg, "--strict"}, exitFail},
		{"validate -o", []string{"validate", "-o", "json", cfg}, []string{"validate", cfg, "-o", "json"}, exitOK},
		{"verify-format", []string{"verify-format", "--prefix", "zz_", key}, []string{"verify-format", key, "--prefix", "zz_"}, exitOK},
		{"ratelimit-config", []string{"ratelimit-config", "--domain", "d", "--config", cfg}, []string{"ratelimit-config", "--config", cfg, "--domain", "d"}, exitOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := apiguard(t, "", tc.before...), apiguard(t, "", tc.after...)
			a.wantCode(t, tc.code)
			b.wantCode(t, tc.code)
			if a.stdout != b.stdout {
				t.Errorf("flags after the argument change the output:\nbefore:\n%s\nafter:\n%s", a.stdout, b.stdout)
			}
		})
	}
	// "--" ends the flags: a file named like a flag is a file.
	r := apiguard(t, "", "validate", "--", "--strict")
	r.wantCode(t, exitError)
	if !strings.Contains(r.stderr, "--strict: no such file") {
		t.Errorf("after --, --strict is not a file argument:\n%s", r.stderr)
	}
}

// TestKeysInspectFlagsAfterFile: keys inspect FILE --public-key K and -o
// json in any order.
func TestKeysInspectFlagsAfterFile(t *testing.T) {
	dir := t.TempDir()
	consumers, _ := keyStoreFiles(t, dir, "", nil)
	snap := filepath.Join(dir, "k.snap")
	apiguard(t, "", "keys", "build", "--consumers", consumers, "--unsigned", "--out", snap).wantCode(t, exitOK)
	a := apiguard(t, "", "keys", "inspect", "-o", "json", snap)
	b := apiguard(t, "", "keys", "inspect", snap, "-o", "json")
	a.wantCode(t, exitOK)
	b.wantCode(t, exitOK)
	if a.stdout != b.stdout {
		t.Errorf("outputs differ:\n%s\n%s", a.stdout, b.stdout)
	}
}

func TestVersionFlag(t *testing.T) {
	v := apiguard(t, "", "version")
	f := apiguard(t, "", "--version")
	f.wantCode(t, exitOK)
	if f.stdout != v.stdout || f.stdout == "" {
		t.Errorf("--version printed %q, version %q", f.stdout, v.stdout)
	}
	apiguard(t, "", "--version", "x").wantCode(t, exitError)
}

// TestDidYouMean: a misspelt command, subcommand or flag gets a suggestion.
func TestDidYouMean(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"valdate", "x"}, `unknown command "valdate"; did you mean "validate"?`},
		{[]string{"help", "replya"}, `did you mean "replay"?`},
		{[]string{"keys", "biuld"}, `unknown subcommand "biuld"; did you mean "build"?`},
		{[]string{"validate", "--strct", "x.json"}, "unknown flag --strct; did you mean --strict?"},
		{[]string{"validate", "x.json", "--wasm-pth", "y"}, "unknown flag --wasm-pth; did you mean --wasm-path?"},
		{[]string{"keys", "build", "--consumer", "c"}, "unknown flag --consumer; did you mean --consumers?"},
		{[]string{"replay", "--requets", "r"}, "did you mean --requests?"},
		{[]string{"keygen", "--not-afer", "x"}, "did you mean --not-after?"},
		{[]string{"--versoin"}, "unknown flag --versoin; did you mean --version?"},
	} {
		r := apiguard(t, "", tc.args...)
		r.wantCode(t, exitError)
		if !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%q: stderr lacks %q:\n%s", tc.args, tc.want, r.stderr)
		}
	}
	// Nothing close: no suggestion.
	r := apiguard(t, "", "validate", "--zzzzzzzz", "x")
	if !strings.Contains(r.stderr, "unknown flag --zzzzzzzz\n") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
}

// TestSubcommandHelp: keys build -h prints keys build's page alone, and so
// does help keys build.
func TestSubcommandHelp(t *testing.T) {
	for _, args := range [][]string{{"keys", "build", "-h"}, {"keys", "build", "--help"}, {"help", "keys", "build"}} {
		r := apiguard(t, "", args...)
		r.wantCode(t, exitOK)
		if !strings.HasPrefix(r.stdout, "usage: apiguard keys build ") {
			t.Errorf("%q:\n%s", args, r.stdout)
		}
		for _, other := range []string{"keys inspect", "signing-key --out", "--public-key"} {
			if strings.Contains(r.stdout, other) {
				t.Errorf("%q shows %q:\n%s", args, other, r.stdout)
			}
		}
		if !strings.Contains(r.stdout, "\n  --consumers string\n") {
			t.Errorf("%q does not list --consumers:\n%s", args, r.stdout)
		}
	}
	r := apiguard(t, "", "keys", "-h")
	r.wantCode(t, exitOK)
	for _, sub := range []string{"keys signing-key", "keys build", "keys inspect"} {
		if !strings.Contains(r.stdout, sub) {
			t.Errorf("keys -h does not list %s:\n%s", sub, r.stdout)
		}
	}
}

// TestValidateJSONOutput: -o json is one object of the documented schema
// (validateJSON, docs/cli.md) with every problem, its severity,
// line, column and path.
func TestValidateJSONOutput(t *testing.T) {
	warn := writeTemp(t, "warn.json", warningConfig)
	broken := writeTemp(t, "broken.json", "{\n  \"routes\": [\n    {\"name\": \"r\",}\n  ]\n}\n")
	r := apiguard(t, "", "validate", "-o", "json", warn, broken)
	r.wantCode(t, exitFail)
	var out validateJSON
	decodeStrictJSON(t, r.stdout, &out)
	if out.Valid || out.Strict || out.Errors != 1 || out.Warnings != 1 || len(out.Files) != 2 {
		t.Fatalf("summary: %+v", out)
	}
	w, b := out.Files[0], out.Files[1]
	if !w.Valid || w.File != warn || len(w.Documents) != 1 || w.Documents[0].Kind != "apiguard plugin configuration" {
		t.Errorf("first file: %+v", w)
	}
	if got := w.Documents[0].Problems; len(got) != 1 || got[0].Severity != "warning" || got[0].Line != 3 ||
		got[0].Column != 0 || got[0].Path != "consumers[1].keys" || !strings.Contains(got[0].Message, `"empty" has no keys`) {
		t.Errorf("warning: %+v", got)
	}
	if b.Valid || len(b.Documents) != 1 {
		t.Fatalf("second file: %+v", b)
	}
	p := b.Documents[0].Problems
	if len(p) != 1 || p[0].Severity != "error" || p[0].Line != 3 || p[0].Column != 18 || !strings.HasPrefix(p[0].Message, "not valid JSON: ") {
		t.Errorf("syntax error: %+v", p)
	}
	// Text output: FILE:LINE:COL.
	r = apiguard(t, "", "validate", broken)
	if !strings.Contains(r.stdout, broken+":3:18: not valid JSON: invalid character '}'") {
		t.Errorf("text output:\n%s", r.stdout)
	}
	apiguard(t, "", "validate", "-o", "yaml", warn).wantCode(t, exitError)
}

// TestValidateStrict: warnings fail the run with --strict only.
func TestValidateStrict(t *testing.T) {
	warn := writeTemp(t, "warn.json", warningConfig)
	apiguard(t, "", "validate", warn).wantCode(t, exitOK)
	r := apiguard(t, "", "validate", "--strict", warn)
	r.wantCode(t, exitFail)
	if !strings.Contains(r.stdout, "--strict: 1 warning(s) fail the run") {
		t.Errorf("stdout:\n%s", r.stdout)
	}
	r = apiguard(t, "", "validate", "--strict", "-o", "json", warn)
	r.wantCode(t, exitFail)
	var out validateJSON
	decodeStrictJSON(t, r.stdout, &out)
	if out.Valid || !out.Strict || out.Warnings != 1 || out.Errors != 0 {
		t.Errorf("%+v", out)
	}
	// A file without warnings passes --strict.
	clean := strings.Replace(warningConfig, `{"id": "empty", "scopes": ["a"]}`, `{"id": "empty", "scopes": ["a"], "keys": [{"id": "k2", "sha256": "`+strings.Repeat("cd", 32)+`"}]}`, 1)
	apiguard(t, "", "validate", "--strict", writeTemp(t, "clean.json", clean)).wantCode(t, exitOK)
}

// TestJSONNeverYAML: a .json file that is not JSON is reported as JSON,
// with a line and column, never as YAML.
func TestJSONNeverYAML(t *testing.T) {
	for _, content := range []string{"\xef\xbb\xbf{}", "routes: [\n", "not json at all", "{\"a\": [[[[[[[[[[1]]]]]]]]]]"} {
		path := writeTemp(t, "c.json", content)
		r := apiguard(t, "", "validate", path)
		if strings.Contains(r.stdout, "not valid YAML") || !strings.Contains(r.stdout, "not valid JSON") {
			t.Errorf("%q reported as YAML:\n%s", content, r.stdout)
		}
	}
	path := writeTemp(t, "c.json", "routes: [\n")
	r := apiguard(t, "", "validate", path)
	r.wantCode(t, exitFail)
	if !strings.Contains(r.stdout, path+":1:1: not valid JSON: invalid character 'r'") {
		t.Errorf("stdout:\n%s", r.stdout)
	}
}

// TestKeysInspectJSON: -o json has the documented schema and says whether
// the signature verifies.
func TestKeysInspectJSON(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "signing.pem")
	pub := strings.TrimSpace(apiguard(t, "", "keys", "signing-key", "--out", keyFile).stdout)
	consumers, _ := keyStoreFiles(t, dir, pub, nil)
	snap := filepath.Join(dir, "k.snap")
	apiguard(t, "", "keys", "build", "--consumers", consumers, "--signing-key", keyFile, "--out", snap, "--generation", "42").wantCode(t, exitOK)
	data, _ := os.ReadFile(snap)

	r := apiguard(t, "", "keys", "inspect", snap, "--public-key", pub, "-o", "json")
	r.wantCode(t, exitOK)
	var out inspectJSON
	decodeStrictJSON(t, r.stdout, &out)
	if !out.Valid || out.Generation != 42 || out.Signature != sigVerified || !out.Signed || !out.ContentMatches ||
		out.SizeBytes != len(data) || !strings.HasPrefix(out.ContentDigest, "sha256:") || out.Keys == 0 || out.Consumers == 0 {
		t.Errorf("%+v", out)
	}
	if _, err := time.Parse(time.RFC3339Nano, out.Created); err != nil {
		t.Errorf("created %q: %v", out.Created, err)
	}
	// Without the key: not checked; a corrupt body: invalid, exit 1.
	r = apiguard(t, "", "keys", "inspect", "-o", "json", snap)
	decodeStrictJSON(t, r.stdout, &out)
	if out.Signature != sigNotChecked || !out.Valid {
		t.Errorf("%+v", out)
	}
	bad := bytes.Clone(data)
	bad[len(bad)-1] ^= 1
	corrupt := writeTemp(t, "bad.snap", string(bad))
	r = apiguard(t, "", "keys", "inspect", "-o", "json", corrupt)
	r.wantCode(t, exitFail)
	out = inspectJSON{}
	decodeStrictJSON(t, r.stdout, &out)
	if out.Valid || out.ContentMatches {
		t.Errorf("%+v", out)
	}
	r = apiguard(t, "", "keys", "inspect", "-o", "json", writeTemp(t, "x.snap", "nonsense"))
	r.wantCode(t, exitFail)
	out = inspectJSON{}
	decodeStrictJSON(t, r.stdout, &out)
	if out.Valid || out.Error == "" {
		t.Errorf("%+v", out)
	}
}

// TestKeygenRefusesExpired: a --not-after in the past needs --allow-expired.
func TestKeygenRefusesExpired(t *testing.T) {
	r := apiguard(t, "", "keygen", "--consumer", "c", "--not-after", "2020-01-01T00:00:00Z")
	r.wantCode(t, exitError)
	if r.stdout != "" || !strings.Contains(r.stderr, "--not-after 2020-01-01T00:00:00Z has already passed") ||
		!strings.Contains(r.stderr, "--allow-expired") {
		t.Errorf("stdout %q stderr:\n%s", r.stdout, r.stderr)
	}
	r = apiguard(t, "", "keygen", "--consumer", "c", "--not-after", "2020-01-01T00:00:00Z", "--allow-expired", "--json")
	r.wantCode(t, exitOK)
	var o keygenOutput
	decodeStrictJSON(t, r.stdout, &o)
	if o.Entry.NotAfter != "2020-01-01T00:00:00Z" || o.Key == "" {
		t.Errorf("%+v", o)
	}
	future := time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339)
	apiguard(t, "", "keygen", "--consumer", "c", "--not-after", future).wantCode(t, exitOK)
}

// TestTimeFlagsShowAnExample: a bad time gets an example, never Go's
// layout string.
func TestTimeFlagsShowAnExample(t *testing.T) {
	for _, args := range [][]string{
		{"keygen", "--consumer", "c", "--not-after", "tomorrow"},
		{"keygen", "--consumer", "c", "--not-before", "2027-13-01"},
		{"replay", "--config", repoFile(t, "examples/config.json"), "--requests", repoFile(t, "examples/traffic.jsonl"),
			"--wasm", "unused.wasm", "--start", "yesterday"},
	} {
		r := apiguard(t, "", args...)
		r.wantCode(t, exitError)
		if !strings.Contains(r.stderr, timeExample) || strings.Contains(r.stderr, "2006") {
			t.Errorf("%q: stderr:\n%s", args, r.stderr)
		}
	}
}

// TestSnapshotKeyValidityWarnings: keys build and validate --config warn
// about keys that have expired or are not valid yet, as validate does for
// inline keys; validate --strict fails on them.
func TestSnapshotKeyValidityWarnings(t *testing.T) {
	dir := t.TempDir()
	consumers, config := keyStoreFiles(t, dir, "", func(cfg map[string]any) {
		ks := cfg["key_store"].(map[string]any)
		delete(ks, "public_key")
		ks["allow_unsigned"] = true
	})
	// Give the first consumer an expired key and a key valid from 2099.
	var doc map[string]any
	data, _ := os.ReadFile(consumers)
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	c0 := doc["consumers"].([]any)[0].(map[string]any)
	c0["keys"] = append(c0["keys"].([]any),
		map[string]any{"id": "old-key", "sha256": strings.Repeat("1", 64), "not_after": "2020-01-01T00:00:00Z"},
		map[string]any{"id": "new-key", "sha256": strings.Repeat("2", 64), "not_before": "2099-01-01T00:00:00Z"})
	data, _ = json.Marshal(doc)
	if err := os.WriteFile(consumers, data, 0o644); err != nil {
		t.Fatal(err)
	}
	snap := filepath.Join(dir, "k.snap")
	r := apiguard(t, "", "keys", "build", "--consumers", consumers, "--unsigned", "--out", snap)
	r.wantCode(t, exitOK)
	n := len(c0["keys"].([]any))
	for _, want := range []string{
		consumers + `: warning: consumers[0].keys[` + itoa(n-2) + `]: key "old-key" of consumer "` + c0["id"].(string) + `" has already expired (not_after 2020-01-01T00:00:00Z)`,
		consumers + `: warning: consumers[0].keys[` + itoa(n-1) + `]: key "new-key" of consumer "` + c0["id"].(string) + `" is not valid yet (not_before 2099-01-01T00:00:00Z)`,
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("keys build stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	r = apiguard(t, "", "validate", "--config", config, snap)
	r.wantCode(t, exitOK)
	for _, want := range []string{`warning: key "old-key"`, `warning: key "new-key"`, "not valid yet"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("validate stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	r = apiguard(t, "", "validate", snap, "--config", config, "--strict", "-o", "json")
	r.wantCode(t, exitFail)
	var out validateJSON
	decodeStrictJSON(t, r.stdout, &out)
	// (examples/config.json's consumers may hold expired keys of their own.)
	if out.Warnings < 2 || out.Errors != 0 || out.Valid || out.Files[0].Documents[0].Kind != "key snapshot" {
		t.Errorf("%+v", out)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestReplayJSONFlagsAfter: replay -o json, given after the other flags,
// prints the documented schema (runJSON), decoded strictly.
func TestReplayJSONFlagsAfter(t *testing.T) {
	r := apiguard(t, "", "replay", "--config", repoFile(t, "examples/config.json"),
		"--requests", repoFile(t, "examples/traffic.jsonl"), "--keys", repoFile(t, "examples/demo-keys.txt"),
		"--wasm", wasmFile(t), "-o", "json")
	r.wantCode(t, exitOK)
	var out runJSON
	decodeStrictJSON(t, r.stdout, &out)
	if out.Mode != "enforce" || len(out.Requests) == 0 || out.Summary.Total != len(out.Requests) ||
		out.Summary.Allowed+out.Summary.Denied+out.Summary.ShadowDenied != out.Summary.Total {
		t.Errorf("%+v", out.Summary)
	}
}

// TestFilterReportsVersionFile: the compiled filter (make build) announces
// the version of the file VERSION at start, the version of its
// apiguard.build.<version> gauge.
func TestFilterReportsVersionFile(t *testing.T) {
	data, err := os.ReadFile(repoFile(t, "VERSION"))
	if err != nil {
		t.Fatal(err)
	}
	version := strings.TrimSpace(string(data))
	requests := writeTemp(t, "one.jsonl", `{"path": "/healthz"}`+"\n")
	r := apiguard(t, "", "replay", "--config", repoFile(t, "examples/config.json"), "--requests", requests,
		"--wasm", wasmFile(t), "--filter-logs")
	r.wantCode(t, exitOK)
	if !strings.Contains(r.stderr, "apiguard: build version="+version+" commit=") {
		t.Errorf("the filter does not announce version %s (VERSION); make build sets it:\n%s", version, r.stderr)
	}
}
