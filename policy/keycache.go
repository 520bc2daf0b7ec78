package policy

import (
	"hash/maphash"
	"strings"
	"sync"
)

// keyCacheSlots is how many recently verified keys a Policy remembers
// (a power of two). Each slot holds the presented key (up to maxKeyLen
// bytes, typically 40 to 60) and its SHA-256: 48 bytes plus the key, so
// about 90 KiB per Policy, and so per worker, for typical keys and 560 KiB
// at most, allocated on the first known key a Policy sees.
const keyCacheSlots = 1024

// keyCache remembers the SHA-256 of recently presented keys that were
// found in the key index, so that a repeat key skips the format check and
// the hash (the largest part of authenticating a key in the .wasm: see
// docs/performance.md). A slot is found by a seeded hash of the key and
// matched by comparing the whole presented key in constant time. Only keys
// the index knows are entered, so that unknown keys cannot evict known
// ones; the sum of a key never changes, and the key's entry (expiry,
// revocation, consumer) is still looked up and checked on every request.
//
// A cache belongs to one Policy: a Policy copied from another (a key
// snapshot swapped in, keystore_load.go) starts it over, as does every new
// Policy (a configuration push), so that nothing a previous policy accepted
// survives a swap. It serves one goroutine at a time, as a worker's VM
// does: a concurrent caller finds it locked and hashes the key itself.
type keyCache struct {
	mu    sync.Mutex
	owner *Policy
	seed  maphash.Seed
	slots *[keyCacheSlots]keyCacheSlot
}

type keyCacheSlot struct {
	key string
	sum [32]byte
}

// newKeyCache returns an empty cache; its table and seed come with the
// first key entered.
func newKeyCache() *keyCache { return &keyCache{} }

// sum returns the cached SHA-256 of key for p, if any.
func (c *keyCache) sum(p *Policy, key string) (sum [32]byte, ok bool) {
	if c == nil || !c.mu.TryLock() {
		return sum, false
	}
	defer c.mu.Unlock()
	if c.owner != p || c.slots == nil {
		return sum, false
	}
	s := &c.slots[maphash.String(c.seed, key)&(keyCacheSlots-1)]
	if !equalConstantTime(s.key, key) {
		return sum, false
	}
	return s.sum, true
}

// put remembers sum as the SHA-256 of key, a key p's index knows.
func (c *keyCache) put(p *Policy, key string, sum *[32]byte) {
	if c == nil || !c.mu.TryLock() {
		return
	}
	defer c.mu.Unlock()
	if c.owner != p || c.slots == nil {
		c.owner, c.slots, c.seed = p, new([keyCacheSlots]keyCacheSlot), maphash.MakeSeed()
	}
	s := &c.slots[maphash.String(c.seed, key)&(keyCacheSlots-1)]
	s.key, s.sum = strings.Clone(key), *sum
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
