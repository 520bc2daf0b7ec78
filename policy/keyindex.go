package policy

import "encoding/binary"

// sumIndex finds an inline key's entry by the key's SHA-256: an
// open-addressing table of entry indexes, at most half full, probed
// linearly from a mix of the digest's words and matched by the whole
// digest, which it keeps per entry. It replaced a Go map, whose 100,000
// inserts took about 45 ms of a plugin start in the module's Go wasm code
// against 2 ms for this table (docs/performance.md, "Sixth round"). Its
// arrays hold no pointers, so that a collection does not scan them. It is
// built once per Policy and only read after. Building a key snapshot's
// records (keystore_consumers.go) finds duplicate digests with it too.
type sumIndex struct {
	slots []int32    // entry index + 1; 0 is an empty slot
	sums  [][32]byte // the digest of each entry, by entry index
	mask  uint64
}

// newSumIndex returns an index with room for n keys.
func newSumIndex(n int) sumIndex {
	size := 8
	for size < 2*n {
		size <<= 1
	}
	return sumIndex{slots: make([]int32, size), sums: make([][32]byte, 0, n), mask: uint64(size - 1)}
}

// start is sum's first slot: a mix of all its words, so that made-up
// digests differing in any one word (test configurations) do not pile up
// in one run of slots, as they would on one word alone.
func (x *sumIndex) start(sum *[32]byte) uint64 {
	le := binary.LittleEndian
	return mix64(le.Uint64(sum[:8])^le.Uint64(sum[8:16])^le.Uint64(sum[16:24])^le.Uint64(sum[24:])) & x.mask
}

// find returns the entry index of the key whose digest is sum.
func (x *sumIndex) find(sum *[32]byte) (int32, bool) {
	if len(x.slots) == 0 {
		return 0, false
	}
	for h := x.start(sum); ; h = (h + 1) & x.mask {
		s := x.slots[h]
		if s == 0 {
			return 0, false
		}
		if x.sums[s-1] == *sum {
			return s - 1, true
		}
	}
}

// add makes sum the digest of the next entry, len(x.sums), and returns its
// index; when x holds sum already, it returns that entry's index and
// false instead. x never holds more than the n keys it was made for.
func (x *sumIndex) add(sum *[32]byte) (int32, bool) {
	h := x.start(sum)
	for ; x.slots[h] != 0; h = (h + 1) & x.mask {
		if s := x.slots[h]; x.sums[s-1] == *sum {
			return s - 1, false
		}
	}
	i := int32(len(x.sums))
	x.sums = append(x.sums, *sum)
	x.slots[h] = i + 1
	return i, true
}
