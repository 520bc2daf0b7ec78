package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/apiguard/apiguard/policy"
	"github.com/apiguard/apiguard/policy/keymat"
)

// TestIdentitySigningKeyAndJWKS: the key signing-key writes (0600, never
// overwritten) and the value it prints sign tokens that go-jose verifies
// against the JWKS that jwks prints, for both algorithms and two keys.
func TestIdentitySigningKeyAndJWKS(t *testing.T) {
	dir := t.TempDir()
	paths := map[string]string{}
	values := map[string]string{}
	for _, alg := range []string{"EdDSA", "ES256"} {
		path := filepath.Join(dir, alg+".pem")
		r := apiguard(t, "", "identity", "signing-key", "--out", path, "--algorithm", alg)
		r.wantCode(t, exitOK)
		st, err := os.Stat(path)
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v, mode %v", path, err, st)
		}
		data, _ := os.ReadFile(path)
		if !strings.Contains(string(data), "BEGIN PRIVATE KEY") {
			t.Errorf("%s is not a PEM private key", path)
		}
		paths[alg], values[alg] = path, strings.TrimSpace(r.stdout)
		if strings.Contains(r.stdout, "PRIVATE KEY") {
			t.Error("signing-key prints the PEM key")
		}
		again := apiguard(t, "", "identity", "signing-key", "--out", path)
		again.wantCode(t, exitError)
		if after, _ := os.ReadFile(path); string(after) != string(data) {
			t.Fatal("signing-key overwrote an existing key")
		}
	}
	r := apiguard(t, "", "identity", "jwks", "--key", paths["EdDSA"], "--key-id", "old", "--key", paths["ES256"], "--key-id", "new")
	r.wantCode(t, exitOK)
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(r.stdout), &set); err != nil || len(set.Keys) != 2 {
		t.Fatalf("jwks output %q: %v", r.stdout, err)
	}
	for _, k := range set.Keys {
		if !k.IsPublic() {
			t.Errorf("key %s is not public", k.KeyID)
		}
	}
	now := time.Now()
	for alg, kid := range map[string]string{"EdDSA": "old", "ES256": "new"} {
		cfg := `{"consumers": [{"id": "c", "scopes": ["s"], "keys": [{"id": "k", "sha256": "` + keymat.Hash("x") + `"}]}],
			"identity_token": {"issuer": "i", "audience": "a", "algorithm": "` + alg + `", "key_id": "` + kid + `", "signing_key_env": "K"}}`
		p, err := policy.CompileWith([]byte(cfg), policy.Options{LookupEnv: func(string) (string, bool) { return values[alg], true }})
		if err != nil {
			t.Fatal(err)
		}
		v, err := p.IdentityToken().Mint(policy.TokenClaims{Subject: "c", ClientID: "k", Scope: "s"}, now)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := jwt.ParseSigned(strings.TrimPrefix(v, "Bearer "), []jose.SignatureAlgorithm{jose.EdDSA, jose.ES256})
		if err != nil {
			t.Fatal(err)
		}
		keys := set.Key(tok.Headers[0].KeyID)
		var claims jwt.Claims
		if len(keys) != 1 || tok.Claims(keys[0].Public().Key, &claims) != nil || claims.Subject != "c" {
			t.Errorf("%s: the token does not verify against the JWKS (%d keys for %q)", alg, len(keys), tok.Headers[0].KeyID)
		}
	}

	for _, bad := range [][]string{
		{"jwks", "--key", paths["EdDSA"]},
		{"jwks", "--key-id", "a", "--key", paths["EdDSA"]},
		{"jwks", "--key", paths["EdDSA"], "--key-id", "a", "--key", paths["ES256"], "--key-id", "a"},
		{"signing-key", "--out", filepath.Join(dir, "x.pem"), "--algorithm", "RS256"},
	} {
		r := apiguard(t, "", append([]string{"identity"}, bad...)...)
		if r.code == exitOK {
			t.Errorf("identity %q succeeded", bad)
		}
	}
}

