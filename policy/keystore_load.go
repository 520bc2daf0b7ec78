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

// LoadError is why a snapshot was rejected. Its message never contains key
// material (digests or keys); it may name consumer and key ids.
type LoadError struct {
	Cause LoadCause
	Msg   string
}

func (e *LoadError) Error() string {
	return "key snapshot rejected (" + e.Cause.String() + "): " + e.Msg
}

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

	cr        *keysnap.ConsumerReader
	cc        keysnap.Consumer
	consumers []consumer
	// np is the policy being made: the base's, with the snapshot's
	// consumers (their text and scope sets) and keys.
	np         *Policy
	seen       map[string]int
	limitIndex map[string]int
	quotaIndex map[string]int
	scopeIDs   map[string]int
	builder    *consumerBuilder

	ki, wi  int
	idOff   uint32
	buckets []uint32
	idBase  []uint32
	// ids is an open-addressing set of key record indices + 1 (0: empty),
	// hashed by key id, to refuse a key id used twice.
	ids []uint32
	// index is set when the keys were indexed by an earlier load of the
	// same verified snapshot (Policy.Rebind): only the consumers are built.
	index *snapIndex
	// prev is the policy whose consumers this snapshot repeats
	// (NewLoaderAfter): they are shared, not built.
	prev *Policy

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

// CheckHeader checks a snapshot's header from prefix, which holds at least
// the header (keysnap.MaxHeaderSize bytes, or the whole snapshot when it is
// shorter) and may hold more: the format, the signature against the
// key_store's public key, the audience, and that the size the signed header
// announces fits key_store.max_size. A filter calls it on the first range
// of a fetch, before it allocates room for the rest: nothing the store
// sends sizes memory before the signature holds. The error is a
// *LoadError.
func (p *Policy) CheckHeader(prefix []byte) (keysnap.Header, error) {
	ks := p.keyStore
	if ks == nil {
		return keysnap.Header{}, errors.New("policy: the configuration has no key_store")
	}
	h, err := keysnap.ParseHeaderPrefix(prefix)
	if err != nil {
		return h, loadError(err)
	}
	if ks.PublicKey != nil {
		if err := keysnap.VerifySignature(prefix, &h, ks.PublicKey); err != nil {
			return h, loadError(err)
		}
	} else if !ks.AllowUnsigned {
		return h, &LoadError{Cause: CauseUnsigned, Msg: "no public key configured"}
	}
	if h.Audience != ks.Audience {
		return h, &LoadError{Cause: CauseWrongAudience, Msg: "the snapshot is for audience " + quote(h.Audience) +
			", the key_store's audience is " + quote(ks.Audience)}
	}
	if h.Total() > uint64(ks.MaxSize) {
		return h, &LoadError{Cause: CauseTooLarge, Msg: "the snapshot has " + strconv.FormatUint(h.Total(), 10) +
			" bytes, more than key_store.max_size (" + strconv.FormatInt(ks.MaxSize, 10) + ")"}
	}
	return h, nil
}

// NewLoader checks the snapshot data as CheckHeader does and that it has
// the length its header announces, and returns a Loader of it. It fails
// with a *LoadError; the body is checked by Step.
func (p *Policy) NewLoader(data []byte) (*Loader, error) { return p.NewLoaderAfter(data, nil) }

// NewLoaderAfter is NewLoader for a snapshot that replaces the one prev
// (a policy an earlier Loader of p made, or nil) was loaded from: when the
// two have byte for byte the same consumers, the new policy shares prev's
// compiled consumers instead of building them again. This halves what a
// reload of a large key set holds in memory at the swap when only keys
// changed, and skips the consumer stage. Compiled consumers hold no view of
// their snapshot, so sharing them keeps no older snapshot alive.
func (p *Policy) NewLoaderAfter(data []byte, prev *Policy) (*Loader, error) {
	l, err := p.newLoader(data)
	if err == nil && prev != nil && prev.base == p && prev.snapVersion == l.hdr.Version &&
		bytes.Equal(prev.snapConsumers, l.sec.Consumers) {
		l.prev = prev
	}
	return l, err
}

func (p *Policy) newLoader(data []byte) (*Loader, error) {
	began := time.Now()
	h, err := p.CheckHeader(data)
	if err != nil {
		return nil, err
	}
	if _, err := keysnap.ParseHeader(data); err != nil {
		return nil, loadError(err)
	}
	l := &Loader{base: p, data: data, hdr: h, sec: keysnap.Sections(data, &h)}
	l.hasher = keysnap.NewHasher(data, &h)
	l.stats.Verify = time.Since(began)
	return l, nil
}

// Verified is a snapshot that a Loader verified and indexed: its bytes, its
// header and the index of its keys, which depend on the snapshot alone.
// Any configuration with the same key store can bind it (Rebind) without
// fetching, hashing or indexing it again. It is immutable.
type Verified struct {
	data  []byte
	hdr   keysnap.Header
	index *snapIndex
}

// Header returns the verified snapshot's header.
func (v *Verified) Header() keysnap.Header { return v.hdr }

// Rebind returns a Loader that binds the verified snapshot v to p: it
// checks the header against p's key store (the audience and max_size may
// differ from those v was loaded with) and then only builds the consumers,
// against p's rate limits, quotas and route scopes. Run it to the end with
// Step as any Loader.
func (p *Policy) Rebind(v *Verified) (*Loader, error) {
	if _, err := p.CheckHeader(v.data); err != nil {
		return nil, err
	}
	l := &Loader{base: p, data: v.data, hdr: v.hdr, sec: keysnap.Sections(v.data, &v.hdr), index: v.index}
	l.startConsumers()
	return l, nil
}

