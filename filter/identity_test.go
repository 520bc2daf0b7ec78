package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/apiguard/apiguard/internal/identitykey"
	"github.com/apiguard/apiguard/internal/metricname"
	"github.com/apiguard/apiguard/internal/testing/vmtest"
	"github.com/apiguard/apiguard/policy"
)

// Signing keys of the tests: the value of the environment variable (or of
// signing_key) and the key it decodes to.
var (
	testTokenKeys = map[string]string{
		policy.AlgEdDSA: base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x21}, 32)),
		policy.AlgES256: base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x42}, 32)),
	}
)

const (
	testIssuer   = "https://apiguard.example.com"
	testAudience = "orders-api"
	testTokenKID = "2026-12"
)

// tokenSection is an identity_token section signing with alg's test key
// inline, lifetime 5m; edit changes it.
func tokenSection(alg string, edit func(map[string]any)) map[string]any {
	s := map[string]any{"issuer": testIssuer, "audience": testAudience, "algorithm": alg,
		"key_id": testTokenKID, "signing_key": testTokenKeys[alg]}
	if edit != nil {
		edit(s)
	}
	return s
}

// tokenTestConfig is testConfig with an identity token and a quota for
// billing.
func tokenTestConfig(t testing.TB, k testKeys, section map[string]any, edit func(map[string]any)) []byte {
	return testConfig(t, k, func(cfg map[string]any) {
		cfg["identity_token"] = section
		cfg["quotas"] = map[string]any{"monthly": map[string]any{"requests": 100000, "per": "month"}}
		cfg["consumers"].([]any)[0].(map[string]any)["quota"] = "monthly"
		if edit != nil {
			edit(cfg)
		}
	})
}

