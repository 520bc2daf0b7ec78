package identitykey_test

import (
	"crypto"
	"encoding/json"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/internal/identitykey"
	"github.com/apiguard/apiguard/policy"
)

// TestRoundTrip: a generated key survives its PEM file, and the value for
// the environment decodes (as the filter decodes it) to the same key, whose
// JWK says its algorithm.
func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct{ alg, kty, crv string }{{identitykey.EdDSA, "OKP", "Ed25519"}, {identitykey.ES256, "EC", "P-256"}} {
		t.Run(tc.alg, func(t *testing.T) {
			k, err := identitykey.Generate(tc.alg)
			if err != nil {
				t.Fatal(err)
			}
			pem, err := identitykey.MarshalPEM(k)
			if err != nil {
				t.Fatal(err)
			}
			back, err := identitykey.ParsePEM(pem)
			if err != nil || identitykey.Algorithm(back) != tc.alg {
				t.Fatalf("ParsePEM: %v, algorithm %q", err, identitykey.Algorithm(back))
			}
			v, err := identitykey.EnvValue(back)
			if err != nil {
				t.Fatal(err)
			}
			fromEnv, err := policy.ParseSigningKey(tc.alg, v)
			if err != nil {
				t.Fatal(err)
			}
			type equaler interface{ Equal(crypto.PublicKey) bool }
			if !fromEnv.Public().(equaler).Equal(k.Public()) {
				t.Error("the environment value decodes to another key")
			}
			set, err := identitykey.Marshal([]identitykey.Entry{{Key: k, Kid: "a"}, {Key: back, Kid: "b"}})
			if err != nil {
				t.Fatal(err)
			}
			var jwks identitykey.JWKS
			if err := json.Unmarshal(set, &jwks); err != nil || len(jwks.Keys) != 2 {
				t.Fatalf("%s: %v", set, err)
			}
			j := jwks.Keys[0]
			if j.Kty != tc.kty || j.Crv != tc.crv || j.Alg != tc.alg || j.Use != "sig" || j.Kid != "a" {
				t.Errorf("JWK %+v", j)
			}
			if strings.Contains(string(set), `"d"`) {
				t.Error("the JWKS holds a private part")
			}
		})
	}
	if _, err := identitykey.Marshal([]identitykey.Entry{{Key: nil, Kid: ""}}); err == nil {
		t.Error("an empty key id was accepted")
	}
	if _, err := identitykey.ParsePEM([]byte("not pem")); err == nil {
		t.Error("ParsePEM accepted text")
	}
}
