package policy

import (
	"crypto"
	"encoding/json"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/apiguard/apiguard/internal/identitykey"
)

// Test signing keys (the standard base64 of 32 bytes).
const (
	testEdKey = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="
	testESKey = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="
)

// tokenConfig is a configuration with one consumer and identity_token
// set to section.
func tokenConfig(section string) string {
	return `{"consumers": [{"id": "billing", "scopes": ["orders:write", "orders:read"], "quota": "q",
		"keys": [{"id": "billing-1", "sha256": "` + sum + `"}]}],
		"quotas": {"q": {"requests": 10, "per": "minute"}},
		"routes": [{"name": "r", "path": "/v1/*"}, {"name": "h", "path": "/healthz", "public": true}],
		"identity_token": ` + section + `}`
}

func TestIdentityTokenErrors(t *testing.T) {
	env := func(vals map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := vals[k]; return v, ok }
	}
	tests := []struct {
		name    string
		config  string
		lookup  func(string) (string, bool)
		want    []string
		compile func(string) error
	}{
		{"not an object", tokenConfig(`"yes"`), nil, []string{"identity_token: must be an object, got string"}, nil},
		{"required", tokenConfig(`{}`), nil, []string{
			"identity_token.issuer: is required", "identity_token.audience: is required", "identity_token.key_id: is required",
			`identity_token.signing_key_env: is required (or "signing_key", for tests and demos only)`}, nil},
		{"values", tokenConfig(`{"header": "x y", "issuer": "", "audience": "a b", "lifetime": "10s", "algorithm": "RS256",
			"key_id": "", "signing_key_env": "1KEY", "signing_key": "` + testEdKey + `", "extra": 1}`), nil, []string{
			`identity_token.header: must be a valid header name, got "x y"`,
			"identity_token.issuer: must be 1 to 1024 visible ASCII characters (no spaces)",
			"identity_token.audience: must be 1 to 1024 visible ASCII characters (no spaces)",
			`identity_token.lifetime: must be a duration between 30s and 1h such as "5m", got "10s"`,
			`identity_token.algorithm: must be one of "EdDSA", "ES256", got "RS256"`,
			"identity_token.key_id: must be 1 to 256 visible ASCII characters (no spaces)",
			`identity_token.signing_key_env: must be an environment variable name (letters, digits and '_', not starting with a digit), got "1KEY"`,
			"identity_token.extra: unknown field",
			"identity_token.signing_key: must not be used with signing_key_env: the key comes from one place",
		}, nil},
		{"lifetime too long", tokenConfig(`{"issuer": "i", "audience": "a", "key_id": "k", "lifetime": "2h", "signing_key": "` + testEdKey + `"}`), nil,
			[]string{`identity_token.lifetime: must be a duration between 30s and 1h such as "5m", got "2h"`}, nil},
		{"inline malformed", tokenConfig(`{"issuer": "i", "audience": "a", "key_id": "k", "signing_key": "c2hvcnQ="}`), nil,
			[]string{"identity_token.signing_key: must be the standard base64 of a 32-byte EdDSA private key (apiguard identity signing-key prints it)"}, nil},
		{"ES256 scalar out of range", tokenConfig(`{"issuer": "i", "audience": "a", "key_id": "k", "algorithm": "ES256",
			"signing_key": "//////////////////////////////////////////8="}`), nil,
			[]string{"identity_token.signing_key: is not a valid P-256 private key (the scalar must lie between 1 and the group order)"}, nil},
		{"env missing", tokenConfig(`{"issuer": "i", "audience": "a", "key_id": "k", "signing_key_env": "K"}`), env(nil),
			[]string{"identity_token.signing_key_env: environment variable K is not set in the Wasm VM (Envoy: vm_config.environment_variables; " +
				"Istio: WasmPlugin vmConfig.env; Envoy Gateway: env.hostKeys)"}, nil},
		{"env malformed", tokenConfig(`{"issuer": "i", "audience": "a", "key_id": "k", "signing_key_env": "K"}`),
			env(map[string]string{"K": "not-a-key-value"}),
			[]string{"identity_token.signing_key_env: environment variable K does not hold a signing key: must be the standard base64 of a " +
				"32-byte EdDSA private key (apiguard identity signing-key prints it)"}, nil},
		{"reserved header", tokenConfig(`{"header": "Content_Length", "issuer": "i", "audience": "a", "key_id": "k", "signing_key": "` + testEdKey + `"}`), nil,
			[]string{`identity_token.header: must not be "content-length": the proxy or the upstream reads it for the request itself`}, nil},
		{"same as identity header", tokenConfig(`{"header": "x_apiguard_consumer", "issuer": "i", "audience": "a", "key_id": "k", "signing_key": "` + testEdKey + `"}`), nil,
			[]string{`identity_token.header: must differ from forward.consumer_header ("x-apiguard-consumer")`}, nil},
		{"credential header kept", `{"hide_credentials": false, "key_sources": [{"header": "authorization", "scheme": "ApiKey"}],
			"identity_token": {"issuer": "i", "audience": "a", "key_id": "k", "signing_key": "` + testEdKey + `"}}`, nil,
			[]string{`identity_token.header: must differ from the key source header "authorization" unless hide_credentials is true: ` +
				"the token would replace the credential the upstream is meant to receive"}, nil},
		{"credential header in shadow", `{"mode": "shadow", "key_sources": [{"header": "authorization", "scheme": "ApiKey"}],
			"identity_token": {"issuer": "i", "audience": "a", "key_id": "k", "signing_key": "` + testEdKey + `"}}`, nil,
			[]string{`identity_token.header: must differ from the key source header "authorization" in shadow mode: shadow mode ` +
				"forwards the credential as sent, and the token would replace it"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := CompileWith([]byte(tt.config), Options{LookupEnv: tt.lookup})
			ce, ok := err.(*ConfigError)
			if !ok {
				t.Fatalf("err = %v, want a *ConfigError", err)
			}
			var got []string
			for _, fe := range ce.Errors {
				got = append(got, fe.Error())
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			for _, s := range got {
				for _, secret := range []string{testEdKey, "not-a-key-value", "////"} {
					if strings.Contains(s, secret) {
						t.Errorf("error %q shows the key value", s)
					}
				}
			}
		})
	}
}

