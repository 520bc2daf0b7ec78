package main

import (
	"unsafe"

	"github.com/apiguard/apiguard/policy"
)

// emptyBuckets remembers, per worker, the state of buckets a take found
// without a token, so that the next takes of the same bucket decide
// without reading shared data until the bucket's next token is due: under
// sustained overload (the traffic rate limits exist for) a 429 then makes
// no shared-data call.
//
// The state read is still the bucket's state: a bucket's tokens grow only
// with time, and a take writes only when it takes a token, which no worker
// can while the bucket holds none. So until TakeInto, given the remembered
// state and the request's time, finds a token, it gives exactly the answer
// the shared state would (the same retry and reset times), and from then on
// the take reads shared data again. A worker whose request carries an
// earlier time than another worker's that found the next token answers
// from the time its own request was made: a denial the shared state might
// no longer give. The entries hold the policy's bucket keys and limits:
// setPolicy empties them, and a limit compared by pointer never answers
// for a configuration pushed since.
type emptyBuckets [16]emptyBucket

type emptyBucket struct {
	key   string
	limit *policy.Limit
	state [policy.StateLen]byte
}

// slot is the entry for bucket key.
func (e *emptyBuckets) slot(key string) *emptyBucket {
	return &e[(uintptr(unsafe.Pointer(unsafe.StringData(key)))>>3^uintptr(len(key)))%uintptr(len(e))]
}

// find returns the remembered state of bucket key under lim, if any.
func (e *emptyBuckets) find(key string, lim *policy.Limit) []byte {
	if e == nil {
		return nil
	}
	if s := e.slot(key); s.limit == lim && lim != nil && sameString(s.key, key) {
		return s.state[:]
	}
	return nil
}

// remember keeps state, a state of bucket key under lim in which a take
// found no token (policy.StateLen bytes; other states are not kept).
func (e *emptyBuckets) remember(key string, lim *policy.Limit, state []byte) {
	if e == nil || len(state) != policy.StateLen {
		return
	}
	s := e.slot(key)
	s.key, s.limit = key, lim
	copy(s.state[:], state)
}

// clear drops every remembered bucket (setPolicy).
func (e *emptyBuckets) clear() {
	if e != nil {
		*e = emptyBuckets{}
	}
}

// forget drops what is remembered of bucket key.
func (e *emptyBuckets) forget(key string) {
	if e == nil {
		return
	}
	if s := e.slot(key); sameString(s.key, key) {
		*s = emptyBucket{}
	}
}
