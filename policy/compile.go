package policy

import (
	"encoding/binary"
	"runtime"
	"strconv"
	"strings"
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
	// keys maps the SHA-256 of a key to its entry in entries. The map,
	// entries and keyIDs hold no pointers, so the garbage collector skips
	// the key table instead of marking two pointers per key at every cycle.
	keys    map[[32]byte]int32
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
	// snapConsumers the snapshot's consumer section (format version
	// snapVersion), so that the next snapshot with the same consumers
	// reuses them (Loader.startConsumers).
	base          *Policy
	snapConsumers []byte
	snapVersion   uint16

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
// collector once, between parsing and building.
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
// structures, recording every problem in ps.
func (ps *parser) build(c *config, seed uint64) *Policy {
	p := &Policy{
		shadow:       c.mode == "shadow",
		logAllowed:   c.logAllowed,
		hide:         c.hide,
		unmatched:    c.unmatched == "allow_authenticated",
		format:       c.format,
		limits:       c.limits,
		defaultLimit: -1,
		anonBuckets:  uint64(c.anonBuckets),
		cache:        newKeyCache(),
	}
	p.anonSeed = seed

	limitIndex := map[string]int{}
	for i, l := range c.limits {
		limitIndex[l.Name] = i
	}
	limitUsed := make([]bool, len(c.limits))
	resolveLimit := func(path jsonPath, name string) int {
		if path.isZero() {
			return -1
		}
		i, ok := limitIndex[name]
		if !ok {
			if !c.limitsUnsure && !c.badLimits[name] { // else it follows from another error
				ps.add(path, "unknown rate limit policy "+quote(name))
			}
			return -1
		}
		limitUsed[i] = true
		return i
	}
	p.defaultLimit = resolveLimit(c.defaultPath, c.defaultLimit)

	profiles := map[string]*profile{}
	for _, pr := range c.profiles {
		pr.precompute()
		profiles[pr.name] = pr
		if pr.seal != nil {
			p.seals = append(p.seals, pr.seal)
		}
	}

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
	profileUsed := ps.buildRoutes(p, c, profiles, resolveLimit, intern)
	p.routeLimits = make([]bool, len(p.limits))
	p.eachRoute(func(r *route) {
		if !r.public && r.limit >= 0 {
			p.routeLimits[r.limit] = true
		}
	})
	quotas := ps.newQuotaResolver(&c.quota)
	ps.buildConsumers(p, c, resolveLimit, quotas.resolve, intern)
	ps.buildQuotas(p, c, quotas)
	p.buildAnonymous()
	ps.buildIdentityToken(p, c)
	p.keyStore = c.keyStore
	p.keyPolicy = c.keyPolicy
	switch {
	case c.keyStore == nil:
		ps.warnUngrantedScopes(c, p.consumers, p.scopeSets)
	case ps.snapConsumers != nil: // else the snapshot, unknown here, grants the scopes
		ps.warnUngrantedScopes(c, ps.snapConsumers, ps.snapSets)
	}
	for i := range ps.snapConsumers {
		if l := int(ps.snapConsumers[i].limit); l >= 0 && l < len(limitUsed) {
			limitUsed[l] = true
		}
	}
	for i, l := range c.limits {
		if !limitUsed[i] {
			ps.warn(c.limitPaths[i], "rate limit policy "+quote(l.Name)+" is not used by any route, consumer or default_rate_limit")
		}
	}
	for i, pr := range c.profiles {
		if !profileUsed[pr.name] {
			ps.warn(c.profilePaths[i], "pagination profile "+quote(pr.name)+" is not used by any route")
		}
	}
	p.warnings = ps.warns
	return p
}

// warnUngrantedScopes warns about route scopes that no consumer is granted:
// every authenticated request to such a route is denied.
func (ps *parser) warnUngrantedScopes(c *config, consumers []consumer, sets []*scopeSet) {
	granted := map[string]bool{}
	for i := range consumers {
		for _, s := range sets[consumers[i].set].scopes {
			granted[s] = true
		}
	}
	for i := range c.routes {
		rc := &c.routes[i]
		if rc.public {
			continue
		}
		for j, s := range rc.scopes {
			if !granted[s] {
				ps.warn(rc.path.member("scopes").elem(j),
					"no consumer is granted scope "+quote(s)+": every request to this route will be denied (403)")
			}
		}
	}
}

// buildSources checks the key sources against the other header and
// parameter names and precomputes the RemoveHeaders variants.
func (ps *parser) buildSources(p *Policy, c *config) {
	var headers []string
	bit := uint(0)
	for i := range c.sources {
		s := &c.sources[i]
		if s.query != "" {
			p.queryParams = append(p.queryParams, s.query)
			continue
		}
		s.bit = bit
		bit++
		headers = append(headers, s.header)
	}
	p.sources = c.sources

	names := []string{"consumer_header", "key_id_header", "scopes_header"}
	for i, h := range c.forward {
		path := c.forwardPaths[i]
		if path.isZero() {
			path = jsonPath{}.member("forward").member(names[i])
		}
		for j := 0; j < i; j++ {
			if c.forward[j] == h {
				ps.add(path, "must differ from "+names[j]+" ("+quote(h)+")")
			}
		}
		for _, kh := range headers {
			if kh == h {
				ps.add(path, "must differ from the key source header "+quote(h))
			}
		}
	}
	ps.checkProfileParams(c, p.queryParams)

	ps.checkQuotaHeader(c, headers)
	p.remove = make([][]string, 1<<bit)
	p.forward = c.forward
	for mask := range p.remove {
		list := []string{c.forward[0], c.forward[1], c.forward[2]}
		if c.hide {
			for _, s := range c.sources {
				if s.query == "" && mask&(1<<s.bit) != 0 && !contains(list, s.header) {
					list = append(list, s.header)
				}
			}
		}
		p.remove[mask] = list[:len(list):len(list)]
	}
}

// buildRoutes resolves route references and builds the router.
// It returns the names of the profiles that routes use.
func (ps *parser) buildRoutes(p *Policy, c *config, profiles map[string]*profile, resolveLimit func(path jsonPath, name string) int, intern func(string) int) map[string]bool {
	used := map[string]bool{}
	names := map[string]*routeConf{}
	for i := range c.routes {
		rc := &c.routes[i]
		r := &route{index: i, name: rc.name, methods: rc.methods, public: rc.public, scopes: rc.scopes, limit: resolveLimit(rc.limitPath, rc.rateLimit)}
		if prev, dup := names[rc.name]; dup && rc.name != "" {
			ps.add(rc.path.member("name"), "duplicate route name "+quote(rc.name)+" (also "+prev.path.String()+")")
		} else {
			names[rc.name] = rc
		}
		if !rc.paginationPath.isZero() {
			used[rc.pagination] = true
			if pr, ok := profiles[rc.pagination]; ok {
				r.profile = pr
			} else if !c.profilesUnsure && !c.badProfiles[rc.pagination] { // else it follows from another error
				ps.add(rc.paginationPath, "unknown profile "+quote(rc.pagination))
			}
		}
		for _, s := range rc.scopes {
			r.scopeIDs = append(r.scopeIDs, intern(s))
		}
		if rc.patternOK {
			if prev := p.router.add(r, rc.pattern, rc.rawPattern); prev != nil {
				pc := &c.routes[prev.index]
				ps.add(rc.pathPath, "route "+quote(rc.name)+" and route "+quote(pc.name)+" ("+pc.path.String()+
					") have the same path pattern and a method in common: give them distinct methods, or merge them")
			}
		}
	}
	return used
}

// buildConsumers checks identities, builds the key table and, through the
// consumer builder, every per-consumer string used by Decide. quota
// resolves a consumer's quota name.
func (ps *parser) buildConsumers(p *Policy, c *config, resolveLimit func(path jsonPath, name string) int,
	resolveQuota func(path jsonPath, name string) int, intern func(string) int) {
	nKeys, idLen := 0, 0
	for _, cc := range c.consumers {
		nKeys += len(cc.keys)
		for _, kc := range cc.keys {
			idLen += len(kc.id)
		}
	}
	p.keys = make(map[[32]byte]int32, nKeys)
	entries := make([]keyEntry, nKeys)
	var ids strings.Builder
	ids.Grow(idLen)
	consumers := make([]consumer, len(c.consumers))
	consumerIDs := make(map[string]*consumerConf, len(c.consumers))
	keyIDs := make(map[string]keyRef, nKeys)
	refs := make([]keyRef, nKeys) // of entries, to name a duplicate hash's first key
	b := newConsumerBuilder(p, func(s string) (int, bool) { return intern(s), true })

	k := 0
	for ci := range c.consumers {
		cc := &c.consumers[ci]
		ps.uniqueConsumerID(consumerIDs, cc)
		consumers[ci] = b.build(cc.id, sortedScopes(cc.scopes), resolveLimit(cc.limitPath, cc.rateLimit),
			resolveQuota(cc.quotaPath, cc.quota))

		for ki := range cc.keys {
			kc := &cc.keys[ki]
			ref := keyRef{int32(ci), int32(ki)}
			ps.uniqueKeyID(keyIDs, c, ref, kc)
			if ps.now != 0 && kc.notAfter != noUpperBound && kc.notAfter <= ps.now {
				ps.warn(ref.path(c).member("not_after"), "key "+quote(kc.id)+" has already expired: every request with it is "+
					"denied (401 expired); remove it once its use has stopped showing in the logs")
			}
			if !kc.sumOK {
				continue
			}
			if prev, dup := p.keys[kc.sum]; dup {
				ps.add(ref.path(c).member("sha256"), "duplicate key hash (also "+refs[prev].path(c).String()+")")
				continue
			}
			refs[k] = ref
			start := ids.Len()
			ids.WriteString(kc.id)
			entries[k] = keyEntry{notBefore: kc.notBefore, notAfter: kc.notAfter,
				idStart: uint32(start), idEnd: uint32(ids.Len()), consumer: int32(ci), revoked: kc.revoked}
			p.keys[kc.sum] = int32(k)
			k++
		}
		ps.warnNoKeys(cc)
		cc.keys = nil // built: let the collector have them
	}
	p.consumers = consumers
	b.finish()
	p.entries = entries[:k:k]
	p.keyIDs = ids.String()
}

// keyRef locates a key in config.consumers by indices, a quarter of the
// size of a pointer and a jsonPath.
// uniqueConsumerID records cc's id, reporting a duplicate of an earlier one.
func (ps *parser) uniqueConsumerID(seen map[string]*consumerConf, cc *consumerConf) {
	if !cc.idOK {
		return
	}
	if prev, dup := seen[cc.id]; dup {
		ps.add(cc.path.member("id"), "duplicate consumer id "+quote(cc.id)+" (also "+prev.path.String()+")")
		return
	}
	seen[cc.id] = cc
}

// uniqueKeyID records the id of the key at ref, reporting a duplicate.
func (ps *parser) uniqueKeyID(seen map[string]keyRef, c *config, ref keyRef, kc *keyConf) {
	if !kc.idOK {
		return
	}
	if prev, dup := seen[kc.id]; dup {
		ps.add(ref.path(c).member("id"), "duplicate key id "+quote(kc.id)+" (also "+prev.path(c).String()+")")
		return
	}
	seen[kc.id] = ref
}

// warnNoKeys warns about a consumer without keys.
func (ps *parser) warnNoKeys(cc *consumerConf) {
	if len(cc.keys) == 0 && cc.idOK {
		ps.warn(cc.path.member("keys"), "consumer "+quote(cc.id)+" has no keys: it can never be authenticated")
	}
}

type keyRef struct {
	consumer, key int32
}

// path returns the JSON path of the key.
func (r keyRef) path(c *config) jsonPath {
	return c.consumers[r.consumer].path.member("keys").elem(int(r.key))
}

// buildAnonymous precomputes the anonymous bucket keys of the rate-limit
// policies used by public routes, and the partition key of each slot.
func (p *Policy) buildAnonymous() {
	used := make([]bool, len(p.limits))
	any := false
	p.eachRoute(func(r *route) {
		if r.public && r.limit >= 0 {
			used[r.limit], any = true, true
		}
	})
	if !any {
		return
	}
	n := int(p.anonBuckets)
	p.anonPK = make([]string, n)
	var b strings.Builder
	for slot := 0; slot < n; slot++ {
		b.WriteString(shortHash(p.anonSeed^0x616e6f6e, strconv.Itoa(slot)))
	}
	all := b.String()
	for slot := range p.anonPK {
		p.anonPK[slot] = all[16*slot : 16*slot+16]
	}
	p.anonKeys = make([][]string, len(p.limits))
	for li, l := range p.limits {
		if !used[li] {
			continue
		}
		keys := make([]string, n)
		var b strings.Builder
		offsets := make([]int, n+1)
		for slot := 0; slot < n; slot++ {
			b.WriteString("anon/" + l.Name + "/" + strconv.Itoa(slot))
			offsets[slot+1] = b.Len()
		}
		all := b.String()
		for slot := range keys {
			keys[slot] = all[offsets[slot]:offsets[slot+1]]
		}
		p.anonKeys[li] = keys
	}
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
		for _, c := range n.literal {
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
	h := mix64(fnv1a(seed, s))
	const digits = "0123456789abcdef"
	var b [16]byte
	for i := 15; i >= 0; i-- {
		b[i] = digits[h&15]
		h >>= 4
	}
	return string(b[:])
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