// verifiedClaims verifies the token with go-jose against the JWKS that
// apiguard identity jwks prints for alg's test key under testTokenKID,
// checks its header, and returns every claim.
func verifiedClaims(t *testing.T, alg, token string) map[string]any {
	t.Helper()
	key, err := policy.ParseSigningKey(alg, testTokenKeys[alg])
	if err != nil {
		t.Fatal(err)
	}
	jwksJSON, err := identitykey.Marshal([]identitykey.Entry{{Key: key, Kid: testTokenKID}})
	if err != nil {
		t.Fatal(err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(jwksJSON, &set); err != nil {
		t.Fatal(err)
	}
	parsed, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
	if err != nil {
		t.Fatalf("parsing the token %q: %v", token, err)
	}
	h := parsed.Headers[0]
	if h.KeyID != testTokenKID || h.Algorithm != alg || h.ExtraHeaders["typ"] != "JWT" {
		t.Errorf("JWT header: kid %q alg %q typ %v", h.KeyID, h.Algorithm, h.ExtraHeaders["typ"])
	}
	keys := set.Key(h.KeyID)
	if len(keys) != 1 {
		t.Fatalf("the JWKS holds %d keys with kid %q", len(keys), h.KeyID)
	}
	claims := map[string]any{}
	if err := parsed.Claims(keys[0].Public().Key, &claims); err != nil {
		t.Fatalf("verifying the token: %v", err)
	}
	return claims
}

// wantClaims checks every claim of a token issued at iat with lifetime.
func wantClaims(t *testing.T, got map[string]any, sub, clientID, scope, quota string, iat time.Time, lifetime time.Duration) {
	t.Helper()
	want := map[string]any{"iss": testIssuer, "aud": testAudience, "sub": sub, "client_id": clientID,
		"iat": float64(iat.Unix()), "exp": float64(iat.Add(lifetime).Unix())}
	if scope != "" {
		want["scope"] = scope
	}
	if quota != "" {
		want["quota"] = quota
	}
	if len(got) != len(want) {
		t.Errorf("claims %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("claim %s = %v (%T), want %v", k, got[k], got[k], v)
		}
	}
	var std jwt.Claims
	b, _ := json.Marshal(got)
	if err := json.Unmarshal(b, &std); err != nil {
		t.Fatal(err)
	}
	if err := std.ValidateWithLeeway(jwt.Expected{Issuer: testIssuer, AnyAudience: jwt.Audience{testAudience}, Time: iat}, 0); err != nil {
		t.Errorf("go-jose validation at issue: %v", err)
	}
}

// bearer returns the token of an authorization value.
func bearer(t *testing.T, v string) string {
	t.Helper()
	tok, ok := strings.CutPrefix(v, "Bearer ")
	if !ok || strings.Count(tok, ".") != 2 {
		t.Fatalf("authorization %q is not a bearer JWT", v)
	}
	// A copy: in the SDK's emulator of the compiled module the value may be
	// a view of the module's memory, which later requests reuse.
	return strings.Clone(tok)
}

// noToken fails when a request's upstream or response headers, or a local
// response, carry a token.
func noToken(t *testing.T, o outcome, what string) {
	t.Helper()
	for _, hs := range [][][2]string{o.upstream, o.response} {
		for _, h := range hs {
			if strings.Contains(h[1], "eyJ") {
				t.Errorf("%s: header %s carries a token: %q", what, h[0], h[1])
			}
		}
	}
	if o.local != nil && bytes.Contains(o.local.Data, []byte("eyJ")) {
		t.Errorf("%s: the local response body carries a token", what)
	}
}

// TestIdentityToken: an allowed request reaches the upstream with a token
// that go-jose verifies against the CLI's JWKS, with every claim; the
// client never sees it, and the tokens minted counter counts it. Both
// algorithms.
func TestIdentityToken(t *testing.T) {
	for _, alg := range []string{policy.AlgEdDSA, policy.AlgES256} {
		t.Run(alg, func(t *testing.T) {
			vmTest(t, func(t *testing.T, vm vmtest.Runner) {
				k := newTestKeys(t)
				e := start(t, vm, tokenTestConfig(t, k, tokenSection(alg, nil), nil))
				o := e.do("/v1/orders", [2]string{"x-api-key", k.billing})
				wantStatus(t, o, 200, "billing")
				if n := headerCount(o.upstream, "authorization"); n != 1 {
					t.Fatalf("%d authorization headers upstream: %q", n, o.upstream)
				}
				v, _ := header(o.upstream, "authorization")
				claims := verifiedClaims(t, alg, bearer(t, v))
				wantClaims(t, claims, "billing", "billing-2026", "orders:read orders:write", "monthly", testNow, 5*time.Minute)
				if _, ok := header(o.upstream, "x-api-key"); ok {
					t.Error("the credential reached the upstream")
				}
				noToken(t, outcome{response: o.response}, "response to the client")

				// reader has no quota: no quota claim.
				o = e.do("/v1/files/a", [2]string{"x-api-key", k.reader})
				v, _ = header(o.upstream, "authorization")
				wantClaims(t, verifiedClaims(t, alg, bearer(t, v)), "reader", "reader-1", "files:read", "", testNow, 5*time.Minute)
				if n := e.counter(metricname.TokensMinted); n != 2 {
					t.Errorf("tokens minted %d, want 2", n)
				}
				if n := e.counter(metricname.TokenFailures); n != 0 {
					t.Errorf("signing failures %d", n)
				}
				for _, line := range append(e.logs(logInfo), e.logs(logWarn)...) {
					if strings.Contains(line, "eyJ") || strings.Contains(line, testTokenKeys[alg]) {
						t.Errorf("log line shows the token or the key: %s", line)
					}
				}
			})
		})
	}
}

// TestIdentityTokenSpoofed: a client-supplied header under the token's name,
// in any spelling and repeated, never reaches the upstream: replaced on an
// allowed request, removed on a public route, gone with a denial.
func TestIdentityTokenSpoofed(t *testing.T) {
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		k := newTestKeys(t)
		section := tokenSection(policy.AlgEdDSA, func(s map[string]any) { s["header"] = "X-Apiguard-Identity" })
		e := start(t, vm, tokenTestConfig(t, k, section, nil))
		// Envoy's header maps hold lower-case names; these are spellings a
		// back end reads as the same header, each twice.
		forged := [][2]string{{"x-apiguard-identity", "forged.1.1"}, {"x-apiguard-identity", "forged.2.2"},
			{"x_apiguard_identity", "forged.3.3"}, {"x_apiguard_identity", "forged.4.4"}, {"x-apiguard_identity", "forged.5.5"}}
		spelled := func(hs [][2]string) int {
			n := 0
			for _, h := range hs {
				if policy.SameHeaderName(h[0], "x-apiguard-identity") {
					n++
				}
			}
			return n
		}
		o := e.do("/v1/orders", append([][2]string{{"x-api-key", k.billing}}, forged...)...)
		wantStatus(t, o, 200, "allowed with forged tokens")
		if n := spelled(o.upstream); n != 1 {
			t.Fatalf("%d token headers upstream, want 1: %q", n, o.upstream)
		}
		v, _ := header(o.upstream, "x-apiguard-identity")
		if strings.HasPrefix(v, "Bearer ") || strings.HasPrefix(v, "forged") {
			t.Fatalf("token header %q", v)
		}
		wantClaims(t, verifiedClaims(t, policy.AlgEdDSA, v), "billing", "billing-2026", "orders:read orders:write", "monthly", testNow, 5*time.Minute)

		o = e.do("/healthz", forged...)
		wantStatus(t, o, 200, "public route")
		if n := spelled(o.upstream); n != 0 {
			t.Errorf("public route: %d token headers reached the upstream: %q", n, o.upstream)
		}
		for _, c := range []struct {
			path   string
			key    string
			status int
		}{{"/v1/orders", k.unknown, 401}, {"/v1/orders", k.billingRevoked, 401}, {"/v1/files/x", k.billing, 403}, {"/v1/orders", "", 401}} {
			hs := forged
			if c.key != "" {
				hs = append([][2]string{{"x-api-key", c.key}}, forged...)
			}
			o := e.do(c.path, hs...)
			wantStatus(t, o, c.status, "denied "+c.path)
			noToken(t, o, "denied "+c.path)
		}
		if n := e.counter(metricname.TokensMinted); n != 1 {
			t.Errorf("tokens minted %d, want 1", n)
		}
	})
}

