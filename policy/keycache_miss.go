package policy

import "unsafe"

// missSlots is how many recently refused keys a Policy remembers (a power
// of two, at most keyCacheSlots), and maxMissKey the longest key it
// remembers: 256 slots of 72 bytes, 18 KiB per Policy and so per worker,
// allocated on the first refused key.
const (
	missSlots  = 256
	maxMissKey = 64
)

// keyMiss is a refused key (its bytes, its length) and why: ReasonUnknown
// or ReasonMalformed. A zero n is an empty slot (an empty key is refused
// before the cache is asked).
type keyMiss struct {
	key    [maxMissKey]byte
	n      uint8
	reason Reason
}

// The refused keys. A client that repeats a key the index does not hold
// (revoked and deleted, mistyped, left in a job after a rotation) makes
// every request pay the format check, SHA-256 and the index lookup of a
// 401; a repeat is answered from here instead, by comparing the whole key
// in constant time, as a known key is from the slots. The table is apart
// from the known keys', so that refused keys, which clients choose,
// never evict known ones; a Policy's index never changes, so a refusal
// holds as long as the Policy (a configuration push or a key snapshot
// swapped in starts both tables over, keyCache.own). Keys longer than
// maxMissKey are not remembered. The bytes are held as the known keys'
// are, in the worker's memory, as the request headers Envoy holds them.

// refused is the reason m remembers for key, or "" when it holds another
// key (compared whole, in constant time) or none.
func (m *keyMiss) refused(key string) Reason {
	if m.n == 0 || len(key) > maxMissKey || !equalConstantTime(unsafe.String(&m.key[0], int(m.n)), key) {
		return ""
	}
	return m.reason
}

// miss remembers that p refused key for reason.
func (c *keyCache) miss(p *Policy, key string, reason Reason) {
	if c == nil || len(key) > maxMissKey || key == "" || !c.mu.TryLock() {
		return
	}
	c.own(p)
	if c.misses == nil {
		c.seedTables()
		c.misses = new([missSlots]keyMiss)
	}
	m := &c.misses[slotOf(c.seed, key)&(missSlots-1)]
	m.n = uint8(copy(m.key[:], key))
	m.reason = reason
	c.mu.Unlock()
}
