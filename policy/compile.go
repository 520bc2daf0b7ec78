package policy

import (
	"encoding/binary"
	"runtime"
	"time"
	"unsafe"

	"github.com/tidwall/gjson"
)

// Policy is a compiled configuration. It is immutable after Compile and safe
// for concurrent use by any number of goroutines.
type Policy struct {
	shadow     bool
	logAllowed bool
	hide       bool
	unmatched  bool // true: allow_authenticated

	sources     []keySource
	queryParams []string // names of the query sources
	format      *keyFormat
	// keys finds the entry in entries of a key by its SHA-256. The index,
	// entries and keyIDs hold no pointers, so the garbage collector skips
	// the key table instead of marking two pointers per key at every cycle.
	keys    sumIndex
	entries []keyEntry
	keyIDs  string // every key id, back to back (see keyEntry.idStart)
	router  router

	// remove[mask] lists the headers to drop upstream when the header
	// sources in mask were present: the identity headers always, the
	// credential headers when hide_credentials.
	remove [][]string
	// forward are the names of the identity headers: consumer, key id, scopes.
	forward [3]string

	limits       []*Limit
	routeLimits  []bool     // [limit]: a non-public route names it
	defaultLimit int        // index into limits, -1 for none
	consumers    []consumer // every consumer, for BucketKeys

	anonBuckets uint64
	anonSeed    uint64
	anonKeys    [][]string // [limit][slot], only for limits of public routes
	anonPK      []string   // [slot]

	quotas       []*Quota // see quota.go
	defaultQuota int      // index into quotas, -1 for none
	quotaHeader  string

	warnings []FieldError

	// keyStore is the key_store section, nil when keys are inline;
	// snap is the loaded snapshot's key index (keystore_load.go), nil
	// until one is loaded and for inline keys.
	keyStore *KeyStoreConfig
	snap     *snapIndex
	// base is the configuration a snapshot's policy was loaded against and
	// snapVersion the snapshot's format, so that the next snapshot with the
	// same consumer section reuses them (Loader.startConsumers).
	base        *Policy
	snapVersion uint16

	// keyPolicy is the key_policy section, nil for none (key_policy.go).
	keyPolicy *KeyPolicy
	// seals are the cursor_seal sections of the profiles (cursor_seal.go).
	seals []*CursorSeal
	// consumerText holds the consumers' strings, scopeSets what consumers
	// with the same scopes share, limitKeyOff[i] where the bucket key
	// under limits[i] starts after a consumer's id, less i times the id's
	// length (consumer_build.go).
	consumerText [][]byte
	scopeSets    []*scopeSet
	limitKeyOff  []int

	identity *IdentityToken // identity_token.go, nil for none

	// cache remembers recently verified keys (keycache.go).
	cache *keyCache
}

// Warnings lists what in the configuration is valid but probably not
// meant: a route scope no consumer is granted, a consumer without keys.
// The filter logs them at start; apiguard validate prints them.
func (p *Policy) Warnings() []FieldError { return p.warnings }

// IdentityHeaders returns the names of the identity headers (consumer, key
// id, scopes). Client-supplied copies must be removed in every mode and
// under every spelling SameHeaderName accepts.
func (p *Policy) IdentityHeaders() [3]string { return p.forward }

// Shadow reports whether the policy runs in shadow mode: decisions are
// reported but never enforced.
func (p *Policy) Shadow() bool { return p.shadow }

// LogAllowed reports whether allowed requests should be logged too.
func (p *Policy) LogAllowed() bool { return p.logAllowed }

// collectAbove is the configuration size from which Compile collects
// garbage between parsing and building.
const collectAbove = 1 << 20

// Compile parses and validates the filter configuration (JSON) and builds
// the immutable lookup structures used by Decide. On an invalid
// configuration the error is a *ConfigError listing every problem found.
//
// Compile neither modifies config nor retains it (or any part of it) after
// it returns; the caller must not modify config during the call. For a
// configuration of collectAbove bytes or more, Compile runs the garbage
// collector once, between parsing and building; in a wasm VM no other
// collection runs while it does (compileGC).
func Compile(config []byte) (*Policy, error) {
	return compile(config, parser{})
}

// CompileAt is Compile, and also warns about keys whose not_after is not
// after now: they can no longer authenticate anything. The compiled Policy
// does not depend on now.
func CompileAt(config []byte, now time.Time) (*Policy, error) {
	return compile(config, parser{now: unixNano(now)})
}

