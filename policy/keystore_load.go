package policy

import (
	"encoding/binary"
	"errors"
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

// Loader turns a snapshot into a Policy in steps, so that a filter can
// spread the work of a large snapshot over many short callbacks while the
// previous Policy keeps serving. A Loader is made by Policy.NewLoader,
// advanced by Step until it reports done, then gives its result with
// Policy or Err.
//
// The Policy made keeps data: the caller must never modify it.
type Loader struct {
	base *Policy
	hdr  keysnap.Header
	// ix is the index being made, or that of an earlier load (indexed).
	ix *snapIndex

	stage  int
	hasher *keysnap.Hasher

	cr        *keysnap.ConsumerReader
	cc        keysnap.Consumer
	consumers []consumer
	// np is the policy being made: the base's, with the snapshot's
	// consumers (their text and scope sets) and keys.
	np         *Policy
	seen       idSet
	limitIndex nameIndex
	quotaIndex nameIndex
	scopeIDs   map[string]int
	builder    *consumerBuilder

	ki, wi int
	idOff  uint32
	// ids is the set of key ids seen (records before ki), to refuse a key
	// id used twice; seen that of consumer ids.
	ids idSet
	// indexed is set when the keys were indexed by an earlier load of the
	// same verified snapshot (Policy.Rebind): only the consumers are built.
	indexed bool
	// prev is the policy whose consumers this snapshot repeats
	// (NewBufferLoader): they are shared, not built. cmpOff is how much of
	// the two consumer sections was found equal so far.
	prev   *Policy
	cmpOff int

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
	hashUnit     = 64 << 10
	consumerUnit = 64
	keyUnit      = 1024
)

// NewLoader checks the snapshot data as CheckHeader does and that it has
// the length its header announces, and returns a Loader of it. It fails
// with a *LoadError; the body is checked by Step.
func (p *Policy) NewLoader(data []byte) (*Loader, error) {
	return p.NewBufferLoader(keysnap.BufferOf(data), nil)
}

// NewBufferLoader is NewLoader for a snapshot in buf that replaces the one prev
// (a policy an earlier Loader of p made, or nil) was loaded from: when the
// two have byte for byte the same consumers, the new policy shares prev's
// compiled consumers instead of building them again. This halves what a
// reload of a large key set holds in memory at the swap when only keys
// changed, and skips the consumer stage. Compiled consumers hold no view of
// their snapshot, so sharing them keeps no older snapshot alive. buf is a
// sealed keysnap.Buffer, which the policy made keeps. The two consumer
// sections are compared in steps, with the hashing.
func (p *Policy) NewBufferLoader(buf *keysnap.Buffer, prev *Policy) (*Loader, error) {
	return p.NewCheckedLoader(buf, prev, nil)
}

// NewCheckedLoader is NewBufferLoader for a snapshot whose first bytes
// p.CheckFirst accepted (checked, which may be nil): when buf starts with
// the bytes checked, the header is not checked again.
func (p *Policy) NewCheckedLoader(buf *keysnap.Buffer, prev *Policy, checked *Checked) (*Loader, error) {
	l, err := p.newLoader(buf, checked)
	if err == nil && prev != nil && prev.base == p && prev.snap != nil && prev.snapVersion == l.hdr.Version &&
		prev.snap.consLen == l.ix.consLen {
		l.prev = prev
	}
	return l, err
}

// headerOf returns the first bytes of buf, which hold the header of a
// snapshot of the buffer's size if any do.
func headerOf(buf *keysnap.Buffer) []byte {
	if buf.Total() == 0 {
		return nil
	}
	return buf.Slice(0, min(buf.Total(), keysnap.MaxHeaderSize))
}

func (p *Policy) newLoader(buf *keysnap.Buffer, checked *Checked) (*Loader, error) {
	began := time.Now()
	h, ok := checked.of(p, buf)
	if !ok {
		var err error
		if h, err = p.CheckHeader(headerOf(buf)); err != nil {
			return nil, err
		}
	}
	if err := h.CheckLen(buf.Total()); err != nil {
		return nil, loadError(err)
	}
	l := &Loader{base: p, hdr: h, ix: newSnapIndex(buf, &h)}
	l.hasher = keysnap.NewBufferHasher(buf, &h)
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

func (l *Loader) fail(cause LoadCause, msg string) {
	l.err = &LoadError{Cause: cause, Msg: msg}
	l.stage = stageDone
	l.consumers, l.np, l.seen, l.builder, l.ids = nil, nil, idSet{}, nil, idSet{}
}

// view returns b as a string without copying: snapshot data never changes.
func view(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

func (l *Loader) unit() {
	switch l.stage {
	case stageHash:
		if l.prev != nil && l.cmpOff < l.ix.consLen {
			n := min(hashUnit, l.ix.consLen-l.cmpOff)
			ps := l.prev.snap
			if l.ix.buf.Equal(l.ix.cons+l.cmpOff, ps.buf, ps.cons+l.cmpOff, n) {
				l.cmpOff += n
			} else {
				l.prev = nil // other consumers: they are built
			}
			return
		}
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
		l.consumerBatch()
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
	// The section is a copy when it spans segments; the consumers built
	// keep none of it.
	l.cr = keysnap.NewConsumerReader(l.ix.buf.Slice(l.ix.cons, l.ix.consLen), l.hdr.Version, view)
	l.consumers = make([]consumer, 0, n)
	l.seen = newIDSet(n, func(i int) string { return l.np.consumerID(&l.consumers[i]) }) // n < keysnap.MaxConsumers
	l.limitIndex = nameIndex{m: make(map[string]int, len(p.limits)), last: -1}
	for i, lim := range p.limits {
		l.limitIndex.m[lim.Name] = i
	}
	l.quotaIndex = nameIndex{m: make(map[string]int, len(p.quotas)), last: -1}
	for i, q := range p.quotas {
		l.quotaIndex.m[q.Name] = i
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

// consumerBatch checks and builds up to consumerUnit consumers.
func (l *Loader) consumerBatch() {
	for n := 0; n < consumerUnit && l.stage == stageConsumers; n++ {
		l.nextConsumer()
	}
}

func (l *Loader) nextConsumer() {
	ci := len(l.consumers)
	cc := &l.cc
	if err := l.cr.Next(cc); err != nil {
		l.fail(CauseCorrupt, "consumer "+strconv.Itoa(ci)+": "+err.Error())
		return
	}
	if !isIdentifier(cc.ID) {
		l.fail(CauseInvalid, "consumer "+strconv.Itoa(ci)+": id must be 1 to 256 visible ASCII characters")
		return
	}
	// Errors name the consumer by its id (built only then: the quoting
	// would cost more than the checks).
	where := func() string { return "consumer " + quote(cc.ID) }
	// One map operation: a duplicate leaves the map's size unchanged (the
	// earlier consumer is then looked for, to name it).
	if prev, ok := l.seen.add(ci, cc.ID); !ok {
		l.fail(CauseInvalid, where()+": duplicate consumer id (also consumer "+strconv.Itoa(prev)+")")
		return
	}
	limit, quota := -1, -1
	if cc.RateLimit != "" {
		i, ok := l.limitIndex.get(cc.RateLimit)
		if !ok {
			l.fail(CauseConfigMismatch, where()+": unknown rate limit policy "+quote(cc.RateLimit)+" (not in the configuration's rate_limits)")
			return
		}
		limit = i
	}
	if cc.Quota != "" {
		i, ok := l.quotaIndex.get(cc.Quota)
		if !ok {
			l.fail(CauseConfigMismatch, where()+": unknown quota "+quote(cc.Quota)+" (not in the configuration's quotas)")
			return
		}
		quota = i
	}
	scopes := cc.Scopes // the reader's scratch: the builder copies what it keeps
	sortScopes(scopes)
	for i, s := range scopes {
		if !isScope(s) {
			l.fail(CauseInvalid, where()+": scope "+quote(s)+" is not a scope token")
			return
		}
		if i > 0 && scopes[i-1] == s {
			l.fail(CauseInvalid, where()+": duplicate scope "+quote(s))
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
	l.seen, l.builder, l.cr = idSet{}, nil, nil
	l.limitIndex, l.quotaIndex = nameIndex{}, nameIndex{}
	if l.indexed { // by the load that verified the snapshot
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
		if nb, na := l.ix.window(i); na <= nb {
			l.fail(CauseInvalid, "validity window "+strconv.Itoa(i)+": not_after must be after not_before")
			return
		}
	}
	l.wi = end
	if l.wi < n {
		return
	}
	l.ix.buckets = make([]uint32, 1<<16+1)
	l.ix.idBase = make([]uint32, (int(l.hdr.Keys)+idGroup-1)/idGroup)
	// Load factor 0.8 at most: 5 bytes per key while the keys are checked.
	l.ids = newIDSet(int(l.hdr.Keys), l.recordID) // Keys <= keysnap.MaxKeys
	l.stage = stageKeys
	if l.hdr.Keys == 0 {
		l.finishKeys()
	}
}

// keys checks up to keyUnit key records and fills the tables.
func (l *Loader) keys() {
	n := int(l.hdr.Keys)
	end := min(n, l.ki+keyUnit)
	ix, buckets := l.ix, l.ix.buckets
	consumers, windows, idBytes := uint32(len(l.consumers)), l.hdr.Windows, uint64(l.hdr.IDBytes)
	var prev []byte // the digest before, and its first 8 bytes
	var prevHi uint64
	if l.ki > 0 {
		prev = ix.record(l.ki - 1)[:32]
		prevHi = binary.BigEndian.Uint64(prev)
	}
	for i := l.ki; i < end; i++ {
		digest, cons, flags, idLen, window := keysnap.Record(ix.record(i), 0)
		hi := binary.BigEndian.Uint64(digest)
		if prev != nil && !digestAfter(hi, prevHi, digest, prev) {
			l.fail(CauseCorrupt, "key records are not in strictly ascending digest order (a duplicate key?) at record "+strconv.Itoa(i))
			return
		}
		prev, prevHi = digest, hi
		if cons >= consumers || flags&^keysnap.FlagRevoked != 0 || window > windows {
			l.fail(CauseCorrupt, "key record "+strconv.Itoa(i)+": consumer index, flags or window out of range")
			return
		}
		if uint64(l.idOff)+uint64(idLen) > idBytes {
			l.fail(CauseCorrupt, "key ids overrun their section")
			return
		}
		if i%idGroup == 0 {
			ix.idBase[i/idGroup] = l.idOff
		}
		id := ix.id(l.idOff, l.idOff+uint32(idLen))
		h, visible := visibleHash(id)
		if !visible {
			l.fail(CauseInvalid, "key record "+strconv.Itoa(i)+": key id must be visible ASCII")
			return
		}
		if _, ok := l.ids.addHashed(i, id, h); !ok {
			l.fail(CauseInvalid, "key id "+quote(id)+" is used by two keys: key ids are unique")
			return
		}
		l.idOff += uint32(idLen)
		buckets[(int(digest[0])<<8|int(digest[1]))+1]++
	}
	l.ki = end
	if l.ki == n {
		l.finishKeys()
	}
}

// recordID is the id of key record m, located as snapIndex.find does
// (l.ix.idBase is filled up to m).
func (l *Loader) recordID(m int) string {
	start := l.ix.idStart(m)
	return l.ix.id(start, start+uint32(l.ix.record(m)[36])+1)
}

func (l *Loader) finishKeys() {
	l.ids = idSet{}
	if l.idOff != l.hdr.IDBytes {
		l.fail(CauseCorrupt, "key id section does not match the key records")
		return
	}
	for b := 1; b < len(l.ix.buckets); b++ {
		l.ix.buckets[b] += l.ix.buckets[b-1]
	}
	l.finish()
}

func (l *Loader) finish() {
	np := *l.np
	np.keys, np.entries = sumIndex{}, nil
	np.keyIDs = ""
	np.base, np.snapVersion = l.base, l.hdr.Version
	np.consumers = l.consumers
	np.warnings = nil
	np.snap = l.ix
	l.out = &np
	l.consumers, l.np = nil, nil
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