// TestIdentityTokenAuthorizationSpoofed: with the token in authorization,
// a client's Bearer header (another scheme than the key source's ApiKey)
// is replaced, and a public route forwards none.
func TestIdentityTokenAuthorizationSpoofed(t *testing.T) {
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		k := newTestKeys(t)
		e := start(t, vm, tokenTestConfig(t, k, tokenSection(policy.AlgEdDSA, nil), nil))
		o := e.do("/v1/orders", [2]string{"x-api-key", k.billing}, [2]string{"Authorization", "Bearer forged.x.y"})
		wantStatus(t, o, 200, "allowed")
		v, _ := header(o.upstream, "authorization")
		if headerCount(o.upstream, "authorization") != 1 || strings.Contains(v, "forged") {
			t.Fatalf("authorization upstream: %q", o.upstream)
		}
		verifiedClaims(t, policy.AlgEdDSA, bearer(t, v))
		// The credential in authorization (scheme ApiKey) goes, the token comes.
		o = e.do("/v1/orders", [2]string{"authorization", "ApiKey " + k.billing})
		v, _ = header(o.upstream, "authorization")
		if headerCount(o.upstream, "authorization") != 1 || strings.Contains(v, k.billing) {
			t.Fatalf("authorization upstream: %q", o.upstream)
		}
		verifiedClaims(t, policy.AlgEdDSA, bearer(t, v))
		o = e.do("/healthz", [2]string{"Authorization", "Bearer forged.x.y"})
		if _, ok := header(o.upstream, "authorization"); ok {
			t.Errorf("public route forwards authorization: %q", o.upstream)
		}
	})
}

