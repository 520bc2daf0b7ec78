package policy

import (
	"crypto/ed25519"
	"encoding/base64"
	"strconv"
	"time"

	"github.com/tidwall/gjson"
)

// Limits of the key_store section.
const (
	minKeyStoreRefresh     = time.Second
	maxKeyStoreRefresh     = time.Hour
	defaultKeyStoreTimeout = 2 * time.Second
	minKeyStoreTimeout     = 10 * time.Millisecond
	defaultChunkSize       = 4 << 20
	minChunkSize           = 1 << 10
	maxChunkSize           = 1 << 30
	// DefaultMaxSnapshotSize is key_store.max_size unless set: room for
	// about 2 million keys with 20-byte key ids, one consumer each with a
	// few scopes (a key record is 40 bytes, a consumer about 60).
	DefaultMaxSnapshotSize = 256 << 20
	minMaxSnapshotSize     = 4 << 10
	maxMaxSnapshotSize     = 2 << 30
)

// KeyStoreConfig is the compiled key_store section: where the filter
// fetches its key snapshot from, how often, and the key that signs it.
type KeyStoreConfig struct {
	// Cluster is the Envoy cluster of the store; Authority and Path are
	// the :authority and :path of the request.
	Cluster, Authority, Path string
	// Refresh is the interval between fetches; Timeout bounds one fetch.
	Refresh, Timeout time.Duration
	// PublicKey verifies the snapshots; nil only when AllowUnsigned.
	PublicKey     ed25519.PublicKey
	AllowUnsigned bool
	// ChunkSize is the size of the ranges the snapshot is fetched in (Range
	// requests, one HTTP call each, so that no callback copies a large
	// body at once); 0 fetches it whole.
	ChunkSize int
	// MaxSize bounds a snapshot's size in bytes: a larger one is refused
	// (too_large) from its signed header, before any room is made for it.
	MaxSize int64
	// Audience must equal the audience a snapshot is signed for ("" for
	// snapshots built without one): a snapshot built for another
	// deployment is refused (wrong_audience).
	Audience string
}

// Identity names the key store: its cluster, authority, path, public key
// and audience. Two configurations with the same identity load the same
// snapshots, so a verified snapshot of one serves the other (a
// configuration push), and the generation floor is kept per identity.
func (ks *KeyStoreConfig) Identity() string {
	return ks.Cluster + "\x00" + ks.Authority + "\x00" + ks.Path + "\x00" + string(ks.PublicKey) + "\x00" + ks.Audience
}

// KeyStore returns the key_store section, or nil when the keys are inline
// (the consumers section).
func (p *Policy) KeyStore() *KeyStoreConfig { return p.keyStore }

// KeysLoaded reports whether the policy has keys to check requests
// against: always for inline keys; with a key store, once a snapshot was
// loaded (see Loader).
func (p *Policy) KeysLoaded() bool { return p.keyStore == nil || p.snap != nil }

// KeyStoreUnavailable turns a denial of Decide made while a key store has
// no snapshot loaded (KeysLoaded false) into a 503 key_store_unavailable
// with a Retry-After of retryAfter seconds, when the denial is one a key
// could have changed: an authentication failure. Other decisions (public
// routes, bad paths) are returned unchanged.
func KeyStoreUnavailable(d Decision, retryAfter int) Decision {
	if d.Allow {
		return d
	}
	switch d.Reason {
	case ReasonMissing, ReasonMalformed, ReasonUnknown, ReasonRevoked, ReasonExpired,
		ReasonNotYetValid, ReasonInvalidRequest:
	default:
		return d
	}
	out := deny(ReasonKeyStoreUnavailable, "the API keys are not available yet; try again later")
	out.Route, out.Identity.KeyPresented = d.Route, d.Identity.KeyPresented
	out.Problem.ResponseHeaders = [][2]string{{"retry-after", strconv.Itoa(max(retryAfter, 1))}}
	return out
}

// keyStoreParse is key_store being read, with the paths its checks name.
type keyStoreParse struct {
	ks                             KeyStoreConfig
	timeoutPath, keyPath, unsigned jsonPath
	hasTimeout                     bool
}

