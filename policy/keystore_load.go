package policy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"sort"
	"strconv"
	"time"
	"unsafe"

	"github.com/apiguard/apiguard/policy/keysnap"
)

// Causes of a rejected snapshot (LoadError.Cause), stable for metrics.
const (
	CauseTruncated       = "truncated"
	CauseCorrupt         = "corrupt"
	CauseUnsigned        = "unsigned"
	CauseBadSignature    = "bad_signature"
	CauseOlderGeneration = "older_generation"
	CauseConfigMismatch  = "config_mismatch"
	CauseInvalid         = "invalid"
)

// LoadCauses lists every cause, for metric registration.
func LoadCauses() []string {
	return []string{CauseTruncated, CauseCorrupt, CauseUnsigned, CauseBadSignature,
		CauseOlderGeneration, CauseConfigMismatch, CauseInvalid}
}

// LoadError is why a snapshot was rejected. Its message never contains key
// material (digests or keys); it may name consumer and key ids.
type LoadError struct {
	Cause string
	Msg   string
}

func (e *LoadError) Error() string { return "key snapshot rejected (" + e.Cause + "): " + e.Msg }

func loadError(err error) *LoadError {
	cause := CauseCorrupt
	switch {
	case errors.Is(err, keysnap.ErrTruncated):
		cause = CauseTruncated
	case errors.Is(err, keysnap.ErrUnsigned):
		cause = CauseUnsigned
	case errors.Is(err, keysnap.ErrBadSignature):
		cause = CauseBadSignature
	}
	return &LoadError{Cause: cause, Msg: err.Error()}
}

// snapIndex finds the keys of a loaded snapshot. It is a view of the
// snapshot's bytes (which must never change) plus two small tables:
// buckets[b] is the first record whose digest starts with the 16 bits b,
// idBase[i] the offset of the id of record idGroup*i in the id section.
type snapIndex struct {
	records []byte
	windows []byte
	buckets []uint32
	idBase  []uint32
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
		rec := s.records[m*keysnap.RecordSize : m*keysnap.RecordSize+32]
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
			_, cons, flags, idLen, window := keysnap.Record(s.records, m)
			start := s.idBase[m/idGroup]
			for j := m - m%idGroup; j < m; j++ {
				start += uint32(s.records[j*keysnap.RecordSize+36]) + 1
			}
			*out = keyEntry{notBefore: noLowerBound, notAfter: noUpperBound, idStart: start,
				idEnd: start + uint32(idLen), consumer: int32(cons), revoked: flags&keysnap.FlagRevoked != 0}
			if window != 0 {
				out.notBefore, out.notAfter = keysnap.Window(s.windows, int(window-1))
			}
			return out
		}
	}
	return nil
}

// Loader turns a snapshot into a Policy in steps, so that a filter can
// spread the work of a large snapshot over many short callbacks while the
// previous Policy keeps serving. A Loader is made by Policy.NewLoader,
// advanced by Step until it reports done, then gives its result with
// Policy or Err.
//
// The Policy made keeps data: the caller must never modify it.
type Loader struct {
	base *Policy
	data []byte
	hdr  keysnap.Header
	sec  keysnap.Body

	stage  int
	hasher *keysnap.Hasher

	cr         *keysnap.ConsumerReader
	cc         keysnap.Consumer
	consumers  []consumer
	bucketKeys []string
	seen       map[string]int
	limitIndex map[string]int
	scopeIDs   map[string]int
	sets       map[string]*scopeSet

	ki, wi  int
	idOff   uint32
	header  []byte // scratch for a consumer's scopes header
	arena   []byte // the current chunk of alloc
	buckets []uint32
	idBase  []uint32

	err *LoadError
	out *Policy

	stats LoadStats
}

// LoadStats is where a load spent its time (measured with the VM's clock).
type LoadStats struct {
	// Verify is checking the signature and hashing the body; Index is
	// checking and indexing the consumers and keys.
	Verify, Index time.Duration
	// Steps counts the calls of Step.
	Steps int
}

// Stats returns the time spent so far.
func (l *Loader) Stats() LoadStats { return l.stats }

