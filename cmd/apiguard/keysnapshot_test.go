package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// exampleSnapshot builds the key store example's snapshot from
// examples/key-store/consumers.json (edited by edit when not nil) with the
// demo signing key, into dir, and returns its path.
func exampleSnapshot(t *testing.T, dir string, edit func(doc map[string]any)) string {
	t.Helper()
	consumers := repoFile(t, "examples/key-store/consumers.json")
	if edit != nil {
		data, err := os.ReadFile(consumers)
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := json.Unmarshal(data, &doc); err != nil {
			t.Fatal(err)
		}
		edit(doc)
		b, _ := json.Marshal(doc)
		consumers = filepath.Join(dir, "consumers.json")
		if err := os.WriteFile(consumers, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	snap := filepath.Join(dir, "keys.snap")
	r := apiguard(t, "", "keys", "build", "--consumers", consumers,
		"--signing-key", repoFile(t, "examples/key-store/demo-signing-key.pem"), "--out", snap)
	r.wantCode(t, exitOK)
	return snap
}

// revoke sets "revoked" on the key keyID of a consumers document.
func revoke(keyID string) func(map[string]any) {
	return func(doc map[string]any) {
		for _, c := range doc["consumers"].([]any) {
			for _, k := range c.(map[string]any)["keys"].([]any) {
				if k := k.(map[string]any); k["id"] == keyID {
					k["revoked"] = true
				}
			}
		}
	}
}

// TestValidateKeySnapshot: the key store example validates without
// warnings with its snapshot; without it, the rate-limit policy only the
// snapshot's consumers name is reported unused, with a note saying why.
func TestValidateKeySnapshot(t *testing.T) {
	snap := exampleSnapshot(t, t.TempDir(), nil)
	cfg := repoFile(t, "examples/key-store/config.json")
	envoy := repoFile(t, "examples/key-store/envoy.yaml")

	r := apiguard(t, "", "validate", "--key-snapshot", snap, cfg, envoy)
	r.wantCode(t, exitOK)
	if strings.Contains(r.stdout, "warning:") || !strings.Contains(r.stdout, cfg+": ok") || !strings.Contains(r.stdout, envoy+": ok") {
		t.Errorf("with the snapshot:\n%s", r.stdout)
	}

	r = apiguard(t, "", "validate", cfg)
	r.wantCode(t, exitOK)
	for _, want := range []string{`rate_limits.demo: rate limit policy "demo" is not used`, "key_store: the consumers are in the key snapshot, which was not given"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("without the snapshot, no %q:\n%s", want, r.stdout)
		}
	}

	// A snapshot the configuration's public key does not verify.
	unsigned := filepath.Join(t.TempDir(), "unsigned.snap")
	apiguard(t, "", "keys", "build", "--unsigned", "--consumers", repoFile(t, "examples/key-store/consumers.json"), "--out", unsigned).wantCode(t, exitOK)
	r = apiguard(t, "", "validate", "--key-snapshot", unsigned, cfg)
	r.wantCode(t, exitFail)
	if !strings.Contains(r.stdout, "key_store: the key snapshot does not load against this configuration") {
		t.Errorf("an unsigned snapshot:\n%s", r.stdout)
	}

	// Not a snapshot at all.
	r = apiguard(t, "", "validate", "--key-snapshot", cfg, cfg)
	r.wantCode(t, exitError)
	if !strings.Contains(r.stderr, "is not a key snapshot") {
		t.Errorf("a configuration as --key-snapshot: %s", r.stderr)
	}
}

// TestReplayKeySnapshot: the compiled filter loads the example's snapshot
// and decides the demo traffic exactly as the inline configuration does
// (the baseline gate passes); a revoked key in the snapshot is a change the
// gate reports; without --key-snapshot, or with a snapshot the filter
// rejects, replay refuses to run.
func TestReplayKeySnapshot(t *testing.T) {
	wasm := wasmFile(t)
	cfg := repoFile(t, "examples/key-store/config.json")
	inline := repoFile(t, "examples/config.json")
	keys := repoFile(t, "examples/demo-keys.txt")
	traffic := repoFile(t, "examples/traffic.jsonl")
	snap := exampleSnapshot(t, t.TempDir(), nil)

	r := apiguard(t, "", "replay", "--wasm", wasm, "--config", cfg, "--key-snapshot", snap, "--keys", keys, "--requests", traffic, "--output", "json")
	r.wantCode(t, exitOK)
	var run struct {
		Requests []struct {
			Reason, Consumer string
			KeyID            string `json:"key_id"`
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &run); err != nil {
		t.Fatalf("%v:\n%s", err, r.stdout)
	}
	// The keys the filter found in the snapshot, with the reasons of their
	// requests.
	served := map[string][]string{}
	for _, res := range run.Requests {
		if res.KeyID != "" {
			served[res.KeyID] = append(served[res.KeyID], res.Reason)
		}
	}
	for id, reason := range map[string]string{"billing-2026": "allowed", "billing-2025": "revoked", "reports-2025": "insufficient_scope"} {
		if !slices.Contains(served[id], reason) {
			t.Errorf("no request with key %s was %s: keys from the snapshot decided as %v", id, reason, served)
		}
	}

	r = apiguard(t, "", "replay", "--wasm", wasm, "--config", cfg, "--key-snapshot", snap, "--baseline", inline, "--keys", keys, "--requests", traffic)
	r.wantCode(t, exitOK)
	if !strings.Contains(r.stdout, "Nothing changed") {
		t.Errorf("inline baseline against the key store:\n%s", r.stdout)
	}

	revoked := exampleSnapshot(t, t.TempDir(), revoke("billing-2026"))
	r = apiguard(t, "", "replay", "--wasm", wasm, "--config", cfg, "--key-snapshot", revoked, "--baseline", inline, "--keys", keys, "--requests", traffic)
	r.wantCode(t, exitFail)
	if !strings.Contains(r.stdout, "revoked") || !strings.Contains(r.stdout, "allowed") {
		t.Errorf("a key revoked in the snapshot is not reported as a change:\n%s", r.stdout)
	}

	r = apiguard(t, "", "replay", "--wasm", wasm, "--config", cfg, "--keys", keys, "--requests", traffic)
	r.wantCode(t, exitError)
	if !strings.Contains(r.stderr, "--key-snapshot") {
		t.Errorf("without --key-snapshot: %s", r.stderr)
	}

	unsigned := filepath.Join(t.TempDir(), "unsigned.snap")
	apiguard(t, "", "keys", "build", "--unsigned", "--consumers", repoFile(t, "examples/key-store/consumers.json"), "--out", unsigned).wantCode(t, exitOK)
	r = apiguard(t, "", "replay", "--wasm", wasm, "--config", cfg, "--key-snapshot", unsigned, "--keys", keys, "--requests", traffic)
	r.wantCode(t, exitError)
	if !strings.Contains(r.stderr, "rejected the key snapshot") || !strings.Contains(r.stderr, "(unsigned)") {
		t.Errorf("an unsigned snapshot: %s", r.stderr)
	}

	r = apiguard(t, "", "replay", "--wasm", wasm, "--config", inline, "--key-snapshot", snap, "--keys", keys, "--requests", traffic)
	r.wantCode(t, exitError)
	if !strings.Contains(r.stderr, "would not be used") {
		t.Errorf("a snapshot without a key_store: %s", r.stderr)
	}
}