// Verified returns the verified snapshot once the load succeeded, for
// Rebind.
func (l *Loader) Verified() *Verified {
	if l.out == nil {
		return nil
	}
	return &Verified{data: l.data, hdr: l.hdr, index: l.out.snap}
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

func (l *Loader) fail(cause LoadCause, msg string) {
	l.err = &LoadError{Cause: cause, Msg: msg}
	l.stage = stageDone
	l.consumers, l.np, l.seen, l.builder, l.ids = nil, nil, nil, nil, nil
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
	np := *p
	l.np = &np
	if prev := l.prev; prev != nil {
		l.consumers = prev.consumers
		np.consumerText, np.scopeSets, np.limitKeyOff = prev.consumerText, prev.scopeSets, prev.limitKeyOff
		l.prev = nil
		l.startKeys()
		return
	}
	l.cr = keysnap.NewConsumerReader(l.sec.Consumers, l.hdr.Version, view)
	l.consumers = make([]consumer, 0, n)
	l.seen = make(map[string]int, n)
	l.limitIndex = make(map[string]int, len(p.limits))
	for i, lim := range p.limits {
		l.limitIndex[lim.Name] = i
	}
	l.quotaIndex = make(map[string]int, len(p.quotas))
	for i, q := range p.quotas {
		l.quotaIndex[q.Name] = i
	}
	// The interned ids of the route scopes, as Compile assigned them: a
	// consumer scope no route requires needs no bit.
	l.scopeIDs = map[string]int{}
	p.eachRoute(func(r *route) {
		for i, s := range r.scopes {
			l.scopeIDs[s] = r.scopeIDs[i]
		}
	})
	l.builder = newConsumerBuilder(l.np, func(s string) (int, bool) {
		id, ok := l.scopeIDs[s]
		return id, ok
	})
	l.stage = stageConsumers
	if n == 0 {
		l.startKeys()
	}
}

func (l *Loader) nextConsumer() {
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
	limit, quota := -1, -1
	if cc.RateLimit != "" {
		i, ok := l.limitIndex[cc.RateLimit]
		if !ok {
			l.fail(CauseConfigMismatch, where+": unknown rate limit policy "+quote(cc.RateLimit)+" (not in the configuration's rate_limits)")
			return
		}
		limit = i
	}
	if cc.Quota != "" {
		i, ok := l.quotaIndex[cc.Quota]
		if !ok {
			l.fail(CauseConfigMismatch, where+": unknown quota "+quote(cc.Quota)+" (not in the configuration's quotas)")
			return
		}
		quota = i
	}
	scopes := cc.Scopes // the reader's scratch: the builder copies what it keeps
	sort.Strings(scopes)
	for i, s := range scopes {
		if !isScope(s) {
			l.fail(CauseInvalid, where+": scope "+quote(s)+" is not a scope token")
			return
		}
		if i > 0 && scopes[i-1] == s {
			l.fail(CauseInvalid, where+": duplicate scope "+quote(s))
			return
		}
	}
	l.consumers = append(l.consumers, l.builder.build(cc.ID, scopes, limit, quota))
	if len(l.consumers) == int(l.hdr.Consumers) {
		if l.cr.Remaining() != 0 {
			l.fail(CauseCorrupt, "bytes left over after the last consumer")
			return
		}
		l.startKeys()
	}
}

func (l *Loader) startKeys() {
	l.seen, l.builder, l.cr = nil, nil, nil
	if l.index != nil { // indexed by the load that verified the snapshot
		l.finish()
		return
	}
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
	size := 16
	for size < 2*int(l.hdr.Keys) {
		size *= 2
	}
	l.ids = make([]uint32, size)
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
		id := view(l.sec.IDs[l.idOff : l.idOff+uint32(idLen)])
		if !isVisibleASCII(id) {
			l.fail(CauseInvalid, "key record "+strconv.Itoa(i)+": key id must be visible ASCII")
			return
		}
		if !l.uniqueID(i, id) {
			l.fail(CauseInvalid, "key id "+quote(id)+" is used by two keys: key ids are unique")
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

// uniqueID adds key record i, whose id is id, to the set of key ids, and
// reports whether no earlier record has the same id. Records before i have
// their ids located through idBase, which is filled up to i.
func (l *Loader) uniqueID(i int, id string) bool {
	mask := uint64(len(l.ids) - 1)
	for slot := fnv1a(0, id) & mask; ; slot = (slot + 1) & mask {
		e := l.ids[slot]
		if e == 0 {
			l.ids[slot] = uint32(i) + 1
			return true
		}
		if l.recordID(int(e-1)) == id {
			return false
		}
	}
}

// recordID is the id of key record m, located as snapIndex.find does.
func (l *Loader) recordID(m int) string {
	start := l.idBase[m/idGroup]
	for j := m - m%idGroup; j < m; j++ {
		start += uint32(l.sec.Records[j*keysnap.RecordSize+36]) + 1
	}
	return view(l.sec.IDs[start : start+uint32(l.sec.Records[m*keysnap.RecordSize+36])+1])
}

func (l *Loader) finishKeys() {
	l.ids = nil
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
	np := *l.np
	np.keys, np.entries = nil, nil
	np.keyIDs = view(l.sec.IDs)
	np.base, np.snapConsumers, np.snapVersion = l.base, l.sec.Consumers, l.hdr.Version
	np.consumers = l.consumers
	np.warnings = nil
	np.snap = l.index
	if np.snap == nil {
		np.snap = &snapIndex{records: l.sec.Records, windows: l.sec.Windows, buckets: l.buckets, idBase: l.idBase}
	}
	l.out = &np
	l.consumers, l.np, l.buckets, l.idBase = nil, nil, nil, nil
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