// TestIdentityTokenReuse: a token is reused until 80 % of its lifetime has
// passed, then minted again; another consumer, key or quota gets its own.
func TestIdentityTokenReuse(t *testing.T) {
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		k := newTestKeys(t)
		section := tokenSection(policy.AlgES256, func(s map[string]any) { s["lifetime"] = "100s" })
		e := start(t, vm, tokenTestConfig(t, k, section, func(cfg map[string]any) {
			// get-order counts against its own quota.
			cfg["quotas"].(map[string]any)["orders"] = map[string]any{"requests": 5, "per": "second"}
			cfg["routes"].([]any)[1].(map[string]any)["quota"] = "orders"
		}))
		token := func(path, key string) string {
			t.Helper()
			o := e.do(path, [2]string{"x-api-key", key})
			wantStatus(t, o, 200, path)
			v, _ := header(o.upstream, "authorization")
			return bearer(t, v)
		}
		minted := func(want uint64, what string) {
			t.Helper()
			if n := e.counter(metricname.TokensMinted); n != want {
				t.Errorf("%s: tokens minted %d, want %d", what, n, want)
			}
		}
		first := token("/v1/orders", k.billing)
		minted(1, "first")
		e.setTime(testNow.Add(79 * time.Second))
		if again := token("/v1/orders?limit=5", k.billing); again != first {
			t.Error("the token was not reused at 79 % of its lifetime")
		}
		e.setTime(testNow.Add(-500 * time.Millisecond)) // a request that started a little earlier
		if again := token("/v1/orders", k.billing); again != first {
			t.Error("the token was not reused for a request started half a second before it")
		}
		minted(1, "reused")
		order := token("/v1/orders/7", k.billing)
		wantClaims(t, verifiedClaims(t, policy.AlgES256, order), "billing", "billing-2026", "orders:read orders:write", "orders", testNow.Add(-time.Second), 100*time.Second)
		minted(2, "another quota")

		at := testNow.Add(80 * time.Second)
		e.setTime(at)
		renewed := token("/v1/orders", k.billing)
		if renewed == first {
			t.Fatal("the token was reused at 80 % of its lifetime")
		}
		wantClaims(t, verifiedClaims(t, policy.AlgES256, renewed), "billing", "billing-2026", "orders:read orders:write", "monthly", at, 100*time.Second)
		minted(3, "renewed")
		e.setTime(at.Add(10 * time.Second))
		if again := token("/v1/orders", k.billing); again != renewed {
			t.Error("the renewed token was not reused")
		}
		minted(3, "renewed, reused")
	})
}

// TestIdentityTokenShadow: in shadow mode the token is set on allow, never
// on a would-deny, and client copies go in both cases.
func TestIdentityTokenShadow(t *testing.T) {
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		k := newTestKeys(t)
		e := start(t, vm, tokenTestConfig(t, k, tokenSection(policy.AlgEdDSA, nil), func(cfg map[string]any) {
			cfg["mode"] = "shadow"
			cfg["key_sources"] = []any{map[string]any{"header": "x-api-key"}}
		}))
		o := e.do("/v1/orders", [2]string{"x-api-key", k.billing}, [2]string{"authorization", "Bearer forged.a.b"})
		wantStatus(t, o, 200, "shadow allow")
		v, _ := header(o.upstream, "authorization")
		if headerCount(o.upstream, "authorization") != 1 {
			t.Fatalf("authorization upstream: %q", o.upstream)
		}
		wantClaims(t, verifiedClaims(t, policy.AlgEdDSA, bearer(t, v)), "billing", "billing-2026", "orders:read orders:write", "monthly", testNow, 5*time.Minute)
		if got, _ := header(o.upstream, "x-api-key"); got != k.billing {
			t.Error("shadow mode did not forward the credential as sent")
		}
		for _, c := range [][][2]string{
			{{"x-api-key", k.unknown}, {"authorization", "Bearer forged.a.b"}},
			{{"x-api-key", k.reader}, {"Authorization", "Bearer forged.a.b"}}, // insufficient scope
			{{"authorization", "Bearer forged.a.b"}},
		} {
			o := e.do("/v1/orders", c...)
			wantStatus(t, o, 200, "shadow would-deny")
			if _, ok := header(o.upstream, "authorization"); ok {
				t.Errorf("a would-deny request forwards authorization: %q", o.upstream)
			}
		}
		if n := e.counter(metricname.ShadowWouldDeny); n != 3 {
			t.Errorf("would-deny %d, want 3", n)
		}
	})
}

