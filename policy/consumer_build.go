package policy

import (
	"sort"
	"unsafe"
)

// consumerBuilder turns a consumer's fields, validated and resolved, into
// the consumer Decide uses: the scope set (scopes, scopes header and scope
// bits, shared by consumers with the same scopes), and the partition key,
// the id and the bucket key under each rate-limit policy, packed into the
// policy's consumer text (arena chunks: one allocation per chunk instead of
// several per consumer). It is the one place a consumer is built, for the
// configuration's consumers section (Compile) and for a key snapshot's
// consumers (Loader), so that both carry every per-consumer field.
//
// The consumers it makes hold no pointer, and their text holds copies: no
// view of a snapshot's bytes, so that a snapshot's consumers may outlive it
// (Policy.NewLoaderAfter), and the garbage collector skips the table.
type consumerBuilder struct {
	p *Policy
	// scopeID returns the interned id of a scope, and whether it has one:
	// Compile interns every scope; a snapshot's loader only finds the ids
	// the routes' scopes got (a scope no route requires needs no bit).
	scopeID func(string) (int, bool)
	sets    map[string]uint32 // header → index into p.scopeSets
	last    uint32            // the set of the last consumer built
	header  []byte            // scratch for a scopes header
}

// scopeSet is what consumers with the same scopes share.
type scopeSet struct {
	scopes []string // sorted
	header string   // the scopes identity header: the scopes, space-separated
	bits   []uint64 // bit i set when interned scope i is granted
}

// newConsumerBuilder starts the consumer text and scope sets of p.
func newConsumerBuilder(p *Policy, scopeID func(string) (int, bool)) *consumerBuilder {
	p.consumerText, p.scopeSets = nil, nil
	p.limitKeyOff = make([]int, len(p.limits))
	off := 0
	for i, lim := range p.limits {
		p.limitKeyOff[i] = off
		off += len("consumer/") + len(lim.Name) + 1
	}
	return &consumerBuilder{p: p, scopeID: scopeID, sets: map[string]uint32{}}
}

// build returns the consumer id with scopes (sorted, without duplicates:
// the caller checked them), rate-limit policy limit and quota (indices into
// the policy's tables, -1 for none). id and scopes are copied.
func (b *consumerBuilder) build(id string, scopes []string, limit, quota int) consumer {
	p := b.p
	b.header = b.header[:0]
	for i, s := range scopes {
		if i > 0 {
			b.header = append(b.header, ' ')
		}
		b.header = append(b.header, s...)
	}
	// Consumers in a row mostly share their scopes: the last set is
	// compared before the map is asked.
	set, ok := b.last, b.last < uint32(len(p.scopeSets)) && p.scopeSets[b.last].header == string(b.header)
	if !ok {
		set, ok = b.sets[string(b.header)]
	}
	if !ok {
		ss := &scopeSet{scopes: make([]string, len(scopes)), header: string(b.header)}
		at := 0
		for i, s := range scopes { // views of the header, which is a copy
			ss.scopes[i] = ss.header[at : at+len(s)]
			at += len(s) + 1
		}
		for _, s := range scopes {
			if id, ok := b.scopeID(s); ok {
				for len(ss.bits) <= id/64 {
					ss.bits = append(ss.bits, 0)
				}
				ss.bits[id/64] |= 1 << (uint(id) % 64)
			}
		}
		set = uint32(len(p.scopeSets))
		p.scopeSets = append(p.scopeSets, ss)
		b.sets[ss.header] = set
	}
	b.last = set
	size := 16 + len(id)
	for _, lim := range p.limits {
		size += len("consumer/") + len(lim.Name) + 1 + len(id)
	}
	chunk, off, buf := b.alloc(size)
	buf = appendShortHash(buf[:0], p.anonSeed^0x636f6e73756d6572, id)
	buf = append(buf, id...)
	for _, lim := range p.limits {
		buf = append(buf, "consumer/"...)
		buf = append(buf, lim.Name...)
		buf = append(buf, '/')
		buf = append(buf, id...)
	}
	return consumer{chunk: chunk, off: off, idLen: uint16(len(id)), set: set, limit: int32(limit), quota: int32(quota)}
}

// finish drops the builder's scratch.
func (b *consumerBuilder) finish() { b.sets, b.header = nil, nil }

// arenaChunk is the size of the chunks the consumer text is packed into.
const arenaChunk = 64 << 10

// alloc returns n bytes of consumer text in a chunk of their own or the
// current one, with where they start. They are written once, by the
// caller, before the next alloc, and then only read (as strings).
func (b *consumerBuilder) alloc(n int) (chunk, off uint32, buf []byte) {
	p := b.p
	last := len(p.consumerText) - 1
	if n > arenaChunk/4 || last < 0 || cap(p.consumerText[last])-len(p.consumerText[last]) < n {
		size := arenaChunk
		if n > arenaChunk/4 {
			size = n
		}
		p.consumerText = append(p.consumerText, make([]byte, 0, size))
		last++
	}
	c := p.consumerText[last]
	at := len(c)
	p.consumerText[last] = c[:at+n]
	return uint32(last), uint32(at), c[at : at+n : at+n]
}

// text returns the consumer's text from its start.
func (p *Policy) text(c *consumer) []byte { return p.consumerText[c.chunk][c.off:] }

// str returns n bytes of b from at as a string, without copying: consumer
// text is never written again once built.
func str(b []byte, at, n int) string { return unsafe.String(&b[at], n) }

// consumerID returns the consumer's id.
func (p *Policy) consumerID(c *consumer) string { return str(p.text(c), 16, int(c.idLen)) }

// partitionKey returns the consumer's partition key (RateLimit-Policy).
func (p *Policy) partitionKey(c *consumer) string { return str(p.text(c), 0, 16) }

// bucketKey returns the consumer's bucket key under rate-limit policy li:
// "consumer/<policy>/<id>".
func (p *Policy) bucketKey(c *consumer, li int) string {
	n := int(c.idLen)
	at := 16 + n + p.limitKeyOff[li] + li*n
	return str(p.text(c), at, len("consumer/")+len(p.limits[li].Name)+1+n)
}

// hasScope reports whether the consumer was granted the interned scope id.
func (p *Policy) hasScope(c *consumer, id int) bool {
	bits := p.scopeSets[c.set].bits
	w := id / 64
	return w < len(bits) && bits[w]&(1<<(uint(id)%64)) != 0
}

// sortedScopes returns scopes sorted, as a copy when sorting would change
// the caller's slice.
func sortedScopes(scopes []string) []string {
	if sort.StringsAreSorted(scopes) {
		return scopes
	}
	out := append([]string(nil), scopes...)
	sort.Strings(out)
	return out
}
