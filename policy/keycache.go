package policy

import (
	"hash/maphash"
	"math/bits"
	"strings"
	"sync"
)

// keyCacheSlots is how many recently verified keys a Policy remembers
// (a power of two). Each slot holds the presented key (up to maxKeyLen
// bytes, typically 40 to 60) and its key entry: 48 bytes plus the key, so
// about 90 KiB per Policy, and so per worker, for typical keys and 560 KiB
// at most, allocated on the first known key a Policy sees.
const keyCacheSlots = 1024

// keyCache remembers the key entries of recently presented keys that were
// found in the key index, so that a repeat key skips the format check, the
// hash and the index lookup (the largest part of authenticating a key in
// the .wasm: see docs/performance.md). A slot is found by a seeded hash of
// the key and matched by comparing the whole presented key in constant
// time. Only keys the index knows are entered, so that unknown keys cannot
// evict known ones. An entry (validity window, revocation, consumer) never
// changes within a Policy, and it is still checked against the request's
// time on every request.
//
// A cache belongs to one Policy: a Policy copied from another (a key
// snapshot swapped in, keystore_load.go) starts it over, as does every new
// Policy (a configuration push), so that nothing a previous policy accepted
// survives a swap. It serves one goroutine at a time, as a worker's VM
// does: a concurrent caller finds it locked and looks the key up itself.
type keyCache struct {
	mu    sync.Mutex
	owner *Policy
	seed  uint64
	slots *[keyCacheSlots]keyCacheSlot
	// scopes holds recent insufficient_scope denials (scope_denial.go),
	// misses recently refused keys (keycache_miss.go), under the same lock,
	// owner and seed.
	scopes *[scopeDenialSlots]scopeDenial
	misses *[missSlots]keyMiss
}

type keyCacheSlot struct {
	key   string
	entry keyEntry
}

// newKeyCache returns an empty cache; its table and seed come with the
// first key entered.
func newKeyCache() *keyCache { return &keyCache{} }

// recall looks key up for p in both tables, under one lock and one hash:
// found when the known keys' table holds it (its entry is copied into
// out), else refused and its reason when the refused keys' table does
// (keycache_miss.go).
func (c *keyCache) recall(p *Policy, key string, out *keyEntry) (found bool, refused Reason) {
	if c == nil || !c.mu.TryLock() {
		return false, ""
	}
	if c.owner == p && (c.slots != nil || c.misses != nil) {
		h := slotOf(c.seed, key)
		if c.slots != nil {
			if s := &c.slots[h]; equalConstantTime(s.key, key) {
				*out, found = s.entry, true
			}
		}
		if !found && c.misses != nil {
			refused = c.misses[h&(missSlots-1)].refused(key)
		}
	}
	c.mu.Unlock()
	return found, refused
}

// put remembers e as the entry of key, a key p's index knows.
func (c *keyCache) put(p *Policy, key string, e *keyEntry) {
	if c == nil || !c.mu.TryLock() {
		return
	}
	c.own(p)
	if c.slots == nil {
		c.seedTables()
		c.slots = new([keyCacheSlots]keyCacheSlot)
	}
	s := &c.slots[slotOf(c.seed, key)]
	s.key, s.entry = strings.Clone(key), *e
	c.mu.Unlock()
}

// seedTables draws the seed of the slots and the misses when neither
// table exists yet (c is locked): both are found by the same hash.
func (c *keyCache) seedTables() {
	if c.slots == nil && c.misses == nil {
		c.seed = newSeed()
	}
}

// own makes p the owner of c, emptying it when it had another; c is
// locked.
func (c *keyCache) own(p *Policy) {
	if c.owner != p {
		c.owner, c.slots, c.scopes, c.misses = p, nil, nil, nil
	}
}

// slotOf is the slot of key under seed: a multiply-mix of its 8-byte
// words, which Go's wasm code runs far faster than maphash's. Where a key
// lands needs no secrecy: only keys the index knows are entered, and a
// slot is matched by the whole key.
func slotOf(seed uint64, key string) uint64 {
	h := seed ^ uint64(len(key))
	i := 0
	for ; i+8 <= len(key); i += 8 {
		h = mix(h ^ word(key, i))
	}
	var tail uint64
	for ; i < len(key); i++ {
		tail = tail<<8 | uint64(key[i])
	}
	return mix(h^tail) & (keyCacheSlots - 1)
}

// mix is a 64-bit multiply-fold.
func mix(h uint64) uint64 {
	hi, lo := bits.Mul64(h, 0x9e3779b97f4a7c15)
	return hi ^ lo
}

// word is the 8 bytes of s from i (i+8 <= len(s)), little-endian: a
// pattern the compiler turns into one load where unaligned loads are
// allowed, and plain byte loads (no call) elsewhere.
func word(s string, i int) uint64 {
	s = s[i : i+8]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// newSeed returns a random seed for slotOf (a maphash.Hash's zero value
// seeds itself at random).
func newSeed() uint64 {
	var h maphash.Hash
	_ = h.WriteByte(0)
	return h.Sum64()
}

// equalConstantTime reports whether a and b are equal, in a time that
// depends only on their lengths: 8 bytes at a time, without a branch on
// their contents.
func equalConstantTime(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	var v uint64
	i := 0
	for ; i+8 <= len(a); i += 8 {
		v |= word(a, i) ^ word(b, i)
	}
	for ; i < len(a); i++ {
		v |= uint64(a[i] ^ b[i])
	}
	return v == 0
}
