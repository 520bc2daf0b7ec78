package policy

import (
	"sort"
	"unsafe"
)

// consumerBuilder turns a consumer's fields, validated and resolved, into
// the consumer Decide uses: the scope bits and scopes header (shared by
// consumers with the same scopes), the bucket key under each rate-limit
// policy and the partition key (packed into arena chunks, one allocation
// per chunk instead of one per consumer), the rate limit and the quota. It
// is the one place a consumer is built, for the configuration's consumers
// section (Compile) and for a key snapshot's consumers (Loader), so that
// both carry every per-consumer field.
type consumerBuilder struct {
	p *Policy
	// scopeID returns the interned id of a scope, and whether it has one:
	// Compile interns every scope; a snapshot's loader only finds the ids
	// the routes' scopes got (a scope no route requires needs no bit).
	scopeID func(string) (int, bool)
	sets    map[string]*scopeSet
	header  []byte // scratch for a scopes header
	arena   []byte // the current chunk
}

// scopeSet is what consumers with the same scopes share.
type scopeSet struct {
	scopes []string
	header string
	bits   []uint64
}

func newConsumerBuilder(p *Policy, scopeID func(string) (int, bool)) *consumerBuilder {
	return &consumerBuilder{p: p, scopeID: scopeID, sets: map[string]*scopeSet{}}
}

// build returns the consumer id with scopes (sorted, without duplicates:
// the caller checked them), rate-limit policy limit and quota (indices into
// the policy's tables, -1 for none). bucketKeys is where its bucket keys
// go: len(p.limits) strings. The consumer holds copies of id and scopes,
// never the caller's memory: a snapshot's consumers may outlive it
// (Policy.NewLoaderAfter).
func (b *consumerBuilder) build(id string, scopes []string, limit, quota int, bucketKeys []string) consumer {
	b.header = b.header[:0]
	for i, s := range scopes {
		if i > 0 {
			b.header = append(b.header, ' ')
		}
		b.header = append(b.header, s...)
	}
	set := b.sets[string(b.header)]
	if set == nil {
		set = &scopeSet{scopes: make([]string, len(scopes)), header: string(b.header)}
		at := 0
		for i, s := range scopes { // views of the header, which is a copy
			set.scopes[i] = set.header[at : at+len(s)]
			at += len(s) + 1
		}
		for _, s := range scopes {
			if id, ok := b.scopeID(s); ok {
				for len(set.bits) <= id/64 {
					set.bits = append(set.bits, 0)
				}
				set.bits[id/64] |= 1 << (uint(id) % 64)
			}
		}
		b.sets[set.header] = set
	}
	p := b.p
	size := 16 + len(id)
	for _, lim := range p.limits {
		size += len("consumer/") + len(lim.Name) + 1 + len(id)
	}
	buf := b.alloc(size)[:0]
	buf = append(buf, shortHash(p.anonSeed^0x636f6e73756d6572, id)...)
	buf = append(buf, id...)
	at := len(buf)
	for _, lim := range p.limits {
		buf = append(buf, "consumer/"...)
		buf = append(buf, lim.Name...)
		buf = append(buf, '/')
		buf = append(buf, id...)
	}
	all := unsafe.String(unsafe.SliceData(buf), len(buf)) // written once, then only read
	for i, lim := range p.limits {
		n := len("consumer/") + len(lim.Name) + 1 + len(id)
		bucketKeys[i] = all[at : at+n]
		at += n
	}
	return consumer{id: all[16 : 16+len(id)], scopes: set.scopes, scopeHeader: set.header, scopeBits: set.bits, limit: limit,
		bucketKeys: bucketKeys, partitionKey: all[:16], quota: quota}
}

// arenaChunk is the size of the chunks the per-consumer strings are packed
// into.
const arenaChunk = 64 << 10

// alloc returns n bytes of the arena. They are written once, by the caller,
// before the next alloc, and then only read (as strings).
func (b *consumerBuilder) alloc(n int) []byte {
	if n > arenaChunk/4 {
		return make([]byte, n)
	}
	if cap(b.arena)-len(b.arena) < n {
		b.arena = make([]byte, 0, arenaChunk)
	}
	out := b.arena[len(b.arena) : len(b.arena)+n : len(b.arena)+n]
	b.arena = b.arena[:len(b.arena)+n]
	return out
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
