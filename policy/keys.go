package policy

import (
	"math"
	"time"
)

// keyEntry is one configured key, found by the SHA-256 of the raw key.
// A configuration holds one per key, so it is small (32 bytes) and holds no
// pointer (see Policy.keys).
type keyEntry struct {
	notBefore int64 // Unix nanoseconds (see unixNano); noLowerBound when absent
	notAfter  int64 // Unix nanoseconds (see unixNano); noUpperBound when absent
	// idStart and idEnd locate the key id in Policy.keyIDs.
	idStart, idEnd uint32
	consumer       int32 // index in Policy.consumers
	revoked        bool
}

// keyID returns the id of the key e.
func (p *Policy) keyID(e *keyEntry) string {
	if p.snap != nil {
		return p.snap.id(e.idStart, e.idEnd)
	}
	return p.keyIDs[e.idStart:e.idEnd]
}

// Validity bounds of a key without not_before or not_after.
const (
	noLowerBound = math.MinInt64
	noUpperBound = math.MaxInt64
)

// unixNano returns t in nanoseconds since the Unix epoch, clamped to the
// range of int64 (the years 1678 to 2262), where time.Time.UnixNano is
// undefined. Clamping keeps every comparison with a request time in that
// range exact: a bound after 2262 lies after any such request time, one
// before 1678 before it.
func unixNano(t time.Time) int64 {
	switch {
	case t.Before(minUnixNano):
		return math.MinInt64
	case t.After(maxUnixNano):
		return math.MaxInt64
	}
	return t.UnixNano()
}

var (
	minUnixNano = time.Unix(0, math.MinInt64)
	maxUnixNano = time.Unix(0, math.MaxInt64)
)

// consumer is one configured consumer. It holds no pointer, so that the
// garbage collector never scans a table of them (a key store's may hold
// millions): its strings lie in the policy's consumer text
// (Policy.consumerText[chunk][off:]) as the partition key (16 bytes), the
// id, then its bucket key under each rate-limit policy, in the order of
// Policy.limits; read them with the Policy's accessors (consumer_build.go).
type consumer struct {
	chunk, off uint32
	idLen      uint16
	set        uint32 // index into Policy.scopeSets: scopes, header, bits
	limit      int32  // index into Policy.limits, -1 for none
	quota      int32  // index into Policy.quotas, -1 for none
}
