package policy

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tidwall/gjson"
)

// The identity token: on an allowed authenticated request the filter sends
// the upstream a JWT, signed with a key only the proxies hold, that says
// which consumer and key made the request, with which scopes and quota. An
// upstream (or its sidecar: Istio's RequestAuthentication, Envoy's
// jwt_authn) verifies it against the public keys (apiguard identity jwks),
// so that a workload that reaches the upstream without passing apiguard
// cannot claim an identity. This file parses and checks the identity_token
// section, resolves its signing key and mints tokens; the filter caches
// them (filter/identity.go). docs/identity.md is the user's side.

// Algorithms of identity_token.algorithm: the JOSE names (RFC 8037, RFC
// 7518) of the two signature algorithms both Envoy's jwt_authn and Istio's
// RequestAuthentication verify (docs/identity.md).
const (
	AlgEdDSA = "EdDSA" // Ed25519
	AlgES256 = "ES256" // ECDSA on P-256 with SHA-256
)

// Limits of the identity_token section.
const (
	minTokenLifetime = 30 * time.Second
	maxTokenLifetime = time.Hour
	maxTokenString   = 1024 // issuer and audience
	// SigningKeySize is the size of a decoded signing key of either
	// algorithm: an Ed25519 seed (RFC 8032) or a P-256 scalar.
	SigningKeySize = 32
)

// reservedTokenHeaders are request headers the token must not replace:
// Envoy, the router or the upstream read them for the request itself.
var reservedTokenHeaders = []string{"host", "content-length", "content-type", "content-encoding",
	"transfer-encoding", "connection", "te", "upgrade", "keep-alive", "proxy-connection", "cookie",
	"expect", "x-forwarded-for", "x-forwarded-proto", "x-request-id", "x-envoy-original-path"}

// IdentityToken is the compiled identity_token section.
type IdentityToken struct {
	// Header is the request header the token goes in (lower-case). For
	// authorization the value is "Bearer <token>", otherwise the token.
	Header string
	// Issuer and Audience are the iss and aud claims.
	Issuer, Audience string
	// Lifetime is exp - iat.
	Lifetime time.Duration
	// Algorithm is AlgEdDSA or AlgES256; KeyID the kid of the JWT header.
	Algorithm, KeyID string
	// KeyEnv names the VM environment variable the key was read from, ""
	// when it was inline (signing_key).
	KeyEnv string
	// key signs the tokens: an ed25519.PrivateKey or an *ecdsa.PrivateKey.
	// It is nil when the key comes from KeyEnv and the policy was compiled
	// without Options.LookupEnv (apiguard validate): such a policy cannot
	// mint tokens. Unexported, so that no %v of the section prints it.
	key crypto.Signer

	// prefix is what every value starts with: "Bearer " when Header is
	// authorization, then the encoded JWT header and its '.'.
	prefix string
	// claimsHead is the constant start of the claims: iss and aud.
	claimsHead string
	// scheme is the length of "Bearer " in prefix, 0 when there is none.
	scheme int
}

// CanMint reports whether the signing key was resolved (see Options).
func (t *IdentityToken) CanMint() bool { return t.key != nil && t.prefix != "" }

// IdentityToken returns the identity_token section, or nil when none is
// configured.
func (p *Policy) IdentityToken() *IdentityToken { return p.identity }

// Options are what CompileWith needs beyond the configuration text.
type Options struct {
	// LookupEnv reads a VM environment variable, such as os.LookupEnv in
	// the filter. It resolves identity_token.signing_key_env; when nil the
	// key is not resolved (IdentityToken.CanMint is false), as for a
	// configuration checked away from the proxy.
	LookupEnv func(name string) (string, bool)
}

// CompileWith is Compile with options: the filter compiles with
// LookupEnv, so that a signing key missing from or malformed in the VM's
// environment fails plugin start with the path of signing_key_env.
func CompileWith(config []byte, o Options) (*Policy, error) {
	return compile(config, parser{lookupEnv: o.LookupEnv})
}

// identityConf is the parsed identity_token section.
type identityConf struct {
	path                jsonPath
	tok                 IdentityToken
	headerPath          jsonPath
	envPath, inlinePath jsonPath
	inline              string
}

