// What the loader checks a snapshot's records with: the id sets, the
// name lookups, the scope sort, the digest order.

package policy

import (
	"bytes"
	"math/bits"
	"sort"
)

// idSet is an open-addressing set of the ids of numbered records (key
// records, consumers), for refusing an id used twice while a snapshot
// loads. It holds record numbers, not ids: an entry is 0 when empty, else
// the record's number + 1 in its low bits bits and, above them, as many
// bits of the id's hash as are left (its tag), so that a probe reads
// another record's id only when their tags match. It takes 5 bytes per
// record (load factor 0.8 at most), and no allocation per record.
type idSet struct {
	slots []uint32
	bits  uint
	// idOf returns the id of a record added before.
	idOf func(int) string
}

// newIDSet returns a set for n records (n <= 1<<26: at least 5 bits of
// tag).
func newIDSet(n int, idOf func(int) string) idSet {
	return idSet{slots: make([]uint32, n+n/4+16), bits: uint(bits.Len32(uint32(n))), idOf: idOf}
}

// add adds record i, whose id is id, and reports true, unless an earlier
// record has the same id: then it returns that record and false.
func (s *idSet) add(i int, id string) (int, bool) {
	return s.addHashed(i, id, fnv1a(0, id))
}

// addHashed is add with h, fnv1a(0, id), computed by the caller.
func (s *idSet) addHashed(i int, id string, h uint64) (int, bool) {
	n := uint64(len(s.slots))
	// The mixed hash's top 32 bits scaled to [0, n) pick the slot: no
	// power-of-two size needed (FNV-1a alone leaves its top bits
	// clustered for ids that differ only at the end). The tag is the top
	// bits of the low half, which the multiplication mixed from all of it.
	h = (h ^ h>>32) * 0x9e3779b97f4a7c15
	tag := uint32(h) >> s.bits << s.bits
	for slot := (h >> 32) * n >> 32; ; slot++ {
		if slot == n {
			slot = 0
		}
		e := s.slots[slot]
		if e == 0 {
			s.slots[slot] = tag | (uint32(i) + 1)
			return i, true
		}
		if e^tag < 1<<s.bits {
			if j := int(e^tag) - 1; s.idOf(j) == id {
				return j, false
			}
		}
	}
}

// nameIndex finds a rate-limit policy or quota by name, remembering the
// last one found: the consumers of a snapshot mostly name a few.
type nameIndex struct {
	m        map[string]int
	lastName string
	last     int // -1 before the first
}

func (x *nameIndex) get(name string) (int, bool) {
	if x.last >= 0 && name == x.lastName {
		return x.last, true
	}
	i, ok := x.m[name]
	if ok {
		x.lastName, x.last = name, i
	}
	return i, ok
}

// sortScopes sorts a consumer's scopes: by insertion when they are few,
// as they mostly are, which in WebAssembly costs far less than sort's
// generic code.
func sortScopes(s []string) {
	if len(s) > 12 {
		sort.Strings(s)
		return
	}
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// visibleHash returns fnv1a(0, id) and whether id is visible ASCII, in
// one pass over its bytes.
func visibleHash(id string) (h uint64, visible bool) {
	h = 14695981039346656037
	bad := false
	for i := 0; i < len(id); i++ {
		c := id[i]
		bad = bad || c < 0x21 || c > 0x7e
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h, !bad
}

// digestAfter reports whether digest d sorts after digest prev, given
// their first eight bytes as numbers (hi, prevHi): these settle it for all
// but keys that share them (bytes.Compare is a call, and compares byte by
// byte in wasm).
func digestAfter(hi, prevHi uint64, d, prev []byte) bool {
	if hi != prevHi {
		return hi > prevHi
	}
	return bytes.Compare(d[8:32], prev[8:32]) > 0
}
