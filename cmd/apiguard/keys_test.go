package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/policy/keysnap"
)

// keyStoreFiles writes, into dir, the consumers of examples/config.json as a
// consumers file, and the configuration with a key_store whose public key
// is pub instead of them (edit changes it first when not nil).
func keyStoreFiles(t *testing.T, dir, pub string, edit func(map[string]any)) (consumers, config string) {
	t.Helper()
	data, err := os.ReadFile(repoFile(t, "examples/config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	doc, _ := json.Marshal(map[string]any{"consumers": cfg["consumers"]})
	delete(cfg, "consumers")
	cfg["key_store"] = map[string]any{"cluster": "apiguard-keys", "path": "/keys.snap", "public_key": pub}
	if edit != nil {
		edit(cfg)
	}
	b, _ := json.Marshal(cfg)
	consumers, config = filepath.Join(dir, "consumers.json"), filepath.Join(dir, "config.json")
	if err := os.WriteFile(consumers, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(config, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return consumers, config
}

func TestKeysSigningKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "signing.pem")
	r := apiguard(t, "", "keys", "signing-key", "--out", path)
	r.wantCode(t, exitOK)
	pub, err := base64.StdEncoding.DecodeString(strings.TrimSpace(r.stdout))
	if err != nil || len(pub) != 32 {
		t.Fatalf("stdout %q is not a base64 Ed25519 public key", r.stdout)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v", err, fi.Mode())
	}
	before, _ := os.ReadFile(path)
	priv, err := readSigningKey(path)
	if err != nil || !bytes.Equal(priv.Public().(ed25519.PublicKey), pub) {
		t.Fatalf("the key file does not hold the private key of the printed public key: %v", err)
	}
	// Never overwritten.
	r = apiguard(t, "", "keys", "signing-key", "--out", path)
	r.wantCode(t, exitError)
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Fatal("an existing key file was overwritten")
	}
	if strings.Contains(r.stdout+r.stderr, "PRIVATE") {
		t.Fatal("the private key was printed")
	}
}

func TestKeysBuildInspectValidate(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "signing.pem")
	r := apiguard(t, "", "keys", "signing-key", "--out", keyFile)
	r.wantCode(t, exitOK)
	pub := strings.TrimSpace(r.stdout)
	consumers, config := keyStoreFiles(t, dir, pub, nil)
	snap := filepath.Join(dir, "keys.snap")

	r = apiguard(t, "", "keys", "build", "--consumers", consumers, "--signing-key", keyFile, "--out", snap, "--generation", "42")
	r.wantCode(t, exitOK)
	if !strings.Contains(r.stdout, "generation 42, 2 consumers, 3 keys") || !strings.Contains(r.stdout, "signed") {
		t.Errorf("build: %s", r.stdout)
	}
	data, err := os.ReadFile(snap)
	if err != nil {
		t.Fatal(err)
	}
	if h, err := keysnap.ParseHeader(data); err != nil || h.Generation != 42 || h.Keys != 3 || !h.Signed {
		t.Fatalf("snapshot header %+v, %v", h, err)
	}

	r = apiguard(t, "", "keys", "inspect", snap, "--public-key", pub)
	r.wantCode(t, exitOK)
	for _, want := range []string{"format version  2", "generation      42", "consumers       2", "keys            3",
		"content         matches the digest", "signature       verifies with the public key", "content digest  sha256:"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("inspect output lacks %q:\n%s", want, r.stdout)
		}
	}
	_, other, _ := ed25519.GenerateKey(nil)
	r = apiguard(t, "", "keys", "inspect", "--public-key", base64.StdEncoding.EncodeToString(other.Public().(ed25519.PublicKey)), snap)
	r.wantCode(t, exitFail)
	if !strings.Contains(r.stdout, "DOES NOT VERIFY") {
		t.Errorf("inspect with another key: %s", r.stdout)
	}
	corrupt := filepath.Join(dir, "corrupt.snap")
	bad := append([]byte(nil), data...)
	bad[len(bad)-1] ^= 1
	os.WriteFile(corrupt, bad, 0o644)
	r = apiguard(t, "", "keys", "inspect", corrupt)
	r.wantCode(t, exitFail)
	if !strings.Contains(r.stdout, "CORRUPT") {
		t.Errorf("inspect of a corrupt snapshot: %s", r.stdout)
	}

	r = apiguard(t, "", "validate", "--config", config, snap)
	r.wantCode(t, exitOK)
	if !strings.Contains(r.stdout, "ok (key snapshot, generation 42, 2 consumers, 3 keys") {
		t.Errorf("validate: %s", r.stdout)
	}
	r = apiguard(t, "", "validate", snap)
	r.wantCode(t, exitError)
	// A configuration without the policy a consumer names.
	_, noDemo := keyStoreFiles(t, t.TempDir(), pub, func(cfg map[string]any) {
		delete(cfg["rate_limits"].(map[string]any), "demo")
	})
	r = apiguard(t, "", "validate", "--config", noDemo, snap)
	r.wantCode(t, exitFail)
	if !strings.Contains(r.stdout, "config_mismatch") || !strings.Contains(r.stdout, `unknown rate limit policy "demo"`) {
		t.Errorf("validate against a configuration without demo: %s", r.stdout)
	}
	// Another public key in the configuration.
	_, otherCfg := keyStoreFiles(t, t.TempDir(), base64.StdEncoding.EncodeToString(other.Public().(ed25519.PublicKey)), nil)
	r = apiguard(t, "", "validate", "--config", otherCfg, snap)
	r.wantCode(t, exitFail)
	if !strings.Contains(r.stdout, "bad_signature") {
		t.Errorf("validate with another public key: %s", r.stdout)
	}

	// Unsigned, for tests.
	unsigned := filepath.Join(dir, "unsigned.snap")
	r = apiguard(t, "", "keys", "build", "--consumers", consumers, "--unsigned", "--out", unsigned)
	r.wantCode(t, exitOK)
	r = apiguard(t, "", "keys", "inspect", unsigned)
	r.wantCode(t, exitOK)
	if !strings.Contains(r.stdout, "signature       none") {
		t.Errorf("inspect unsigned: %s", r.stdout)
	}
	r = apiguard(t, "", "validate", "--config", config, unsigned)
	r.wantCode(t, exitFail)
	if !strings.Contains(r.stdout, "unsigned") {
		t.Errorf("validate unsigned against a public key: %s", r.stdout)
	}
}

