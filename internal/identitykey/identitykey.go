// Package identitykey makes and reads the signing keys of apiguard's
// identity token and publishes their public halves as a JSON Web Key Set
// (RFC 7517), for apiguard identity signing-key and apiguard identity jwks
// and for the tests that verify the filter's tokens against what those
// commands print.
//
// A key file is a PEM "PRIVATE KEY" block (PKCS #8), which openssl and
// other tools read too. The value for the filter's environment variable
// (identity_token.signing_key_env) is the standard base64 of the raw
// private key: the 32-byte Ed25519 seed, or the 32-byte P-256 scalar;
// policy.ParseSigningKey reads it.
package identitykey

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
)

// Algorithms, as identity_token.algorithm names them.
const (
	EdDSA = "EdDSA"
	ES256 = "ES256"
)

// Generate returns a new private key for alg.
func Generate(alg string) (crypto.Signer, error) {
	switch alg {
	case EdDSA:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	case ES256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	return nil, fmt.Errorf("unknown algorithm %q (EdDSA or ES256)", alg)
}

// Algorithm names the algorithm of key, "" when it is neither.
func Algorithm(key crypto.Signer) string {
	switch k := key.(type) {
	case ed25519.PrivateKey:
		return EdDSA
	case *ecdsa.PrivateKey:
		if k.Curve == elliptic.P256() {
			return ES256
		}
	}
	return ""
}

// EnvValue returns the value of the filter's environment variable for key.
func EnvValue(key crypto.Signer) (string, error) {
	switch k := key.(type) {
	case ed25519.PrivateKey:
		return base64.StdEncoding.EncodeToString(k.Seed()), nil
	case *ecdsa.PrivateKey:
		b, err := k.Bytes()
		if err != nil {
			return "", err
		}
		return base64.StdEncoding.EncodeToString(b), nil
	}
	return "", errors.New("not an Ed25519 or P-256 key")
}

// MarshalPEM encodes key as a PEM PKCS #8 block.
func MarshalPEM(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParsePEM reads a key file: a PEM PKCS #8 block of an Ed25519 or P-256
// key.
func ParsePEM(data []byte) (crypto.Signer, error) {
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "PRIVATE KEY" {
		return nil, errors.New(`no PEM "PRIVATE KEY" block`)
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, err
	}
	s, ok := k.(crypto.Signer)
	if !ok || Algorithm(s) == "" {
		return nil, errors.New("not an Ed25519 or P-256 private key")
	}
	return s, nil
}

// JWK is a public JSON Web Key (RFC 7517; OKP keys RFC 8037).
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y,omitempty"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Kid string `json:"kid"`
}

// JWKS is a JSON Web Key Set.
type JWKS struct {
	Keys []JWK `json:"keys"`
}

// PublicJWK returns the public JWK of key under kid.
func PublicJWK(key crypto.Signer, kid string) (JWK, error) {
	enc := base64.RawURLEncoding
	switch k := key.(type) {
	case ed25519.PrivateKey:
		return JWK{Kty: "OKP", Crv: "Ed25519", X: enc.EncodeToString(k.Public().(ed25519.PublicKey)),
			Use: "sig", Alg: EdDSA, Kid: kid}, nil
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			break
		}
		pub, err := k.PublicKey.Bytes() // 0x04 || X || Y
		if err != nil {
			return JWK{}, err
		}
		return JWK{Kty: "EC", Crv: "P-256", X: enc.EncodeToString(pub[1:33]), Y: enc.EncodeToString(pub[33:65]),
			Use: "sig", Alg: ES256, Kid: kid}, nil
	}
	return JWK{}, errors.New("not an Ed25519 or P-256 key")
}

// Entry is one key of a set and its key id.
type Entry struct {
	Key crypto.Signer
	Kid string
}

// Marshal returns the JWKS of the public halves of entries, in order;
// key ids must be distinct and not empty.
func Marshal(entries []Entry) ([]byte, error) {
	set := JWKS{Keys: []JWK{}}
	seen := map[string]bool{}
	for _, e := range entries {
		if e.Kid == "" {
			return nil, errors.New("a key id must not be empty")
		}
		if seen[e.Kid] {
			return nil, fmt.Errorf("key id %q appears twice", e.Kid)
		}
		seen[e.Kid] = true
		j, err := PublicJWK(e.Key, e.Kid)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", e.Kid, err)
		}
		set.Keys = append(set.Keys, j)
	}
	return json.MarshalIndent(set, "", "  ")
}