// identityTokenFields are identity_token's (docs/identity.md).
var identityTokenFields = schema[identityConf]{docPath: "identity_token.", docPage: "identity.md", fields: []field[identityConf]{
	{name: "header", read: func(ps *parser, p jsonPath, v gjson.Result, ic *identityConf) bool {
		ic.headerPath = p
		if s, ok := ps.str(p, v); ok {
			ps.checkTokenHeader(p, s)
			ic.tok.Header = strings.ToLower(ps.keep(s))
		}
		return true
	}, def: `"authorization"`, doc: "the request header the token goes in"},
	{name: "issuer", required: true, read: func(ps *parser, p jsonPath, v gjson.Result, ic *identityConf) bool {
		ic.tok.Issuer, _ = ps.tokenText(p, v)
		return true
	}, doc: "the iss claim"},
	{name: "audience", required: true, read: func(ps *parser, p jsonPath, v gjson.Result, ic *identityConf) bool {
		ic.tok.Audience, _ = ps.tokenText(p, v)
		return true
	}, doc: "the aud claim"},
	{name: "lifetime", read: func(ps *parser, p jsonPath, v gjson.Result, ic *identityConf) bool {
		if s, ok := ps.str(p, v); ok {
			d, err := time.ParseDuration(s)
			if err != nil || d < minTokenLifetime || d > maxTokenLifetime {
				ps.add(p, "must be a duration between 30s and 1h such as \"5m\", got "+quote(s))
			} else {
				ic.tok.Lifetime = d
			}
		}
		return true
	}, def: `"5m"`, doc: "exp - iat"},
	{name: "algorithm", read: func(ps *parser, p jsonPath, v gjson.Result, ic *identityConf) bool {
		if s, ok := ps.enum(p, v, AlgEdDSA, AlgES256); ok {
			ic.tok.Algorithm = AlgEdDSA
			if s == AlgES256 {
				ic.tok.Algorithm = AlgES256
			}
		}
		return true
	}, def: `"` + AlgEdDSA + `"`, doc: "the signature algorithm, EdDSA or ES256"},
	{name: "key_id", required: true, read: func(ps *parser, p jsonPath, v gjson.Result, ic *identityConf) bool {
		if s, _, ok := ps.identifier(p, v); ok {
			ic.tok.KeyID = s
		}
		return true
	}, doc: "the kid of the JWT header"},
	{name: "signing_key_env", read: func(ps *parser, p jsonPath, v gjson.Result, ic *identityConf) bool {
		ic.envPath = p
		if s, ok := ps.str(p, v); ok {
			if !isEnvName(s) {
				ps.add(p, "must be an environment variable name (letters, digits and '_', not starting with a digit), got "+quote(s))
			} else {
				ic.tok.KeyEnv = ps.keep(s)
			}
		}
		return true
	}, doc: "the VM environment variable holding the signing key"},
	{name: "signing_key", read: func(ps *parser, p jsonPath, v gjson.Result, ic *identityConf) bool {
		ic.inlinePath = p
		// Not kept: the key is decoded below and never stored as text.
		ic.inline, _ = ps.str(p, v)
		return true
	}, doc: "the signing key inline, for tests and demos"},
}}

// tokenText reads the issuer or the audience.
func (ps *parser) tokenText(p jsonPath, v gjson.Result) (string, bool) {
	s, ok := ps.str(p, v)
	if !ok {
		return "", false
	}
	if s == "" || len(s) > maxTokenString || !isVisibleASCII(s) {
		ps.add(p, "must be 1 to 1024 visible ASCII characters (no spaces)")
		return "", false
	}
	return ps.keep(s), true
}

// parseIdentityToken reads identity_token.
func (ps *parser) parseIdentityToken(path jsonPath, v gjson.Result) *identityConf {
	ic := &identityConf{path: path}
	if !readObject(ps, &identityTokenFields, path, v, ic) {
		return nil
	}
	ps.resolveSigningKey(ic)
	ic.inline = ""
	return ic
}