// keys build reports invalid consumers with the paths of the inline schema,
// and writes nothing.
func TestKeysBuildInvalidConsumers(t *testing.T) {
	dir := t.TempDir()
	consumers := filepath.Join(dir, "consumers.json")
	os.WriteFile(consumers, []byte(`{"consumers": [{"id": "a", "keys": [{"id": "k", "sha256": "XYZ"}]}, {"id": "a"}]}`), 0o644)
	out := filepath.Join(dir, "keys.snap")
	r := apiguard(t, "", "keys", "build", "--consumers", consumers, "--unsigned", "--out", out)
	r.wantCode(t, exitFail)
	for _, want := range []string{"consumers[0].keys[0].sha256: must be 64 lowercase hex digits", `consumers[1].id: duplicate consumer id "a" (also consumers[0])`} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a snapshot was written for invalid consumers")
	}
	r = apiguard(t, "", "keys", "build", "--consumers", consumers, "--out", out)
	r.wantCode(t, exitError)
}

// keys build --config checks the snapshot as the filter would load it:
// policy names the configuration lacks, another signing key, another
// audience; and the snapshot carries each consumer's quota.
func TestKeysBuildAgainstConfig(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "signing.pem")
	r := apiguard(t, "", "keys", "signing-key", "--out", keyFile)
	r.wantCode(t, exitOK)
	pub := strings.TrimSpace(r.stdout)
	consumers, config := keyStoreFiles(t, dir, pub, func(cfg map[string]any) {
		cfg["quotas"].(map[string]any)["gold-daily"] = map[string]any{"requests": 1000, "per": "day"}
		cfg["key_store"].(map[string]any)["audience"] = "prod"
	})
	doc, _ := os.ReadFile(consumers)
	var cs map[string][]map[string]any
	json.Unmarshal(doc, &cs)
	cs["consumers"][0]["quota"] = "gold-daily"
	write := func(name string, v any) string {
		b, _ := json.Marshal(v)
		p := filepath.Join(dir, name)
		os.WriteFile(p, b, 0o644)
		return p
	}
	good := write("good.json", cs)
	cs["consumers"][0]["quota"] = "nope"
	undefined := write("undefined.json", cs)
	snap := filepath.Join(dir, "keys.snap")

	r = apiguard(t, "", "keys", "build", "--consumers", good, "--signing-key", keyFile, "--out", snap, "--audience", "prod", "--config", config)
	r.wantCode(t, exitOK)
	r = apiguard(t, "", "keys", "inspect", snap)
	if !strings.Contains(r.stdout, "audience        prod") {
		t.Errorf("inspect does not show the audience:\n%s", r.stdout)
	}
	r = apiguard(t, "", "validate", "--config", config, snap)
	r.wantCode(t, exitOK)

	for _, c := range []struct {
		name      string
		consumers string
		audience  string
		want      string
	}{
		{"undefined quota", undefined, "prod", `unknown quota "nope"`},
		{"another audience", good, "staging", "wrong_audience"},
	} {
		out := filepath.Join(dir, "bad.snap")
		r = apiguard(t, "", "keys", "build", "--consumers", c.consumers, "--signing-key", keyFile, "--out", out, "--audience", c.audience, "--config", config)
		r.wantCode(t, exitFail)
		if !strings.Contains(r.stderr, c.want) {
			t.Errorf("%s: stderr %q lacks %q", c.name, r.stderr, c.want)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%s: a snapshot was written", c.name)
		}
	}
	otherKey := filepath.Join(dir, "other.pem")
	apiguard(t, "", "keys", "signing-key", "--out", otherKey).wantCode(t, exitOK)
	r = apiguard(t, "", "keys", "build", "--consumers", good, "--signing-key", otherKey, "--out", filepath.Join(dir, "x.snap"), "--audience", "prod", "--config", config)
	r.wantCode(t, exitFail)
	if !strings.Contains(r.stderr, "bad_signature") {
		t.Errorf("another signing key: %q", r.stderr)
	}
}
