// Consumers and their keys, inline in the configuration: reading the
// consumers section, and building the key table Decide looks keys up in.
// (A key store's consumers are read by keystore_consumers.go with the same
// fields; consumer_build.go lays out each consumer's strings.)

package policy

import (
	"strings"

	"github.com/tidwall/gjson"
)

// consumerConf is a parsed consumer.
type consumerConf struct {
	path      jsonPath
	id        string
	scopes    []string
	rateLimit string
	limitPath jsonPath
	keys      []keyConf
	idOK      bool
	quota     string
	quotaPath jsonPath
}

// consumerFields are the fields of an element of consumers.
var consumerFields = schema[consumerConf]{docPath: "consumers[].", docPage: "configuration.md", fields: []field[consumerConf]{
	{name: "id", required: true, read: func(ps *parser, p jsonPath, v gjson.Result, c *consumerConf) bool {
		s, present, ok := ps.identifier(p, v)
		if present {
			c.id, c.idOK = s, ok
		}
		return present
	}, doc: "the identity forwarded upstream"},
	{name: "scopes", read: func(ps *parser, p jsonPath, v gjson.Result, c *consumerConf) bool {
		c.scopes, _ = ps.strList(p, v, ps.checkScope)
		return true
	}, def: "[]", doc: "the scopes granted to every key of the consumer"},
	{name: "rate_limit", read: readName(func(c *consumerConf) (*string, *jsonPath) { return &c.rateLimit, &c.limitPath }),
		doc: "the rate-limit policy of the consumer"},
	{name: "quota", read: readName(func(c *consumerConf) (*string, *jsonPath) { return &c.quota, &c.quotaPath }),
		doc: "the quota of the consumer"},
	{name: "keys", read: func(ps *parser, p jsonPath, v gjson.Result, c *consumerConf) bool {
		var ok bool
		if c.keys, ok = ps.fastKeys(v); ok {
			return true
		}
		c.keys = make([]keyConf, 0, ps.count(v))
		ps.array(p, v, func(i int, p jsonPath, v gjson.Result) {
			c.keys = append(c.keys, ps.parseKey(p, v))
		})
		return true
	}, doc: "the consumer's keys"},
}}

// readName returns the read function of a field that names another section's
// entry (a rate-limit policy, a quota, a profile): the name and its path,
// for build to resolve.
func readName[T any](at func(*T) (*string, *jsonPath)) func(ps *parser, p jsonPath, v gjson.Result, t *T) bool {
	return func(ps *parser, p jsonPath, v gjson.Result, t *T) bool {
		if s, ok := ps.str(p, v); ok {
			name, path := at(t)
			*path, *name = p, ps.keep(s)
		}
		return true
	}
}

func readConsumers(ps *parser, p jsonPath, v gjson.Result, c *config) bool {
	c.consumersPath = p
	c.consumers = make([]consumerConf, 0, ps.count(v))
	ps.array(p, v, func(i int, p jsonPath, v gjson.Result) {
		c.consumers = append(c.consumers, ps.parseConsumer(p, v))
	})
	return true
}

// parseConsumer reads one element of consumers.
func (ps *parser) parseConsumer(path jsonPath, v gjson.Result) consumerConf {
	if c, ok := ps.fastConsumer(path, v); ok {
		return c
	}
	// The parser's scratch, as for keys (parseKey): one consumer escaping
	// per consumer would be a large key store's worth of garbage.
	c := &ps.consumer
	*c = consumerConf{path: path}
	readObject(ps, &consumerFields, path, v, c)
	return *c
}

// identifier reads an id or name: present when v is a string, ok when it is
// also a valid identifier (otherwise the problem is reported).
func (ps *parser) identifier(path jsonPath, v gjson.Result) (s string, present, ok bool) {
	s, present = ps.str(path, v)
	s = ps.keep(s)
	if !present {
		return "", false, false
	}
	if !isIdentifier(s) {
		ps.add(path, "must be 1 to 256 visible ASCII characters (no spaces)")
		return s, true, false
	}
	return s, true, true
}

// checkScope reports a scope that cannot be sent in a header.
func (ps *parser) checkScope(path jsonPath, s string) bool {
	if !isScope(s) {
		ps.add(path, "must be a scope token: visible ASCII without spaces, '\"' or '\\', got "+quote(s))
		return false
	}
	return true
}