func compile(config []byte, ps parser) (*Policy, error) {
	defer holdGC()()
	if !ps.checkDocument(config) {
		return nil, &ConfigError{Errors: ps.errs}
	}
	// gjson.ParseBytes would copy the whole document into a string. The
	// view is safe because config does not change during Compile and every
	// string the Policy or the errors keep is a copy (see parser.keep).
	root := gjson.Parse(unsafe.String(unsafe.SliceData(config), len(config)))
	if !root.IsObject() {
		ps.add(jsonPath{}, "configuration must be a JSON object, got "+typeName(root))
		return nil, &ConfigError{Errors: ps.errs}
	}
	seed := configSeed(config)
	collect := len(config) >= collectAbove
	c := ps.parseConfig(root)
	ps.index = nil // a view of the text, which the collection frees
	// The parsed configuration shares no memory with the text (see
	// parser.keep and fieldNames), and the text is not used below, so a
	// collection here frees the text and the parser's garbage before build
	// allocates the tables. This lowers the peak of a large Compile, which
	// in a wasm VM stays as linear memory for good: 47.5 instead of 63 MiB
	// for 100k keys (18.5 MB of JSON).
	if collect {
		runtime.GC()
	}
	p := ps.build(c, seed)
	if len(ps.errs) > 0 {
		return nil, &ConfigError{Errors: ps.errs}
	}
	return p, nil
}

// build resolves references between sections and builds the lookup
// structures, recording every problem in ps: a driver over the features'
// builders.
func (ps *parser) build(c *config, seed uint64) *Policy {
	p := &Policy{
		shadow:       c.mode == "shadow",
		logAllowed:   c.logAllowed,
		hide:         c.hide,
		unmatched:    c.unmatched == "allow_authenticated",
		format:       c.format,
		limits:       c.limits,
		anonBuckets:  uint64(c.anonBuckets),
		anonSeed:     seed,
		keyStore:     c.keyStore,
		keyPolicy:    c.keyPolicy,
		defaultLimit: -1,
		cache:        newKeyCache(),
	}
	limits := ps.newLimitResolver(c)
	p.defaultLimit = limits.resolve(c.defaultPath, c.defaultLimit)
	profiles := p.buildProfiles(c)
	ps.buildSources(p, c)
	scopeIDs := map[string]int{}
	intern := func(s string) int {
		id, ok := scopeIDs[s]
		if !ok {
			id = len(scopeIDs)
			scopeIDs[s] = id
		}
		return id
	}
	profileUsed := ps.buildRoutes(p, c, profiles, limits.resolve, intern)
	p.buildRouteLimits()
	quotas := ps.newQuotaResolver(&c.quota)
	ps.buildConsumers(p, c, limits.resolve, quotas.resolve, intern)
	ps.buildQuotas(p, c, quotas)
	p.buildAnonymous()
	ps.buildIdentityToken(p, c)
	switch {
	case c.keyStore == nil:
		ps.warnUngrantedScopes(c, p.consumers, p.scopeSets)
	case ps.snapConsumers != nil: // else the snapshot, unknown here, grants the scopes
		ps.warnUngrantedScopes(c, ps.snapConsumers, ps.snapSets)
	}
	limits.warnUnused()
	ps.warnUnusedProfiles(c, profileUsed)
	p.warnings = ps.warns
	return p
}

// eachRoute calls fn for every compiled route.
func (p *Policy) eachRoute(fn func(*route)) {
	each := func(rs []*route) {
		for _, r := range rs {
			fn(r)
		}
	}
	var visit func(n *node)
	visit = func(n *node) {
		if n == nil {
			return
		}
		each(n.end)
		each(n.wildcard)
		visit(n.param)
		for _, c := range n.literal.nodes {
			visit(c)
		}
	}
	for _, rs := range p.router.exact {
		each(rs)
	}
	visit(p.router.root)
}

// shortHash returns 16 lowercase hex digits of a seeded 64-bit hash of s.
func shortHash(seed uint64, s string) string {
	return string(appendShortHash(make([]byte, 0, 16), seed, s))
}

// appendShortHash appends shortHash(seed, s) to b.
func appendShortHash(b []byte, seed uint64, s string) []byte {
	h := mix64(fnv1a(seed, s))
	const digits = "0123456789abcdef"
	var d [16]byte
	for i := 15; i >= 0; i-- {
		d[i] = digits[h&15]
		h >>= 4
	}
	return append(b, d[:]...)
}

// fnv1a is the 64-bit FNV-1a hash of s, starting from offset basis ^ seed.
func fnv1a(seed uint64, s string) uint64 {
	h := uint64(14695981039346656037) ^ seed
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// configSeed derives the seed of the anonymous-slot and partition-key hashes
// from the configuration text, so that every VM running one configuration
// agrees on them, and a client that does not know the configuration cannot
// predict them. It is not a cryptographic hash and needs not be: it reads 8
// bytes per step, where SHA-256 of an 18.5 MB configuration took 0.6 s in
// a wasm VM.
func configSeed(config []byte) uint64 {
	h := uint64(len(config))
	for len(config) >= 8 {
		h = mix64(h ^ binary.LittleEndian.Uint64(config))
		config = config[8:]
	}
	var tail [8]byte
	copy(tail[:], config)
	return mix64(h ^ binary.LittleEndian.Uint64(tail[:]))
}

// mix64 is the splitmix64 finalizer: it spreads every input bit over the
// whole result, so that taking the value modulo a small number is fair.
func mix64(h uint64) uint64 {
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}

// contains reports whether list holds s.
func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
