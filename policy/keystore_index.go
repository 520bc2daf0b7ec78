package policy

import (
	"bytes"
	"encoding/binary"

	"github.com/apiguard/apiguard/policy/keysnap"
)

// snapIndex finds the keys of a loaded snapshot. It is a view of the
// snapshot's bytes (which must never change) plus two small tables:
// buckets[b] is the first record whose digest starts with the 16 bits b,
// idBase[i] the offset of the id of record idGroup*i in the id section.
type snapIndex struct {
	buf *keysnap.Buffer
	// Where the sections start in buf, the consumer section's length and
	// the number of keys.
	cons, recs, ids, wins int
	consLen, keys         int
	buckets               []uint32
	idBase                []uint32
}

func newSnapIndex(buf *keysnap.Buffer, h *keysnap.Header) *snapIndex {
	s := &snapIndex{buf: buf, consLen: int(h.ConsumerBytes), keys: int(h.Keys)}
	s.cons, s.recs, s.ids, s.wins, _ = h.Offsets()
	return s
}

// record returns key record m.
func (s *snapIndex) record(m int) []byte {
	return s.buf.At(s.recs + m*keysnap.RecordSize)[:keysnap.RecordSize]
}

// window returns validity window i (0-based).
func (s *snapIndex) window(i int) (notBefore, notAfter int64) {
	return keysnap.Window(s.buf.At(s.wins+i*keysnap.WindowSize), 0)
}

// id returns the key id at [start, end) of the id section, a view.
func (s *snapIndex) id(start, end uint32) string {
	return view(s.buf.At(s.ids + int(start))[:end-start])
}

// idStart returns where the id of record m starts in the id section.
func (s *snapIndex) idStart(m int) uint32 {
	start := s.idBase[m/idGroup]
	for j := m - m%idGroup; j < m; j++ {
		start += uint32(s.record(j)[36]) + 1
	}
	return start
}

// idGroup is how many key records share an entry of snapIndex.idBase: a
// lookup adds the id lengths of at most idGroup-1 records before its own.
const idGroup = 4

// find returns the entry of the key with digest sum, decoded into out, or
// nil. It does not allocate. Digests are compared by their first eight
// bytes as a number first: for random digests that settles every step of
// the search but the last, and Go's wasm code compares bytes one by one.
func (s *snapIndex) find(sum *[32]byte, out *keyEntry) *keyEntry {
	b := int(sum[0])<<8 | int(sum[1])
	lo, hi := int(s.buckets[b]), int(s.buckets[b+1])
	want := binary.BigEndian.Uint64(sum[:8])
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		rec := s.record(m)[:32]
		c := 0
		switch got := binary.BigEndian.Uint64(rec); {
		case got < want:
			c = -1
		case got > want:
			c = 1
		default:
			c = bytes.Compare(rec[8:], sum[8:])
		}
		switch {
		case c < 0:
			lo = m + 1
		case c > 0:
			hi = m
		default:
			_, cons, flags, idLen, window := keysnap.Record(rec[:keysnap.RecordSize:keysnap.RecordSize], 0)
			start := s.idStart(m)
			*out = keyEntry{notBefore: noLowerBound, notAfter: noUpperBound, idStart: start,
				idEnd: start + uint32(idLen), consumer: int32(cons), revoked: flags&keysnap.FlagRevoked != 0}
			if window != 0 {
				out.notBefore, out.notAfter = s.window(int(window - 1))
			}
			return out
		}
	}
	return nil
}