// buildConsumers checks identities, builds the key table and, through the
// consumer builder, every per-consumer string used by Decide. quota
// resolves a consumer's quota name.
func (ps *parser) buildConsumers(p *Policy, c *config, resolveLimit, resolveQuota func(path jsonPath, name string) int,
	intern func(string) int) {
	nKeys, idLen := 0, 0
	for _, cc := range c.consumers {
		nKeys += len(cc.keys)
		for _, kc := range cc.keys {
			idLen += len(kc.id)
		}
	}
	t := keyTable{p: p, c: c, entries: make([]keyEntry, nKeys), keyIDs: newKeyIDs(nKeys), refs: make([]keyRef, nKeys)}
	p.keys = newSumIndex(nKeys)
	t.ids.Grow(idLen)
	consumers := make([]consumer, len(c.consumers))
	consumerIDs := newConsumerIDs(c)
	b := newConsumerBuilder(p, func(s string) (int, bool) { return intern(s), true })
	for ci := range c.consumers {
		cc := &c.consumers[ci]
		ps.uniqueConsumerID(&consumerIDs, c, ci)
		consumers[ci] = b.build(cc.id, sortedScopes(cc.scopes), resolveLimit(cc.limitPath, cc.rateLimit),
			resolveQuota(cc.quotaPath, cc.quota))
		for ki := range cc.keys {
			ps.addKey(&t, keyRef{int32(ci), int32(ki)}, &cc.keys[ki])
		}
		ps.warnNoKeys(cc)
		cc.keys = nil // built: let the collector have them
	}
	p.consumers = consumers
	b.finish()
	p.entries = t.entries[:t.n:t.n]
	p.keyIDs = t.ids.String()
}

// keyTable is the key table under construction.
type keyTable struct {
	p       *Policy
	c       *config
	entries []keyEntry
	n       int // entries in use
	ids     strings.Builder
	keyIDs  *keyIDs
	refs    []keyRef // of entries, to name a duplicate hash's first key
}

// addKey checks the key kc at ref and adds it to the table.
func (ps *parser) addKey(t *keyTable, ref keyRef, kc *keyConf) {
	c := t.c
	ps.uniqueKeyID(t.keyIDs, c, ref, kc)
	if ps.now != 0 && kc.notAfter != noUpperBound && kc.notAfter <= ps.now {
		ps.warn(ref.path(c).member("not_after"), "key "+quote(kc.id)+" has already expired: every request with it is "+
			"denied (401 expired); remove it once its use has stopped showing in the logs")
	}
	if !kc.sumOK {
		return
	}
	k, added := t.p.keys.add(&kc.sum)
	if !added {
		ps.add(ref.path(c).member("sha256"), "duplicate key hash (also "+t.refs[k].path(c).String()+")")
		return
	}
	t.refs[k] = ref
	start := t.ids.Len()
	t.ids.WriteString(kc.id)
	t.entries[k] = keyEntry{notBefore: kc.notBefore, notAfter: kc.notAfter,
		idStart: uint32(start), idEnd: uint32(t.ids.Len()), consumer: ref.consumer, revoked: kc.revoked}
	t.n++
}

// newConsumerIDs is the set of the ids of c's consumers, by index.
func newConsumerIDs(c *config) idSet {
	return newIDSet(len(c.consumers), func(i int) string { return c.consumers[i].id })
}

// uniqueConsumerID records the id of consumer ci of c, reporting a
// duplicate of an earlier one.
func (ps *parser) uniqueConsumerID(seen *idSet, c *config, ci int) {
	cc := &c.consumers[ci]
	if !cc.idOK {
		return
	}
	if prev, ok := seen.add(ci, cc.id); !ok {
		ps.add(cc.path.member("id"), "duplicate consumer id "+quote(cc.id)+" (also "+c.consumers[prev].path.String()+")")
	}
}

// keyIDs is the set of the key ids seen, for refusing one used twice:
// an idSet over ids, with the key each came from.
type keyIDs struct {
	set  idSet
	ids  []string
	refs []keyRef
}

// newKeyIDs returns the set for at most n keys.
func newKeyIDs(n int) *keyIDs {
	k := &keyIDs{ids: make([]string, 0, n), refs: make([]keyRef, 0, n)}
	k.set = newIDSet(n, func(i int) string { return k.ids[i] })
	return k
}

// uniqueKeyID records the id of the key at ref, reporting a duplicate.
func (ps *parser) uniqueKeyID(seen *keyIDs, c *config, ref keyRef, kc *keyConf) {
	if !kc.idOK {
		return
	}
	i := len(seen.ids)
	if j, ok := seen.set.add(i, kc.id); !ok {
		ps.add(ref.path(c).member("id"), "duplicate key id "+quote(kc.id)+" (also "+seen.refs[j].path(c).String()+")")
		return
	}
	seen.ids = append(seen.ids, kc.id)
	seen.refs = append(seen.refs, ref)
}

// warnNoKeys warns about a consumer without keys.
func (ps *parser) warnNoKeys(cc *consumerConf) {
	if len(cc.keys) == 0 && cc.idOK {
		ps.warn(cc.path.member("keys"), "consumer "+quote(cc.id)+" has no keys: it can never be authenticated")
	}
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