func TestIdentityTokenInlineKeyWarns(t *testing.T) {
	p := mustCompile(t, tokenConfig(`{"issuer": "i", "audience": "a", "key_id": "k", "signing_key": "`+testEdKey+`"}`))
	var found bool
	for _, w := range p.Warnings() {
		found = found || w.Path == "identity_token.signing_key" && strings.Contains(w.Msg, "for tests and demos only")
	}
	if !found {
		t.Errorf("no warning about the inline key: %v", p.Warnings())
	}
}

// TestIdentityTokenUnresolvedEnv: Compile without LookupEnv accepts an
// environment key it cannot read (apiguard validate), and such a policy
// refuses to mint.
func TestIdentityTokenUnresolvedEnv(t *testing.T) {
	p := mustCompile(t, tokenConfig(`{"issuer": "i", "audience": "a", "key_id": "k", "signing_key_env": "K"}`))
	it := p.IdentityToken()
	if it == nil || it.KeyEnv != "K" || it.CanMint() {
		t.Fatalf("IdentityToken = %+v", it)
	}
	if _, err := it.Mint(TokenClaims{Subject: "s"}, now); err != ErrNoSigningKey {
		t.Errorf("Mint = %v, want ErrNoSigningKey", err)
	}
}

// TestIdentityTokenMint verifies minted tokens with go-jose against the
// JWKS that identitykey (apiguard identity jwks) prints, for both
// algorithms, keys from the environment and inline.
func TestIdentityTokenMint(t *testing.T) {
	for _, tc := range []struct{ alg, key string }{{AlgEdDSA, testEdKey}, {AlgES256, testESKey}} {
		t.Run(tc.alg, func(t *testing.T) {
			cfg := tokenConfig(`{"issuer": "https://apiguard.example.com", "audience": "orders-api", "lifetime": "2m",
				"algorithm": "` + tc.alg + `", "key_id": "2026-12", "signing_key_env": "APIGUARD_IDENTITY_KEY"}`)
			p, err := CompileWith([]byte(cfg), Options{LookupEnv: func(k string) (string, bool) {
				return tc.key, k == "APIGUARD_IDENTITY_KEY"
			}})
			if err != nil {
				t.Fatal(err)
			}
			it := p.IdentityToken()
			d := p.Decide(get("/v1/orders", "x-api-key", "secret"))
			claims, ok := ClaimsOf(&d)
			if !ok {
				t.Fatalf("ClaimsOf(%+v) not ok", d)
			}
			if got := p.remove[1]; !contains(got, "authorization") {
				t.Errorf("headers removed upstream %q lack the token's", got)
			}
			val, err := it.Mint(claims, now)
			if err != nil {
				t.Fatal(err)
			}
			tok, ok := strings.CutPrefix(val, "Bearer ")
			if !ok {
				t.Fatalf("value %q lacks the Bearer scheme", val)
			}
			got := verifyToken(t, tok, mustSigningKey(t, tc.alg, tc.key), "2026-12", tc.alg)
			want := map[string]any{"iss": "https://apiguard.example.com", "aud": "orders-api", "sub": "billing",
				"client_id": "billing-1", "scope": "orders:read orders:write", "quota": "q",
				"iat": float64(now.Unix()), "exp": float64(now.Unix() + 120)}
			if len(got) != len(want) {
				t.Errorf("claims %v, want %v", got, want)
			}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("claim %s = %v, want %v", k, got[k], v)
				}
			}
			// Public routes and denials carry none.
			for _, r := range []Request{get("/healthz"), get("/v1/orders", "x-api-key", "wrong")} {
				d := p.Decide(r)
				if _, ok := ClaimsOf(&d); ok {
					t.Errorf("%s: a token for %+v", r.Path, d)
				}
			}
		})
	}
}

