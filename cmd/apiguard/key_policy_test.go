package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestKeygenWithKeyPolicy: keygen --config sets the window from
// key_policy.max_lifetime and refuses a longer one.
func TestKeygenWithKeyPolicy(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "config.json")
	os.WriteFile(config, []byte(`{"key_policy": {"max_lifetime": "90d"}}`), 0o644)
	r := apiguard(t, "", "keygen", "--consumer", "billing", "--config", config, "--not-before", "2026-01-01T00:00:00Z", "--json")
	r.wantCode(t, exitOK)
	var out keygenOutput
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatal(err)
	}
	if out.Entry.NotBefore != "2026-01-01T00:00:00Z" || out.Entry.NotAfter != "2026-04-01T00:00:00Z" {
		t.Errorf("window = %s .. %s, want 2026-01-01 .. 2026-04-01 (90 days)", out.Entry.NotBefore, out.Entry.NotAfter)
	}
	before := time.Now().Add(-time.Minute)
	r = apiguard(t, "", "keygen", "--consumer", "billing", "--config", config, "--json")
	r.wantCode(t, exitOK)
	json.Unmarshal([]byte(r.stdout), &out)
	nb, err1 := time.Parse(time.RFC3339, out.Entry.NotBefore)
	na, err2 := time.Parse(time.RFC3339, out.Entry.NotAfter)
	if err1 != nil || err2 != nil || nb.Before(before) || na.Sub(nb) != 90*24*time.Hour {
		t.Errorf("default window = %q .. %q, want now .. now+90d", out.Entry.NotBefore, out.Entry.NotAfter)
	}
	r = apiguard(t, "", "keygen", "--consumer", "billing", "--config", config, "--not-before", "2026-01-01T00:00:00Z", "--not-after", "2027-01-01T00:00:00Z")
	r.wantCode(t, exitError)
	if !strings.Contains(r.stderr, "longer than key_policy.max_lifetime (90d)") {
		t.Errorf("stderr %q does not name the policy", r.stderr)
	}
	if strings.Contains(r.stdout, "agk_") {
		t.Errorf("a key was printed although refused: %q", r.stdout)
	}
}

// TestKeysBuildAndValidateWithKeyPolicy: keys build --config refuses a
// snapshot with a key that breaks max_lifetime; validate lists the keys
// that expire within expiry_warning.
func TestKeysBuildAndValidateWithKeyPolicy(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "signing.pem")
	r := apiguard(t, "", "keys", "signing-key", "--out", keyFile)
	r.wantCode(t, exitOK)
	pub := strings.TrimSpace(r.stdout)
	_, config := keyStoreFiles(t, dir, pub, func(cfg map[string]any) {
		cfg["key_policy"] = map[string]any{"max_lifetime": "90d", "expiry_warning": "14d"}
	})
	now := time.Now().UTC().Truncate(time.Second)
	ts := func(d time.Duration) string { return now.Add(d).Format(time.RFC3339) }
	day := 24 * time.Hour
	consumers := func(keys ...map[string]any) string {
		b, _ := json.Marshal(map[string]any{"consumers": []any{map[string]any{"id": "billing", "scopes": []any{"orders:read"}, "keys": keys}}})
		p := filepath.Join(dir, "consumers.json")
		os.WriteFile(p, b, 0o644)
		return p
	}
	sum := func(i int) string { return strings.Repeat("0", 63) + string(rune('1'+i)) }
	snap := filepath.Join(dir, "keys.snap")

	bad := consumers(map[string]any{"id": "forever", "sha256": sum(0)},
		map[string]any{"id": "old", "sha256": sum(1), "revoked": true})
	r = apiguard(t, "", "keys", "build", "--consumers", bad, "--signing-key", keyFile, "--out", snap, "--config", config)
	r.wantCode(t, exitFail)
	if !strings.Contains(r.stderr, "key forever of consumer billing has no not_after") || strings.Contains(r.stderr, "key old") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	if _, err := os.Stat(snap); err == nil {
		t.Error("a snapshot was written")
	}

	good := consumers(
		map[string]any{"id": "soon", "sha256": sum(0), "not_before": ts(-80 * day), "not_after": ts(5 * day)},
		map[string]any{"id": "later", "sha256": sum(1), "not_before": ts(-10 * day), "not_after": ts(60 * day)})
	r = apiguard(t, "", "keys", "build", "--consumers", good, "--signing-key", keyFile, "--out", snap, "--config", config)
	r.wantCode(t, exitOK)
	r = apiguard(t, "", "validate", "--config", config, snap)
	r.wantCode(t, exitOK)
	if !strings.Contains(r.stdout, "warning: key soon of consumer billing expires at "+ts(5*day)+", within key_policy.expiry_warning (14d)") ||
		strings.Contains(r.stdout, "key later") {
		t.Errorf("validate of the snapshot:\n%s", r.stdout)
	}
	r = apiguard(t, "", "validate", "--key-snapshot", snap, config)
	r.wantCode(t, exitOK)
	if !strings.Contains(r.stdout, "key_policy.expiry_warning: key soon of consumer billing expires at "+ts(5*day)) {
		t.Errorf("validate of the configuration with --key-snapshot:\n%s", r.stdout)
	}
}