// TestIdentityTokenConfigPush: a new plugin context (a configuration push)
// mints again for a consumer the old one had a token for.
func TestIdentityTokenConfigPush(t *testing.T) {
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		k := newTestKeys(t)
		e := start(t, vm, tokenTestConfig(t, k, tokenSection(policy.AlgEdDSA, nil), nil))
		o := e.do("/v1/orders", [2]string{"x-api-key", k.billing})
		before, _ := header(o.upstream, "authorization")
		before = strings.Clone(before) // see bearer
		e.setTime(testNow.Add(time.Second))
		e.restart()
		o = e.do("/v1/orders", [2]string{"x-api-key", k.billing})
		after, _ := header(o.upstream, "authorization")
		if n := e.counter(metricname.TokensMinted); n != 2 {
			t.Errorf("tokens minted %d after the push, want 2", n)
		}
		if before == after {
			t.Errorf("the new plugin context reused the old token %s", after)
		}
		wantClaims(t, verifiedClaims(t, policy.AlgEdDSA, bearer(t, after)), "billing", "billing-2026", "orders:read orders:write", "monthly", testNow.Add(time.Second), 5*time.Minute)
	})
}

// TestIdentityTokenKeyFromEnv: the key comes from the VM's environment
// (the native runner's process environment, cpphost's vm_config
// environment_variables).
func TestIdentityTokenKeyFromEnv(t *testing.T) {
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		k := newTestKeys(t)
		section := tokenSection(policy.AlgES256, func(s map[string]any) {
			delete(s, "signing_key")
			s["signing_key_env"] = "APIGUARD_TEST_IDENTITY_KEY"
		})
		e := start(t, vm, tokenTestConfig(t, k, section, nil), withEnv(map[string]string{"APIGUARD_TEST_IDENTITY_KEY": testTokenKeys[policy.AlgES256]}))
		o := e.do("/v1/orders", [2]string{"x-api-key", k.billing})
		v, _ := header(o.upstream, "authorization")
		wantClaims(t, verifiedClaims(t, policy.AlgES256, bearer(t, v)), "billing", "billing-2026", "orders:read orders:write", "monthly", testNow, 5*time.Minute)
		for _, w := range e.warnLogs() {
			if strings.Contains(w, "signing_key") {
				t.Errorf("warning with a key from the environment: %s", w)
			}
		}
	})
}

// TestIdentityTokenBadKey: a missing or malformed key fails plugin start
// with its JSON path, and never shows the value; an inline key warns.
func TestIdentityTokenBadKey(t *testing.T) {
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		k := newTestKeys(t)
		for _, c := range []struct {
			section map[string]any
			want    string
		}{
			{tokenSection(policy.AlgEdDSA, func(s map[string]any) { s["signing_key"] = "c2VjcmV0LXRvby1zaG9ydA==" }),
				"identity_token.signing_key: must be the standard base64 of a 32-byte EdDSA private key"},
			{tokenSection(policy.AlgES256, func(s map[string]any) {
				s["signing_key"] = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xff}, 32))
			}), "identity_token.signing_key: is not a valid P-256 private key"},
			{tokenSection(policy.AlgEdDSA, func(s map[string]any) {
				delete(s, "signing_key")
				s["signing_key_env"] = "APIGUARD_TEST_UNSET_KEY"
			}), "identity_token.signing_key_env: environment variable APIGUARD_TEST_UNSET_KEY is not set in the Wasm VM"},
		} {
			c := c
			t.Run(c.want[:strings.IndexByte(c.want, ':')], func(t *testing.T) {
				e := startWithStatus(t, vm, tokenTestConfig(t, k, c.section, nil), types.OnPluginStartStatusFailed)
				logs := strings.Join(e.logs(logCritical), "\n")
				if !strings.Contains(logs, c.want) {
					t.Errorf("critical logs %q lack %q", logs, c.want)
				}
				if s, _ := c.section["signing_key"].(string); s != "" && strings.Contains(logs, s) {
					t.Errorf("the logs show the key: %s", logs)
				}
			})
		}
		t.Run("inline", func(t *testing.T) {
			e := start(t, vm, tokenTestConfig(t, k, tokenSection(policy.AlgEdDSA, nil), nil))
			if w := strings.Join(e.warnLogs(), "\n"); !strings.Contains(w, "identity_token.signing_key: the identity token's signing key is inline") {
				t.Errorf("no warning about the inline key: %s", w)
			}
		})
	})
}