// resolveSigningKey reads the signing key from where identity_token says:
// inline, or the VM environment when the policy is compiled with one.
func (ps *parser) resolveSigningKey(ic *identityConf) {
	t := &ic.tok
	switch {
	case ic.envPath.isZero() && ic.inlinePath.isZero():
		ps.add(ic.path.member("signing_key_env"), `is required (or "signing_key", for tests and demos only)`)
	case !ic.envPath.isZero() && !ic.inlinePath.isZero():
		ps.add(ic.inlinePath, "must not be used with signing_key_env: the key comes from one place")
	case !ic.inlinePath.isZero():
		if k, err := ParseSigningKey(t.Algorithm, ic.inline); err != nil {
			ps.add(ic.inlinePath, err.Error())
		} else {
			t.key = k
			ps.warn(ic.inlinePath, "the identity token's signing key is inline in the configuration, which every reader of "+
				"the configuration can copy to mint identities: for tests and demos only; use signing_key_env")
		}
	case t.KeyEnv != "" && ps.lookupEnv != nil:
		val, ok := ps.lookupEnv(t.KeyEnv)
		switch k, err := ParseSigningKey(t.Algorithm, val); {
		case !ok || val == "":
			ps.add(ic.envPath, "environment variable "+t.KeyEnv+" is not set in the Wasm VM (Envoy: vm_config.environment_variables; "+
				"Istio: WasmPlugin vmConfig.env; Envoy Gateway: env.hostKeys)")
		case err != nil:
			ps.add(ic.envPath, "environment variable "+t.KeyEnv+" does not hold a signing key: "+err.Error())
		default:
			t.key = k
		}
	}
}

// checkTokenHeader reports a header name the token cannot go in.
func (ps *parser) checkTokenHeader(p jsonPath, s string) {
	if !isToken(s) {
		ps.add(p, "must be a valid header name, got "+quote(s))
		return
	}
	for _, r := range reservedTokenHeaders {
		if SameHeaderName(s, r) {
			ps.add(p, "must not be "+quote(r)+": the proxy or the upstream reads it for the request itself")
			return
		}
	}
}

// isEnvName reports whether s is a POSIX-style environment variable name.
func isEnvName(s string) bool {
	if s == "" || len(s) > 256 || '0' <= s[0] && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// ParseSigningKey decodes a signing key as signing_key and the variable
// named by signing_key_env hold it: the standard base64 of the 32 bytes of
// an Ed25519 seed (RFC 8032) for EdDSA, or of a P-256 private scalar
// (big-endian) for ES256. apiguard identity signing-key prints it. The
// error never contains the value.
func ParseSigningKey(alg, b64 string) (crypto.Signer, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
	if err != nil || len(b) != SigningKeySize {
		return nil, errors.New("must be the standard base64 of a 32-byte " + alg + " private key (apiguard identity signing-key prints it)")
	}
	switch alg {
	case AlgEdDSA:
		return ed25519.NewKeyFromSeed(b), nil
	case AlgES256:
		k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), b)
		if err != nil {
			return nil, errors.New("is not a valid P-256 private key (the scalar must lie between 1 and the group order)")
		}
		return k, nil
	}
	return nil, errors.New("unknown algorithm " + quote(alg))
}

// buildIdentityToken checks identity_token against the rest of the
// configuration, precomputes the constant parts of every token and adds
// the token's header to the headers every allowed request loses.
func (ps *parser) buildIdentityToken(p *Policy, c *config) {
	ic := c.identity
	if ic == nil {
		return
	}
	t := &ic.tok
	hp := ic.headerPath
	if hp.isZero() {
		hp = ic.path.member("header")
	}
	others := []struct{ name, what string }{
		{c.forward[0], "forward.consumer_header"}, {c.forward[1], "forward.key_id_header"},
		{c.forward[2], "forward.scopes_header"}, {c.quota.header, "forward.quota_header"},
	}
	for _, o := range others {
		if SameHeaderName(t.Header, o.name) {
			ps.add(hp, "must differ from "+o.what+" ("+quote(o.name)+")")
		}
	}
	for _, s := range c.sources {
		if s.query != "" || !SameHeaderName(s.header, t.Header) {
			continue
		}
		switch {
		case c.mode == "shadow":
			ps.add(hp, "must differ from the key source header "+quote(s.header)+" in shadow mode: shadow mode forwards the "+
				"credential as sent, and the token would replace it")
		case !c.hide:
			ps.add(hp, "must differ from the key source header "+quote(s.header)+" unless hide_credentials is true: "+
				"the token would replace the credential the upstream is meant to receive")
		}
	}
	if t.key != nil && t.KeyID != "" {
		if t.Header == "authorization" {
			t.prefix = "Bearer "
			t.scheme = len(t.prefix)
		}
		hdr := `{"alg":"` + t.Algorithm + `","kid":` + string(appendClaimString(nil, t.KeyID)) + `,"typ":"JWT"}`
		t.prefix += base64.RawURLEncoding.EncodeToString([]byte(hdr)) + "."
		head := appendClaimString([]byte(`{"iss":`), t.Issuer)
		head = appendClaimString(append(head, `,"aud":`...), t.Audience)
		t.claimsHead = string(head)
	}
	for mask, list := range p.remove {
		if !contains(list, t.Header) {
			p.remove[mask] = append(list[:len(list):len(list)], t.Header)
		}
	}
	p.identity = t
}