// keyStoreFields are key_store's (docs/key-store.md).
var keyStoreFields = schema[keyStoreParse]{docPath: "key_store.", docPage: "key-store.md", fields: []field[keyStoreParse]{
	{name: "cluster", required: true, read: func(ps *parser, p jsonPath, v gjson.Result, k *keyStoreParse) bool {
		if s, ok := ps.str(p, v); ok {
			if s == "" {
				ps.add(p, "must not be empty")
			}
			k.ks.Cluster = ps.keep(s)
		}
		return true
	}, doc: "the Envoy cluster of the store"},
	{name: "authority", read: func(ps *parser, p jsonPath, v gjson.Result, k *keyStoreParse) bool {
		if s, ok := ps.str(p, v); ok {
			if s == "" || !isVisibleASCII(s) {
				ps.add(p, "must be a host name (visible ASCII)")
			}
			k.ks.Authority = ps.keep(s)
		}
		return true
	}, doc: "the :authority of the request; the cluster when absent"},
	{name: "path", required: true, read: func(ps *parser, p jsonPath, v gjson.Result, k *keyStoreParse) bool {
		if s, ok := ps.str(p, v); ok {
			if len(s) == 0 || s[0] != '/' || !isVisibleASCII(s) {
				ps.add(p, "must be a request path starting with \"/\", got "+quote(s))
			}
			k.ks.Path = ps.keep(s)
		}
		return true
	}, doc: "the :path of the request"},
	{name: "refresh", read: func(ps *parser, p jsonPath, v gjson.Result, k *keyStoreParse) bool {
		readStoreDuration(&k.ks.Refresh, ps, p, v, minKeyStoreRefresh, maxKeyStoreRefresh)
		return true
	}, def: `"10s"`, doc: "how often each worker fetches"},
	{name: "timeout", read: func(ps *parser, p jsonPath, v gjson.Result, k *keyStoreParse) bool {
		k.timeoutPath, k.hasTimeout = p, true
		readStoreDuration(&k.ks.Timeout, ps, p, v, minKeyStoreTimeout, maxKeyStoreRefresh)
		return true
	}, doc: "how long one fetch may take; 2s, or refresh if shorter, when absent"},
	{name: "public_key", read: func(ps *parser, p jsonPath, v gjson.Result, k *keyStoreParse) bool {
		k.keyPath = p
		if s, ok := ps.str(p, v); ok {
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil || len(b) != ed25519.PublicKeySize {
				ps.add(p, "must be an Ed25519 public key in base64 (32 bytes; apiguard keys signing-key prints it)")
			} else {
				k.ks.PublicKey = ed25519.PublicKey(b)
			}
		}
		return true
	}, doc: "the Ed25519 key snapshots are signed with"},
	{name: "chunk_size", read: func(ps *parser, p jsonPath, v gjson.Result, k *keyStoreParse) bool {
		if n, ok := ps.integer(p, v, 0, maxChunkSize); ok {
			if n != 0 && n < minChunkSize {
				ps.add(p, "must be 0 (no ranges) or at least 1024 bytes")
			}
			k.ks.ChunkSize = int(n)
		}
		return true
	}, def: strconv.Itoa(defaultChunkSize), doc: "the size of the ranges a snapshot is fetched in"},
	{name: "allow_unsigned", read: func(ps *parser, p jsonPath, v gjson.Result, k *keyStoreParse) bool {
		k.unsigned = p
		k.ks.AllowUnsigned, _ = ps.boolean(p, v)
		return true
	}, doc: "accept unsigned snapshots, for tests"},
	{name: "max_size", read: func(ps *parser, p jsonPath, v gjson.Result, k *keyStoreParse) bool {
		if n, ok := ps.integer(p, v, minMaxSnapshotSize, maxMaxSnapshotSize); ok {
			k.ks.MaxSize = n
		}
		return true
	}, def: strconv.Itoa(DefaultMaxSnapshotSize), doc: "the largest snapshot accepted, in bytes"},
	{name: "audience", read: func(ps *parser, p jsonPath, v gjson.Result, k *keyStoreParse) bool {
		if s, ok := ps.str(p, v); ok {
			if len(s) > 63 || !isVisibleASCII(s) {
				ps.add(p, "must be at most 63 visible ASCII characters (the audience apiguard keys build --audience signed)")
			}
			k.ks.Audience = ps.keep(s)
		}
		return true
	}, doc: "the audience snapshots must be signed for"},
}}

// readStoreDuration reads a duration of key_store in [min, max] into dst.
func readStoreDuration(dst *time.Duration, ps *parser, p jsonPath, v gjson.Result, min, max time.Duration) {
	s, ok := ps.str(p, v)
	if !ok {
		return
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < min || d > max {
		ps.add(p, "must be a duration between "+min.String()+" and "+max.String()+" such as \"10s\", got "+quote(s))
		return
	}
	*dst = d
}

// parseKeyStore reads key_store.
func (ps *parser) parseKeyStore(path jsonPath, v gjson.Result) *KeyStoreConfig {
	var k keyStoreParse
	if !readObject(ps, &keyStoreFields, path, v, &k) {
		return nil
	}
	ks := &k.ks
	if ks.Authority == "" {
		ks.Authority = ks.Cluster
	}
	switch {
	case !k.hasTimeout:
		ks.Timeout = min(defaultKeyStoreTimeout, ks.Refresh)
	case ks.Timeout > ks.Refresh:
		ps.add(k.timeoutPath, "must not be longer than refresh ("+ks.Refresh.String()+")")
	}
	switch {
	case k.keyPath.isZero() && !ks.AllowUnsigned:
		ps.add(path.member("public_key"), `is required (or "allow_unsigned": true, for tests only)`)
	case !k.keyPath.isZero() && ks.AllowUnsigned:
		ps.add(k.unsigned, "must not be true with public_key: with a public key every snapshot must be signed")
	}
	if ks.AllowUnsigned {
		ps.warn(k.unsigned, "unsigned key snapshots are accepted: anyone who can write the key store can mint keys")
	}
	return ks
}

// checkKeyStoreExclusive reports a configuration with both consumers and
// key_store.
func (ps *parser) checkKeyStoreExclusive(c *config) {
	if c.keyStorePath.isZero() || c.consumersPath.isZero() {
		return
	}
	ps.add(c.keyStorePath, "must not be used with "+c.consumersPath.String()+
		": keys come either from the configuration (consumers) or from a key store (key_store), not both")
}
