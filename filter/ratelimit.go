package main

import (
	"errors"
	"strconv"
	"time"
	"unsafe"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/apiguard/apiguard/policy"
)

// maxCASAttempts bounds the compare-and-swap loop on one bucket. Each
// attempt is two host calls; a mismatch means another worker's VM updated the
// same bucket between our read and our write.
const maxCASAttempts = 8

// store is the bucket state shared by all VMs of the plugin: proxy-wasm
// shared data in Envoy (hostStore); tests substitute their own.
type store interface {
	// Get returns the value and its CAS token; found is false for a missing key.
	Get(key string) (value []byte, cas uint32, found bool, err error)
	// Set writes value if the key's CAS token still equals cas (0: write
	// unconditionally); mismatch reports a lost race.
	Set(key string, value []byte, cas uint32) (mismatch bool, err error)
}

// hostStore is proxy-wasm shared data: one key-value store per VM id, shared
// by the VMs of every worker thread and by every plugin of the same VM id.
// Istio sets no vm_id, so every WasmPlugin of a proxy shares one store (and
// plain Envoy with vm_id: apiguard does for every apiguard filter):
// hostStore puts prefix, which names the plugin (pluginPrefix), in front of
// every key, so that two apiguard filters in one proxy keep separate
// buckets.
type hostStore struct {
	prefix string
	// buf holds prefix+key for one host call. Both hosts copy the key
	// before the call returns (Envoy into its shared-data map, the SDK's
	// emulator with strings.Clone), so the buffer is reused: no allocation
	// per call once it has grown to the longest key.
	buf []byte
}

func (s *hostStore) key(k string) string {
	s.buf = append(append(s.buf[:0], s.prefix...), k...)
	return unsafe.String(unsafe.SliceData(s.buf), len(s.buf))
}

func (s *hostStore) Get(key string) ([]byte, uint32, bool, error) {
	v, cas, err := getSharedData(s.key(key))
	if err == nil {
		return v, cas, true, nil
	}
	if errors.Is(err, types.ErrorStatusNotFound) {
		return nil, 0, false, nil
	}
	return v, cas, false, err
}

func (s *hostStore) Set(key string, value []byte, cas uint32) (bool, error) {
	err := setSharedData(s.key(key), value, cas)
	if err == nil {
		return false, nil
	}
	if errors.Is(err, types.ErrorStatusCasMismatch) {
		return true, nil
	}
	return false, err
}

// pluginPrefix is the shared-data key prefix of the plugin named name:
// "plugin/<length of name>:<name>/". The length makes the prefix
// unambiguous whatever the name contains (Envoy puts no limit on it).
func pluginPrefix(name string) string {
	return "plugin/" + strconv.Itoa(len(name)) + ":" + name + "/"
}

// pluginName is the name that separates this plugin's buckets from those of
// other plugins sharing its VM id: Envoy's plugin_name property (the
// filter's config.name; Istio sets it to <namespace>.<name> of the
// WasmPlugin), else plugin_root_id, else "". property reads one property;
// the names come from the configuration, so every worker reads the same.
func pluginName(property func(path []string) ([]byte, error)) (name, from string) {
	for _, p := range [...]string{"plugin_name", "plugin_root_id"} {
		if b, err := property([]string{p}); err == nil && len(b) > 0 {
			return string(b), p
		}
	}
	return "", ""
}

// limiter applies token buckets kept in a store shared across VMs.
type limiter struct {
	store   store
	metrics *metrics
	// state is where the new state of a bucket is encoded before it is
	// stored (the store copies it): one buffer per plugin, so that a
	// request allocates nothing for it.
	state *[policy.StateLen]byte
	// empty holds the states of buckets found without a token
	// (ratelimit_empty.go); nil remembers none.
	empty *emptyBuckets
}

// take takes one token from the bucket at key. ok is false when no answer
// could be had: the store failed, or the bucket was contended through every
// CAS attempt. The caller then denies the request as rate limited (fail
// closed): a bucket that hot is one the limit exists for, and the client is
// told to retry after a second.
//
// A missing bucket is created first, full (create), and then taken from by
// compare-and-swap like any other. A bucket found without a token is
// decided from its remembered state until its next token is due (empty).
func (l limiter) take(key string, lim *policy.Limit, now time.Time) (res policy.TakeResult, ok bool) {
	var dst []byte
	if l.state != nil {
		dst = l.state[:0]
	}
	if state := l.empty.find(key, lim); state != nil {
		if _, res := lim.TakeInto(dst, state, now); !res.Allowed {
			return res, true
		}
		l.empty.forget(key)
	}
	for range maxCASAttempts {
		state, cas, found, err := l.store.Get(key)
		if err == nil && !found {
			if err = l.create(key); err == nil {
				state, cas, found, err = l.store.Get(key)
			}
		}
		if err != nil {
			return l.storeFailure(err)
		}
		if !found {
			// Created and gone again: nothing deletes a bucket, so this is
			// a store that lost the write; write without a token, as for a
			// missing key the host would anyway.
			cas = 0
		}
		next, res := lim.TakeInto(dst, state, now)
		if !res.Allowed {
			l.empty.remember(key, lim, state)
			return res, true // nothing changed worth writing
		}
		mismatch, err := l.store.Set(key, next, cas)
		if err != nil {
			return l.storeFailure(err)
		}
		if !mismatch {
			return res, true
		}
		l.metrics.casRetries.Increment(1)
	}
	l.metrics.casExhausted.Increment(1)
	return policy.TakeResult{RetryAfter: time.Second}, false
}

// create writes the bucket at key, which a read just found missing, as a
// full bucket (an empty value). proxy-wasm shared data has no
// create-if-absent: a write to a missing key ignores its CAS token. So the
// bucket is created empty and taken from only by compare-and-swap, and a
// race is lost only when another worker creates the same bucket and takes
// from it, both between this worker's read and its write: the write then
// makes the bucket full again. That is the window of creating every bucket
// up front (prepare) as well, where another worker serves from a bucket
// while this one's start creates it; it is the first take of a bucket
// that pays for the creation instead (two more calls, once per bucket).
// A bucket nobody asks for is never created.
func (l limiter) create(key string) error {
	_, err := l.store.Set(key, nil, 0)
	return err
}

// prepare creates every bucket the policy can name that does not exist yet,
// as a full bucket (an empty value), at plugin start: the buckets of the
// configuration's own consumers and anonymous slots (a key store's are
// created on first use, see create). It returns how many buckets exist and
// how many it made.
func (l limiter) prepare(p *policy.Policy) (total, created int, err error) {
	p.BucketKeys(func(key string) bool {
		total++
		_, _, found, e := l.store.Get(key)
		if e == nil && !found {
			e = l.create(key)
			created++
		}
		err = e
		return e == nil
	})
	return total, created, err
}

func (l limiter) storeFailure(err error) (policy.TakeResult, bool) {
	l.metrics.storeErrors.Increment(1)
	proxywasm.LogErrorf("apiguard: rate-limit store: %v", err)
	return policy.TakeResult{RetryAfter: time.Second}, false
}