// scopeSet is what consumers with the same scopes share.
type scopeSet struct {
	scopes []string
	header string
	bits   []uint64
}

// Loader stages.
const (
	stageHash = iota
	stageConsumers
	stageWindows
	stageKeys
	stageDone
)

// Work per unit of Step, between clock reads.
const (
	hashUnit     = 128 << 10
	consumerUnit = 128
	keyUnit      = 4096
)

// NewLoader checks the header and the signature of the snapshot data
// against the key_store section of p, and returns a Loader of it. It fails
// with a *LoadError for a truncated or corrupt header, or a signature that
// does not verify; the body is checked by Step.
func (p *Policy) NewLoader(data []byte) (*Loader, error) {
	began := time.Now()
	ks := p.keyStore
	if ks == nil {
		return nil, errors.New("policy: the configuration has no key_store")
	}
	h, err := keysnap.ParseHeader(data)
	if err != nil {
		return nil, loadError(err)
	}
	if ks.PublicKey != nil {
		if err := keysnap.VerifySignature(data, &h, ks.PublicKey); err != nil {
			return nil, loadError(err)
		}
	} else if !ks.AllowUnsigned {
		return nil, &LoadError{Cause: CauseUnsigned, Msg: "no public key configured"}
	}
	l := &Loader{base: p, data: data, hdr: h, sec: keysnap.Sections(data, &h)}
	l.hasher = keysnap.NewHasher(data, &h)
	l.stats.Verify = time.Since(began)
	return l, nil
}

// Header returns the snapshot's header.
func (l *Loader) Header() keysnap.Header { return l.hdr }

// Step advances the load for about budget (at least one unit of work) and
// reports whether it is finished.
func (l *Loader) Step(budget time.Duration) (done bool) {
	start := time.Now()
	last := start
	l.stats.Steps++
	for l.stage != stageDone {
		hashing := l.stage == stageHash
		l.unit()
		now := time.Now()
		if hashing {
			l.stats.Verify += now.Sub(last)
		} else {
			l.stats.Index += now.Sub(last)
		}
		last = now
		if now.Sub(start) >= budget {
			break
		}
	}
	return l.stage == stageDone
}

// Err returns why the snapshot was rejected, nil when it was not (or the
// load is not finished).
func (l *Loader) Err() *LoadError { return l.err }

// Policy returns the policy with the snapshot's keys, once Step reported
// done and Err is nil.
func (l *Loader) Policy() *Policy { return l.out }

func (l *Loader) fail(cause, msg string) {
	l.err = &LoadError{Cause: cause, Msg: msg}
	l.stage = stageDone
	l.consumers, l.bucketKeys, l.seen, l.sets = nil, nil, nil, nil
}