// verifyToken checks tok with go-jose against the JWKS of key under kid
// (as apiguard identity jwks prints it), checks the JWT header and the
// registered claims at now, and returns every claim.
func verifyToken(t *testing.T, tok string, key crypto.Signer, kid, alg string) map[string]any {
	t.Helper()
	jwksJSON, err := identitykey.Marshal([]identitykey.Entry{{Key: key, Kid: kid}})
	if err != nil {
		t.Fatal(err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(jwksJSON, &set); err != nil {
		t.Fatal(err)
	}
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
	if err != nil {
		t.Fatalf("parsing %q: %v", tok, err)
	}
	h := parsed.Headers[0]
	if h.KeyID != kid || h.Algorithm != alg || h.ExtraHeaders["typ"] != "JWT" {
		t.Errorf("JWT header kid %q alg %q typ %v", h.KeyID, h.Algorithm, h.ExtraHeaders["typ"])
	}
	keys := set.Key(kid)
	if len(keys) != 1 {
		t.Fatalf("JWKS %s has %d keys %q", jwksJSON, len(keys), kid)
	}
	var std jwt.Claims
	all := map[string]any{}
	if err := parsed.Claims(keys[0].Public().Key, &std, &all); err != nil {
		t.Fatalf("verifying: %v", err)
	}
	if err := std.ValidateWithLeeway(jwt.Expected{Time: now.Add(time.Second)}, 0); err != nil {
		t.Errorf("claims: %v", err)
	}
	return all
}

// BenchmarkIdentityTokenMint is the native cost of minting one token.
func BenchmarkIdentityTokenMint(b *testing.B) {
	for _, tc := range []struct{ alg, key string }{{AlgEdDSA, testEdKey}, {AlgES256, testESKey}} {
		b.Run("alg="+tc.alg, func(b *testing.B) {
			p, err := Compile([]byte(tokenConfig(`{"issuer": "https://apiguard.example.com", "audience": "orders-api",
				"algorithm": "` + tc.alg + `", "key_id": "2026-12", "signing_key": "` + tc.key + `"}`)))
			if err != nil {
				b.Fatal(err)
			}
			it := p.IdentityToken()
			c := TokenClaims{Subject: "billing", ClientID: "billing-1", Scope: "orders:read orders:write", Quota: "q"}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := it.Mint(c, now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func mustSigningKey(t *testing.T, alg, b64 string) crypto.Signer {
	t.Helper()
	k, err := ParseSigningKey(alg, b64)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
