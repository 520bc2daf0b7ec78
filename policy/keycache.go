package policy

import (
	"hash/maphash"
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
	seed  maphash.Seed
	slots *[keyCacheSlots]keyCacheSlot
	// scopes holds recent insufficient_scope denials (scope_denial.go),
	// under the same lock and owner.
	scopes *[scopeDenialSlots]scopeDenial
}

type keyCacheSlot struct {
	key   string
	entry keyEntry
}

// newKeyCache returns an empty cache; its table and seed come with the
// first key entered.
func newKeyCache() *keyCache { return &keyCache{} }

// entry copies the cached key entry of key for p into out, if any.
func (c *keyCache) entry(p *Policy, key string, out *keyEntry) (ok bool) {
	if c == nil || !c.mu.TryLock() {
		return false
	}
	if c.owner == p && c.slots != nil {
		s := &c.slots[maphash.String(c.seed, key)&(keyCacheSlots-1)]
		if ok = equalConstantTime(s.key, key); ok {
			*out = s.entry
		}
	}
	c.mu.Unlock()
	return ok
}

// put remembers e as the entry of key, a key p's index knows.
func (c *keyCache) put(p *Policy, key string, e *keyEntry) {
	if c == nil || !c.mu.TryLock() {
		return
	}
	c.own(p)
	if c.slots == nil {
		c.slots, c.seed = new([keyCacheSlots]keyCacheSlot), maphash.MakeSeed()
	}
	s := &c.slots[maphash.String(c.seed, key)&(keyCacheSlots-1)]
	s.key, s.entry = strings.Clone(key), *e
	c.mu.Unlock()
}

// own makes p the owner of c, emptying it when it had another; c is
// locked.
func (c *keyCache) own(p *Policy) {
	if c.owner != p {
		c.owner, c.slots, c.scopes = p, nil, nil
	}
}

// equalConstantTime reports whether a and b are equal, in a time that
// depends only on their lengths.
func equalConstantTime(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	var v byte
	for i := 0; i < len(a); i++ {
		v |= a[i] ^ b[i]
	}
	return v == 0
}