// TokenClaims are the variable claims of one token.
type TokenClaims struct {
	// Subject is the consumer id (sub), ClientID the key id (client_id).
	Subject, ClientID string
	// Scope is the consumer's scopes, space-separated ("" for none: no
	// scope claim).
	Scope string
	// Quota is the quota name ("" for none: no quota claim).
	Quota string
}

// ClaimsOf returns the claims of an allowed decision; ok is false when the
// decision identifies no consumer (a denial, a public route), which gets
// no token.
func ClaimsOf(d *Decision) (TokenClaims, bool) {
	if !d.Allow || d.Identity.Consumer == "" {
		return TokenClaims{}, false
	}
	c := TokenClaims{Subject: d.Identity.Consumer, ClientID: d.Identity.KeyID, Scope: d.Upstream.SetHeaders[2][1]}
	if d.RateLimit.Quota != nil {
		c.Quota = d.RateLimit.Quota.Name
	}
	return c, true
}

// ErrNoSigningKey is returned by Mint when the policy was compiled
// without resolving the signing key (see Options.LookupEnv).
var ErrNoSigningKey = errors.New("identity token: the signing key was not resolved")

// Mint returns the header value of a token for claims issued at iat: the
// JWS compact serialization (RFC 7515), after "Bearer " when the header is
// authorization. It allocates the value and little else.
func (t *IdentityToken) Mint(c TokenClaims, iat time.Time) (string, error) {
	if t.key == nil || t.prefix == "" {
		return "", ErrNoSigningKey
	}
	sec := iat.Unix()
	claims := make([]byte, 0, 160+len(t.claimsHead)+len(c.Subject)+len(c.ClientID)+len(c.Scope)+len(c.Quota))
	claims = append(claims, t.claimsHead...)
	claims = appendClaimString(append(claims, `,"sub":`...), c.Subject)
	claims = appendClaimString(append(claims, `,"client_id":`...), c.ClientID)
	if c.Scope != "" {
		claims = appendClaimString(append(claims, `,"scope":`...), c.Scope)
	}
	if c.Quota != "" {
		claims = appendClaimString(append(claims, `,"quota":`...), c.Quota)
	}
	claims = strconv.AppendInt(append(claims, `,"iat":`...), sec, 10)
	claims = strconv.AppendInt(append(claims, `,"exp":`...), sec+int64(t.Lifetime/time.Second), 10)
	claims = append(claims, '}')

	enc := base64.RawURLEncoding
	sigLen := ed25519.SignatureSize // 64, as ES256's r||s
	out := make([]byte, 0, len(t.prefix)+enc.EncodedLen(len(claims))+1+enc.EncodedLen(sigLen))
	out = append(out, t.prefix...)
	out = enc.AppendEncode(out, claims)
	signed := out[t.scheme:] // the JWS signing input: header.claims
	var sig []byte
	switch k := t.key.(type) {
	case ed25519.PrivateKey:
		sig = ed25519.Sign(k, signed)
	case *ecdsa.PrivateKey:
		digest := sha256.Sum256(signed)
		r, s, err := ecdsa.Sign(rand.Reader, k, digest[:])
		if err != nil {
			return "", errors.New("identity token: signing: " + err.Error())
		}
		var rs [64]byte
		r.FillBytes(rs[:32])
		s.FillBytes(rs[32:])
		sig = rs[:]
	default:
		return "", ErrNoSigningKey
	}
	out = append(out, '.')
	out = enc.AppendEncode(out, sig)
	return string(out), nil
}

// appendClaimString appends s as a JSON string. Every value the policy puts
// in a token is visible ASCII; anything else is escaped all the same, and
// invalid UTF-8 becomes U+FFFD, so that the claims are always valid JSON.
func appendClaimString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
			i++
		case c < 0x20 || c == 0x7f:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			i++
		case c < utf8.RuneSelf:
			b = append(b, c)
			i++
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, "\ufffd"...)
			} else {
				b = append(b, s[i:i+size]...)
			}
			i += size
		}
	}
	return append(b, '"')
}
