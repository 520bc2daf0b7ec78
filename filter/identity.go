package main

import (
	"strings"
	"time"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"

	"github.com/apiguard/apiguard/policy"
)

// The identity token (policy/identity_token.go mints it): a signature costs
// far more than the rest of a request, so each worker keeps the tokens it
// minted and sends the same one again until 80 % of its lifetime has
// passed. The cache lives in the plugin context: a configuration push (a
// new plugin context) or a new signing key (a new VM) starts over.

// maxCachedTokens bounds a worker's token cache: about 0.5 KiB each. When
// full, tokens due for renewal go first, then the whole cache.
const maxCachedTokens = 4096

// renewAfter is the share of a token's lifetime after which it is minted
// again, so that the upstream receives a token with at least a fifth of
// its lifetime left.
const renewAfter = 0.8

// tokenKey is what a token says besides the times: consumer, key id, the
// consumer's scopes and the request's quota (a route's quota overrides the
// consumer's, and a key store reload can change a consumer's scopes).
type tokenKey struct {
	consumer, keyID, scope, quota string
}

// cachedToken is a minted header value and its times (Unix nanoseconds).
type cachedToken struct {
	value          string
	issued, renews int64
}

// tokenCache holds a worker's tokens.
type tokenCache struct {
	tok     *policy.IdentityToken
	renewIn int64 // nanoseconds from issue to renewal
	m       map[tokenKey]cachedToken
}

func newTokenCache(tok *policy.IdentityToken) *tokenCache {
	return &tokenCache{tok: tok, renewIn: int64(float64(tok.Lifetime) * renewAfter), m: make(map[tokenKey]cachedToken, 64)}
}

// mint is the signing step, a variable so that a test can make it fail
// (no host makes Ed25519 or ECDSA signing fail).
var mint = (*policy.IdentityToken).Mint

// value returns the header value of the token for claims at now, minted
// when the cache has none that is fresh; minted reports a new signature.
// A request time before a token's issue (requests of one worker are not
// strictly ordered by their start) reuses it only within a second.
func (c *tokenCache) value(claims policy.TokenClaims, now time.Time) (v string, minted bool, err error) {
	k := tokenKey{claims.Subject, claims.ClientID, claims.Scope, claims.Quota}
	t := now.UnixNano()
	if e, ok := c.m[k]; ok && t < e.renews && t >= e.issued-int64(time.Second) {
		return e.value, false, nil
	}
	// Whole seconds: iat and exp are NumericDates, and the renewal is
	// counted from the iat the upstream sees.
	iat := time.Unix(now.Unix(), 0)
	v, err = mint(c.tok, claims, iat)
	if err != nil {
		return "", false, err
	}
	if len(c.m) >= maxCachedTokens {
		c.evict(t)
	}
	// The strings may be views of a key snapshot: copies keep it from
	// living on after a reload.
	k = tokenKey{strings.Clone(k.consumer), strings.Clone(k.keyID), strings.Clone(k.scope), strings.Clone(k.quota)}
	c.m[k] = cachedToken{value: v, issued: iat.UnixNano(), renews: iat.UnixNano() + c.renewIn}
	return v, true, nil
}

// evict drops the tokens due for renewal at t, or every token when that
// is not enough.
func (c *tokenCache) evict(t int64) {
	for k, e := range c.m {
		if t >= e.renews {
			delete(c.m, k)
		}
	}
	if len(c.m) >= maxCachedTokens {
		clear(c.m)
	}
}

// setIdentityToken sets the token of an allowed decision that identifies a
// consumer. It reports false when no token could be minted: the caller
// must then fail the request, never forward it without its token. The
// token itself is never logged.
func (p *pluginContext) setIdentityToken(d *policy.Decision, now time.Time) bool {
	if p.tokens == nil {
		return true
	}
	claims, ok := policy.ClaimsOf(d)
	if !ok {
		return true
	}
	v, minted, err := p.tokens.value(claims, now)
	if err != nil {
		p.metrics.tokenFailures.Increment(1)
		proxywasm.LogErrorf("apiguard: identity token for consumer %q: %v", claims.Subject, err)
		return false
	}
	if minted {
		p.metrics.tokensMinted.Increment(1)
	}
	if err := replaceRequestHeader(p.tokens.tok.Header, v); err != nil {
		p.metrics.tokenFailures.Increment(1)
		proxywasm.LogErrorf("apiguard: setting header %q: %v", p.tokens.tok.Header, err)
		return false
	}
	return true
}