// TestIdentityTokenKeyStore: a consumer of a key snapshot gets a token
// with the snapshot's scopes.
func TestIdentityTokenKeyStore(t *testing.T) {
	vmTest(t, func(t *testing.T, vm vmtest.Runner) {
		k := newTestKeys(t)
		srv := &keyServer{}
		srv.set(testSnapshot(t, k, 1, testSigner, func(consumers []any) {
			consumers[1].(map[string]any)["scopes"] = []any{"files:read", "files:write"}
		}))
		cfg := keyStoreConfig(t, k)
		var m map[string]any
		if err := json.Unmarshal(cfg, &m); err != nil {
			t.Fatal(err)
		}
		m["identity_token"] = tokenSection(policy.AlgEdDSA, nil)
		cfg, _ = json.Marshal(m)
		e := startKeyStoreWith(t, vm, cfg, srv)
		wantStatus(t, e.do("/v1/files/a", [2]string{"x-api-key", k.reader}), 503, "before the snapshot")
		e.deliverAll()
		o := e.do("/v1/files/a", [2]string{"x-api-key", k.reader}, [2]string{"authorization", "Bearer forged.a.b"})
		wantStatus(t, o, 200, "key-store consumer")
		v, _ := header(o.upstream, "authorization")
		wantClaims(t, verifiedClaims(t, policy.AlgEdDSA, bearer(t, v)), "reader", "reader-1", "files:read files:write", "", testNow, 5*time.Minute)
	})
}

// TestIdentityTokenSigningFailure: when no token can be minted the request
// fails with a 500 problem and never reaches the upstream, in enforce and
// shadow mode. Native only: no host makes Ed25519 or ECDSA signing fail, so
// the test replaces the signing step, which only the native runner shares.
func TestIdentityTokenSigningFailure(t *testing.T) {
	saved := mint
	mint = func(*policy.IdentityToken, policy.TokenClaims, time.Time) (string, error) {
		return "", errors.New("signing failed")
	}
	t.Cleanup(func() { mint = saved })
	for _, mode := range []string{"enforce", "shadow"} {
		t.Run(mode, func(t *testing.T) {
			k := newTestKeys(t)
			e := start(t, vmtest.Native(newVMContext), tokenTestConfig(t, k, tokenSection(policy.AlgEdDSA, nil), func(cfg map[string]any) {
				cfg["mode"] = mode
				cfg["key_sources"] = []any{map[string]any{"header": "x-api-key"}}
			}))
			o := e.do("/v1/orders", [2]string{"x-api-key", k.billing})
			wantStatus(t, o, 500, "signing failure")
			if ct, _ := header(o.local.Headers, "content-type"); ct != problemContentType {
				t.Errorf("content-type %q", ct)
			}
			if n := e.counter(metricname.TokenFailures); n != 1 {
				t.Errorf("signing failures %d, want 1", n)
			}
			wantStatus(t, e.do("/healthz"), 200, "public route")
		})
	}
}

// TestTokenCacheBounded: the cache never holds more than maxCachedTokens;
// when full, tokens due for renewal go first.
func TestTokenCacheBounded(t *testing.T) {
	k := newTestKeys(t)
	p, err := policy.Compile(tokenTestConfig(t, k, tokenSection(policy.AlgEdDSA, nil), nil))
	if err != nil {
		t.Fatal(err)
	}
	c := newTokenCache(p.IdentityToken())
	claims := func(i int) policy.TokenClaims {
		return policy.TokenClaims{Subject: "c" + strconv.Itoa(i), ClientID: "k"}
	}
	for i := range maxCachedTokens {
		if _, minted, err := c.value(claims(i), testNow); err != nil || !minted {
			t.Fatalf("token %d: minted %v, %v", i, minted, err)
		}
	}
	// Past renewal: the old ones go, the new one stays.
	later := testNow.Add(5 * time.Minute)
	if _, _, err := c.value(claims(-1), later); err != nil {
		t.Fatal(err)
	}
	if len(c.m) != 1 {
		t.Errorf("%d tokens after renewal-time eviction, want 1", len(c.m))
	}
	// All fresh: the cache starts over.
	for i := range maxCachedTokens + 10 {
		if _, _, err := c.value(claims(i), later); err != nil {
			t.Fatal(err)
		}
		if len(c.m) > maxCachedTokens {
			t.Fatalf("%d tokens cached", len(c.m))
		}
	}
	if _, minted, _ := c.value(claims(maxCachedTokens+9), later); minted {
		t.Error("a token just minted was not reused")
	}
}
