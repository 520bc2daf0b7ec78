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
	"github.com/apiguard/apiguard/policy/keymat"
)

// snippetOf returns the configuration entry keygen printed on stderr.
func snippetOf(t *testing.T, stderr string) keyEntry {
	t.Helper()
	for line := range strings.Lines(stderr) {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "{") {
			var e keyEntry
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				t.Fatalf("snippet %q is not JSON: %v", line, err)
			}
			return e
		}
	}
	t.Fatalf("no configuration entry on stderr:\n%s", stderr)
	return keyEntry{}
}

func TestKeygenPrintsKeyOnceAndMatchingEntry(t *testing.T) {
	r := apiguard(t, "", "keygen", "--prefix", "agk_", "--consumer", "billing", "--id", "billing-2027",
		"--not-before", "2026-01-01T00:00:00Z", "--not-after", "2027-01-01T01:00:00+01:00")
	r.wantCode(t, exitOK)
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != 1 {
		t.Fatalf("stdout has %d lines, want only the key:\n%s", len(lines), r.stdout)
	}
	key := lines[0]
	if err := keymat.CheckFormat("agk_", key); err != nil {
		t.Fatalf("generated key is not well-formed: %v", err)
	}
	e := snippetOf(t, r.stderr)
	want := keyEntry{ID: "billing-2027", SHA256: keymat.Hash(key),
		NotBefore: "2026-01-01T00:00:00Z", NotAfter: "2027-01-01T00:00:00Z"}
	if e != want {
		t.Errorf("entry = %+v, want %+v", e, want)
	}
	noKeys(t, []string{key}, r.stderr)

	// apiguard hash agrees with the entry.
	h := apiguard(t, key+"\n", "hash")
	h.wantCode(t, exitOK)
	if got := strings.TrimSpace(h.stdout); got != e.SHA256 {
		t.Errorf("apiguard hash = %s, entry has %s", got, e.SHA256)
	}

	// The entry compiles into a configuration that accepts the key.
	cfg := `{"consumers": [{"id": "billing", "keys": [` + mustJSON(t, e) + `]}],
		"routes": [{"name": "all", "path": "/*"}]}`
	if _, err := policy.Compile([]byte(cfg)); err != nil {
		t.Errorf("the entry does not compile: %v", err)
	}
}

func TestKeygenDefaultsAndUniqueness(t *testing.T) {
	a := apiguard(t, "", "keygen", "--consumer", "reports")
	b := apiguard(t, "", "keygen", "--consumer", "reports")
	a.wantCode(t, exitOK)
	b.wantCode(t, exitOK)
	if a.stdout == b.stdout {
		t.Fatal("two runs generated the same key")
	}
	key := strings.TrimSpace(a.stdout)
	if !strings.HasPrefix(key, "agk_") {
		t.Errorf("default prefix: key does not start with agk_")
	}
	e := snippetOf(t, a.stderr)
	if want := "reports-" + keymat.Hash(key)[:8]; e.ID != want {
		t.Errorf("default id = %q, want %q", e.ID, want)
	}
	if e.NotBefore != "" || e.NotAfter != "" {
		t.Errorf("validity set without flags: %+v", e)
	}
}

func TestKeygenJSON(t *testing.T) {
	r := apiguard(t, "", "keygen", "--consumer", "billing", "--json", "--prefix", "tst_")
	r.wantCode(t, exitOK)
	var o keygenOutput
	if err := json.Unmarshal([]byte(r.stdout), &o); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, r.stdout)
	}
	if strings.Count(strings.TrimSpace(r.stdout), "\n") != 0 {
		t.Errorf("--json output is not a single line:\n%s", r.stdout)
	}
	if err := keymat.CheckFormat("tst_", o.Key); err != nil {
		t.Errorf("key: %v", err)
	}
	if o.Consumer != "billing" || o.Entry.SHA256 != keymat.Hash(o.Key) {
		t.Errorf("output = %+v", o)
	}
	noKeys(t, []string{o.Key}, r.stderr)
}

func TestKeygenOutFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "billing.key")
	r := apiguard(t, "", "keygen", "--consumer", "billing", "--out", path)
	r.wantCode(t, exitOK)
	if r.stdout != "" {
		t.Errorf("stdout = %q, want nothing when the key goes to --out", r.stdout)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("key file mode = %o, want 600", perm)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	key := strings.TrimSuffix(string(data), "\n")
	if err := keymat.CheckFormat("agk_", key); err != nil {
		t.Fatalf("key file holds no well-formed key: %v", err)
	}
	if e := snippetOf(t, r.stderr); e.SHA256 != keymat.Hash(key) {
		t.Errorf("entry hash %s does not match the key file", e.SHA256)
	}
	noKeys(t, []string{key}, r.stderr)

	// An existing file is never overwritten.
	again := apiguard(t, "", "keygen", "--consumer", "billing", "--out", path, "--json")
	again.wantCode(t, exitError)
	if after, _ := os.ReadFile(path); string(after) != string(data) {
		t.Error("an existing key file was overwritten")
	}
}

func TestKeygenUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no consumer", nil, "--consumer is required"},
		{"bad not-after", []string{"--consumer", "a", "--not-after", "2027-01-01"}, "--not-after"},
		{"bad not-before", []string{"--consumer", "a", "--not-before", "soon"}, "--not-before"},
		{"empty validity", []string{"--consumer", "a", "--not-before", "2027-01-01T00:00:00Z", "--not-after", "2026-01-01T00:00:00Z"}, "later than"},
		{"bad prefix", []string{"--consumer", "a", "--prefix", "a b"}, "--prefix"},
		{"unknown flag", []string{"--consumer", "a", "--bogus"}, "bogus"},
		{"empty prefix", []string{"--consumer", "a", "--prefix", ""}, "--prefix: must not be empty"},
		{"consumer id with a space", []string{"--consumer", "a b"}, "--consumer: the configuration would refuse it"},
		{"key id too long", []string{"--consumer", "a", "--id", strings.Repeat("k", 257)}, "--id: the configuration would refuse it"},
		{"key id not ASCII", []string{"--consumer", "a", "--id", "clé"}, "--id: the configuration would refuse it"},
		{"stray argument", []string{"--consumer", "a", "extra"}, "unexpected arguments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := apiguard(t, "", append([]string{"keygen"}, tc.args...)...)
			r.wantCode(t, exitError)
			if r.stdout != "" {
				t.Errorf("a failed keygen printed on stdout: %q", r.stdout)
			}
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("stderr does not mention %q:\n%s", tc.want, r.stderr)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestKeygenKeysFile: --keys-file appends ID<TAB>KEY lines that replay
// reads back, creates the file 0600, and refuses an id already there.
func TestKeygenKeysFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.txt")
	if err := os.WriteFile(path, []byte("# demo keys\nold-1\tagk_x"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := apiguard(t, "", "keygen", "--consumer", "billing", "--id", "billing-2027", "--keys-file", path)
	r.wantCode(t, exitOK)
	key := strings.TrimSpace(r.stdout)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := "# demo keys\nold-1\tagk_x\nbilling-2027\t" + key + "\n"; string(data) != want {
		t.Errorf("keys file:\n%q\nwant\n%q", data, want)
	}
	keys, err := replay.LoadKeys(strings.NewReader(string(data)))
	if err != nil || !slices.Contains(keys.IDs(), "billing-2027") {
		t.Errorf("replay cannot read the keys file back: %v %v", keys.IDs(), err)
	}
	noKeys(t, []string{key}, r.stderr)

	again := apiguard(t, "", "keygen", "--consumer", "billing", "--id", "billing-2027", "--keys-file", path)
	again.wantCode(t, exitError)
	if !strings.Contains(again.stderr, "already holds key id") || again.stdout != "" {
		t.Errorf("a duplicate id was accepted: stdout %q stderr %q", again.stdout, again.stderr)
	}

	fresh := filepath.Join(t.TempDir(), "new.txt")
	apiguard(t, "", "keygen", "--consumer", "c", "--keys-file", fresh).wantCode(t, exitOK)
	if fi, err := os.Stat(fresh); err != nil {
		t.Error(err)
	} else if fi.Mode().Perm() != 0o600 {
		t.Errorf("new keys file has mode %v; want 0600", fi.Mode().Perm())
	}
	braces := apiguard(t, "", "keygen", "--consumer", "c", "--id", "c{1}", "--keys-file", fresh)
	braces.wantCode(t, exitError)
}