// view returns b as a string without copying: snapshot data never changes.
func view(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

func (l *Loader) unit() {
	switch l.stage {
	case stageHash:
		done, err := l.hasher.Step(hashUnit)
		if err != nil {
			l.err = loadError(err)
			l.stage = stageDone
			return
		}
		if done {
			l.hasher = nil
			l.startConsumers()
		}
	case stageConsumers:
		for n := 0; n < consumerUnit && l.stage == stageConsumers; n++ {
			l.nextConsumer()
		}
	case stageWindows:
		l.windows()
	case stageKeys:
		l.keys()
	}
}

func (l *Loader) startConsumers() {
	p := l.base
	n := int(l.hdr.Consumers)
	l.cr = keysnap.NewConsumerReader(l.sec.Consumers, view)
	l.consumers = make([]consumer, 0, n)
	l.bucketKeys = make([]string, n*len(p.limits))
	l.seen = make(map[string]int, n)
	l.sets = map[string]*scopeSet{}
	l.limitIndex = make(map[string]int, len(p.limits))
	for i, lim := range p.limits {
		l.limitIndex[lim.Name] = i
	}
	// The interned ids of the route scopes, as Compile assigned them: a
	// consumer scope no route requires needs no bit.
	l.scopeIDs = map[string]int{}
	p.eachRoute(func(r *route) {
		for i, s := range r.scopes {
			l.scopeIDs[s] = r.scopeIDs[i]
		}
	})
	l.stage = stageConsumers
	if n == 0 {
		l.startKeys()
	}
}

func (l *Loader) nextConsumer() {
	p := l.base
	ci := len(l.consumers)
	cc := &l.cc
	if err := l.cr.Next(cc); err != nil {
		l.fail(CauseCorrupt, "consumer "+strconv.Itoa(ci)+": "+err.Error())
		return
	}
	where := "consumer " + strconv.Itoa(ci)
	if !isIdentifier(cc.ID) {
		l.fail(CauseInvalid, where+": id must be 1 to 256 visible ASCII characters")
		return
	}
	where = "consumer " + quote(cc.ID)
	if prev, dup := l.seen[cc.ID]; dup {
		l.fail(CauseInvalid, where+": duplicate consumer id (also consumer "+strconv.Itoa(prev)+")")
		return
	}
	l.seen[cc.ID] = ci
	limit := -1
	if cc.RateLimit != "" {
		i, ok := l.limitIndex[cc.RateLimit]
		if !ok {
			l.fail(CauseConfigMismatch, where+": unknown rate limit policy "+quote(cc.RateLimit)+" (not in the configuration's rate_limits)")
			return
		}
		limit = i
	}
	scopes := cc.Scopes // the reader's scratch: copied below when kept
	sort.Strings(scopes)
	l.header = l.header[:0]
	for i, s := range scopes {
		if !isScope(s) {
			l.fail(CauseInvalid, where+": scope "+quote(s)+" is not a scope token")
			return
		}
		if i > 0 && scopes[i-1] == s {
			l.fail(CauseInvalid, where+": duplicate scope "+quote(s))
			return
		}
		if i > 0 {
			l.header = append(l.header, ' ')
		}
		l.header = append(l.header, s...)
	}
	set := l.sets[string(l.header)]
	if set == nil {
		set = &scopeSet{scopes: append([]string(nil), scopes...), header: string(l.header)}
		for _, s := range scopes {
			if id, ok := l.scopeIDs[s]; ok {
				for len(set.bits) <= id/64 {
					set.bits = append(set.bits, 0)
				}
				set.bits[id/64] |= 1 << (uint(id) % 64)
			}
		}
		l.sets[set.header] = set
	}
	nl := len(p.limits)
	size := 16
	for _, lim := range p.limits {
		size += len("consumer/") + len(lim.Name) + 1 + len(cc.ID)
	}
	buf := l.alloc(size)[:0]
	buf = append(buf, shortHash(p.anonSeed^0x636f6e73756d6572, cc.ID)...)
	keys := l.bucketKeys[ci*nl : (ci+1)*nl : (ci+1)*nl]
	at := len(buf)
	for _, lim := range p.limits {
		buf = append(buf, "consumer/"...)
		buf = append(buf, lim.Name...)
		buf = append(buf, '/')
		buf = append(buf, cc.ID...)
	}
	all := view(buf) // buf lies in an arena chunk that is never written again
	for i, lim := range p.limits {
		n := len("consumer/") + len(lim.Name) + 1 + len(cc.ID)
		keys[i] = all[at : at+n]
		at += n
	}
	l.consumers = append(l.consumers, consumer{id: cc.ID, scopes: set.scopes, scopeHeader: set.header,
		scopeBits: set.bits, limit: limit, bucketKeys: keys, partitionKey: all[:16],
		// A snapshot names no quotas: its consumers count under the route's
		// quota or default_quota only.
		quota: -1})
	if len(l.consumers) == int(l.hdr.Consumers) {
		if l.cr.Remaining() != 0 {
			l.fail(CauseCorrupt, "bytes left over after the last consumer")
			return
		}
		l.startKeys()
	}
}

// arenaChunk is the size of the chunks the per-consumer strings are packed
// into: one allocation per chunk instead of one per consumer.
const arenaChunk = 64 << 10

// alloc returns n bytes of the arena. They are written once, by the caller,
// before the next alloc, and then only read (as strings).
func (l *Loader) alloc(n int) []byte {
	if n > arenaChunk/4 {
		return make([]byte, n)
	}
	if cap(l.arena)-len(l.arena) < n {
		l.arena = make([]byte, 0, arenaChunk)
	}
	b := l.arena[len(l.arena) : len(l.arena)+n : len(l.arena)+n]
	l.arena = l.arena[:len(l.arena)+n]
	return b
}

func (l *Loader) startKeys() {
	l.seen, l.sets, l.cr, l.header, l.arena = nil, nil, nil, nil, nil
	l.stage = stageWindows
}

// windows checks up to keyUnit validity windows.
func (l *Loader) windows() {
	n := int(l.hdr.Windows)
	end := min(n, l.wi+keyUnit)
	for i := l.wi; i < end; i++ {
		if nb, na := keysnap.Window(l.sec.Windows, i); na <= nb {
			l.fail(CauseInvalid, "validity window "+strconv.Itoa(i)+": not_after must be after not_before")
			return
		}
	}
	l.wi = end
	if l.wi < n {
		return
	}
	l.buckets = make([]uint32, 1<<16+1)
	l.idBase = make([]uint32, (int(l.hdr.Keys)+idGroup-1)/idGroup)
	l.stage = stageKeys
	if l.hdr.Keys == 0 {
		l.finishKeys()
	}
}

// keys checks up to keyUnit key records and fills the tables.
func (l *Loader) keys() {
	n := int(l.hdr.Keys)
	recs := l.sec.Records
	end := min(n, l.ki+keyUnit)
	for i := l.ki; i < end; i++ {
		digest, cons, flags, idLen, window := keysnap.Record(recs, i)
		if i > 0 && bytes.Compare(recs[(i-1)*keysnap.RecordSize:(i-1)*keysnap.RecordSize+32], digest) >= 0 {
			l.fail(CauseCorrupt, "key records are not in strictly ascending digest order (a duplicate key?) at record "+strconv.Itoa(i))
			return
		}
		if int(cons) >= len(l.consumers) || flags&^keysnap.FlagRevoked != 0 || window > l.hdr.Windows {
			l.fail(CauseCorrupt, "key record "+strconv.Itoa(i)+": consumer index, flags or window out of range")
			return
		}
		if uint64(l.idOff)+uint64(idLen) > uint64(len(l.sec.IDs)) {
			l.fail(CauseCorrupt, "key ids overrun their section")
			return
		}
		if i%idGroup == 0 {
			l.idBase[i/idGroup] = l.idOff
		}
		if !isVisibleASCII(view(l.sec.IDs[l.idOff : l.idOff+uint32(idLen)])) {
			l.fail(CauseInvalid, "key record "+strconv.Itoa(i)+": key id must be visible ASCII")
			return
		}
		l.idOff += uint32(idLen)
		l.buckets[(int(digest[0])<<8|int(digest[1]))+1]++
	}
	l.ki = end
	if l.ki == n {
		l.finishKeys()
	}
}

func (l *Loader) finishKeys() {
	if l.idOff != uint32(len(l.sec.IDs)) {
		l.fail(CauseCorrupt, "key id section does not match the key records")
		return
	}
	for b := 1; b < len(l.buckets); b++ {
		l.buckets[b] += l.buckets[b-1]
	}
	l.finish()
}

func (l *Loader) finish() {
	np := *l.base
	np.keys, np.entries = nil, nil
	np.keyIDs = view(l.sec.IDs)
	np.consumers = l.consumers
	np.warnings = nil
	np.snap = &snapIndex{records: l.sec.Records, windows: l.sec.Windows, buckets: l.buckets, idBase: l.idBase}
	l.out = &np
	l.consumers, l.bucketKeys, l.buckets, l.idBase = nil, nil, nil, nil
	l.stage = stageDone
}

// LoadSnapshot loads the snapshot data in one go (for apiguard validate and
// tests): the policy of p with the snapshot's keys, or a *LoadError.
func (p *Policy) LoadSnapshot(data []byte) (*Policy, error) {
	l, err := p.NewLoader(data)
	if err != nil {
		return nil, err
	}
	for !l.Step(time.Hour) {
	}
	if l.err != nil {
		return nil, l.err
	}
	return l.out, nil
}