// TestValidateIdentityToken: the shipped manifests validate, and validate
// catches a RequestAuthentication that cannot verify the tokens.
func TestValidateIdentityToken(t *testing.T) {
	r0 := apiguard(t, "", "validate", repoFile(t, "deploy/envoy-gateway/identity-token.yaml"))
	r0.wantCode(t, exitOK)
	shipped := repoFile(t, "deploy/istio/identity-token.yaml")
	r := apiguard(t, "", "validate", shipped)
	r.wantCode(t, exitOK)
	if n := strings.Count(r.stdout, ": ok ("); n != 3 {
		t.Errorf("%d documents ok, want 3:\n%s", n, r.stdout)
	}
	data, err := os.ReadFile(shipped)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(data), "\n---\n")
	ra, _, _ := strings.Cut(rest, "\n---\n")
	config := `{"key_sources": [{"header": "x-api-key"}], "identity_token": {"issuer": "https://apiguard.example.com",
		"audience": "orders-api", "key_id": "2026-12", "signing_key_env": "K"}}`
	cfgPath := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(cfgPath, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	r = apiguard(t, ra, "validate", "--config", cfgPath, "-")
	r.wantCode(t, exitOK)
	for _, tc := range []struct{ old, new, want string }{
		{"- orders-api", "- billing-api", `audiences must list "orders-api"`},
		{`"kid": "2026-12"`, `"kid": "2025-06"`, `jwks has no key "2026-12"`},
		{"issuer: https://apiguard.example.com", "issuer: https://other.example.com", `no jwtRules entry has issuer "https://apiguard.example.com"`},
		{`prefix: "Bearer "`, `prefix: "Token "`, `fromHeaders reads "Authorization" with prefix "Token "`},
		{`"crv": "Ed25519"`, `"crv": "X25519"`, `key "2026-12" of jwks is a OKP X25519 key`},
		{"forwardOriginalToken: true", "forwardOriginalTokn: true", `unknown field "forwardOriginalTokn"`},
	} {
		bad := strings.Replace(ra, tc.old, tc.new, 1)
		if bad == ra {
			t.Fatalf("%q is not in the RequestAuthentication", tc.old)
		}
		r := apiguard(t, bad, "validate", "--config", cfgPath, "-")
		r.wantCode(t, exitFail)
		if !strings.Contains(r.stdout, tc.want) {
			t.Errorf("%s -> %s: no %q in\n%s", tc.old, tc.new, tc.want, r.stdout)
		}
	}
	// The WasmPlugin must pass the key's variable to the VM.
	noEnv := strings.Replace(string(data), "      - name: APIGUARD_IDENTITY_KEY\n        valueFrom: HOST\n", "      - name: OTHER\n        valueFrom: HOST\n", 1)
	if noEnv == string(data) {
		t.Fatal("the WasmPlugin's vmConfig.env entry was not found")
	}
	r = apiguard(t, noEnv, "validate", "-")
	r.wantCode(t, exitFail)
	if !strings.Contains(r.stdout, "spec.vmConfig.env: the pluginConfig's identity_token.signing_key_env names APIGUARD_IDENTITY_KEY, which vmConfig.env does not pass") {
		t.Errorf("missing vmConfig.env entry:\n%s", r.stdout)
	}
	inline := strings.Replace(string(data), "        valueFrom: HOST\n", "        value: c2VjcmV0\n", 1)
	r = apiguard(t, inline, "validate", "-")
	r.wantCode(t, exitOK)
	if !strings.Contains(r.stdout, "warning: line 63: spec.vmConfig.env[0]: APIGUARD_IDENTITY_KEY, the identity token's signing key, is inline") {
		t.Errorf("inline key in vmConfig.env:\n%s", r.stdout)
	}

	r = apiguard(t, ra, "validate", "-")
	r.wantCode(t, exitFail)
	if !strings.Contains(r.stdout, "no plugin configuration to check the RequestAuthentication against") {
		t.Errorf("without --config:\n%s", r.stdout)
	}
}
