// Package keyfetch is the key store's fetcher: a state machine, independent
// of the proxy, that fetches a signed key snapshot from the store, checks
// it at its trust boundary, loads it in steps and says when to swap the
// policy. The filter drives it with Start, Tick, Response and Reset, and
// performs the Actions each returns (an HTTP call, a tick period, a policy
// to swap in, a counter, a log line); tests drive it natively.
//
// What it guarantees:
//
//   - Verify before allocating. The first bytes of an answer (the whole
//     answer, or the first range of a ranged fetch) are checked with
//     Policy.CheckHeader: format, signature, audience, and the size the
//     signed header announces against key_store.max_size. Only then is room
//     made for the body, sized from the signed header. A first range that
//     fails stops the fetch: no further range is asked for.
//   - One validator per fetch. Every range of a fetch must carry the first
//     range's strong ETag; another ETag, or a 200 in the middle of a
//     ranged fetch, restarts it from byte 0 (counted as restarted, at most
//     MaxRestarts times in a row), since only parts of one representation
//     combine (RFC 9110 §13.1.5, §14.4). Without a strong ETag the parts are
//     joined and the signed digest decides.
//   - Never go back. A Floor (the filter keeps it in the proxy's shared
//     data, per plugin name and key store) holds the highest generation
//     enforced; no snapshot below it loads, in this plugin or any other that
//     shares the floor, across configuration pushes and VM reloads.
//   - Keep the last good policy. Any failure keeps the snapshot in use.
//
// The one place the policy is swapped is the filter's apply of
// Actions.Swap, on the worker's thread, between two requests: the
// DataSourceProvider pattern of Envoy (fetch, transform, keep the old
// data on failure, swap).
package keyfetch

import (
	"strconv"
	"strings"
	"time"

	"github.com/apiguard/apiguard/policy"
	"github.com/apiguard/apiguard/policy/keysnap"
)

// State is where the fetcher is.
type State uint8

// States.
const (
	// Idle: nothing in flight; the next fetch is at the next refresh tick.
	Idle State = iota
	// Requesting: an HTTP call is in flight.
	Requesting
	// Pending: the next call is due at the next (fast) tick: the next
	// range of a ranged fetch, or a fetch restarted from byte 0.
	Pending
	// Loading: a snapshot is being verified and indexed over ticks.
	Loading
)

var stateNames = [...]string{"idle", "requesting", "pending", "loading"}

func (s State) String() string { return stateNames[s] }

// Outcome is how a fetch ended. Each outcome is a counter of the filter's
// (apiguard.key_store.fetch.<outcome>, named in internal/metricname), so
// outcomes are an enumeration rather than strings: a misspelt outcome does
// not compile. The zero value is no outcome (Actions.Outcome of a step that
// ended no fetch).
type Outcome uint8

// The outcomes; outcomeWords gives their stable words.
const (
	Loaded      Outcome = iota + 1 // a newer snapshot was loaded
	Unchanged                      // the snapshot in use was answered again
	NotModified                    // 304 to If-None-Match
	Failed                         // no usable response: refused, reset, timeout, a 304 out of turn
	HTTPError                      // a status other than 200, 206 and 304, or a bad Content-Range
	Rejected                       // a snapshot that did not load (Actions.Cause, a policy.LoadCause, says why)
	Restarted                      // a ranged fetch started over: the snapshot changed meanwhile
)

// outcomeWords is the one table of the outcomes' words, by Outcome.
var outcomeWords = [...]string{
	Loaded:      "loaded",
	Unchanged:   "unchanged",
	NotModified: "not_modified",
	Failed:      "failed",
	HTTPError:   "http_error",
	Rejected:    "rejected",
	Restarted:   "restarted",
}

// NumOutcomes bounds the outcomes: every Outcome is below it, so that an
// array of NumOutcomes holds one entry per outcome.
const NumOutcomes = int(Restarted) + 1

// Outcomes lists every outcome, for metric registration.
func Outcomes() []Outcome {
	out := make([]Outcome, 0, NumOutcomes-1)
	for o := Loaded; int(o) < NumOutcomes; o++ {
		out = append(out, o)
	}
	return out
}

// String returns the outcome's word, "" for the zero value.
func (o Outcome) String() string {
	if int(o) < len(outcomeWords) {
		return outcomeWords[o]
	}
	return ""
}

// MarshalText returns the outcome's word.
func (o Outcome) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

// Tunables.
const (
	// LoadTickPeriod is the tick period while ranges are fetched or a
	// snapshot loads.
	LoadTickPeriod = time.Millisecond
	// LoadBudget is the work one callback does on a load.
	LoadBudget = 8 * time.Millisecond
	// FirstRetry bounds the period while no snapshot is loaded: a cluster
	// may not answer yet when Envoy starts.
	FirstRetry = time.Second
	// MaxRestarts is how many times in a row a ranged fetch starts over
	// before the fetcher waits for the next refresh.
	MaxRestarts = 3
	// stuckPadding is how long past its timeout a call may stay
	// unanswered before the fetcher stops waiting for it.
	stuckPadding = 5 * time.Second
)

// Floor is the highest generation enforced by any plugin that shares it,
// and that snapshot's digest. ok is false when none was recorded.
type Floor interface {
	Get() (gen uint64, digest [32]byte, ok bool)
	Raise(gen uint64, digest [32]byte)
}

// Body is the body of a response, read from the host on demand.
type Body interface {
	// Size is the body's size in bytes.
	Size() int
	// Read returns n bytes from offset.
	Read(offset, n int) ([]byte, error)
	// ReadInto reads the whole body, into dst's free capacity when the host
	// can write there (dst must have Size() plus the fetcher's room free),
	// and returns it.
	ReadInto(dst []byte) ([]byte, error)
}

// Preparer creates the rate-limit buckets of the consumers of p, a
// policy just swapped in, from consumer index from on, until deadline
// passes, and returns the index to go on from (p.NumConsumers() when it is
// done). Requests are served meanwhile: a bucket not yet created is
// created on first use.
type Preparer func(p *policy.Policy, from int, deadline time.Time) int

// Level is a log line's level.
type Level uint8

// Levels.
const (
	Info Level = iota
	Warn
	Error
)

// Log is a log line for the proxy's log; it never holds key material.
type Log struct {
	Level Level
	Msg   string
}

// Call is an HTTP call to the key store's cluster.
type Call struct {
	Headers [][2]string
	Timeout time.Duration
}

// Actions is what the filter does after a step.
type Actions struct {
	// Call, when set, is to be dispatched to the key store's cluster; the
	// filter answers Response with its result.
	Call *Call
	// TickPeriod, when not zero, is the new tick period.
	TickPeriod time.Duration
	// Swap, when set, is the policy to serve from now on; Verified is its
	// snapshot, for later plugins of the same VM (Policy.Rebind).
	Swap     *policy.Policy
	Verified *policy.Verified
	// Outcome, when set, is a fetch outcome to count; Cause, with
	// Rejected, is why the snapshot was rejected.
	Outcome Outcome
	Cause   policy.LoadCause
	Logs    []Log
}

// Fetcher is the key store's state machine of one plugin.
type Fetcher struct {
	cfg   *policy.KeyStoreConfig
	base  *policy.Policy
	floor Floor
	room  int

	state  State
	period time.Duration // the tick period set

	// The snapshot in use.
	loaded  bool
	gen     uint64
	digest  [32]byte
	created int64
	etag    string

	// The call in flight and the fetch in progress.
	since     time.Time
	sentINM   bool
	parts     []byte // a ranged fetch's bytes so far; cap is total + room
	total     int
	partsETag string
	restarts  int

	loader      *policy.Loader
	loaderETag  string
	loadStarted time.Time
	announced   bool // "loading over several ticks" logged

	logState string // the last state logged, so that a repeated failure is logged once

	inUse *policy.Policy // the policy of the snapshot in use

	// Buckets of the policy swapped in last, prepared over ticks.
	prepare    Preparer
	prepPolicy *policy.Policy
	prepNext   int
}

// SetPreparer has the buckets of every policy swapped in from now on
// prepared with fn, LoadBudget per tick.
func (f *Fetcher) SetPreparer(fn Preparer) { f.prepare = fn }

// Preparing reports whether the buckets of the policy in use are still
// being prepared.
func (f *Fetcher) Preparing() bool { return f.prepPolicy != nil }

// New returns the fetcher of base's key store. floor is shared with the
// other plugins of the proxy; room is the free capacity Body.ReadInto needs
// beyond the data.
func New(base *policy.Policy, floor Floor, room int) *Fetcher {
	return &Fetcher{cfg: base.KeyStore(), base: base, floor: floor, room: room}
}

// State returns the current state.
func (f *Fetcher) State() State { return f.state }

// Loaded reports whether a snapshot is in use; Generation and Created (Unix
// nanoseconds) describe it.
func (f *Fetcher) Loaded() bool       { return f.loaded }
func (f *Fetcher) Generation() uint64 { return f.gen }
func (f *Fetcher) Created() int64     { return f.created }

// RetryAfter is the Retry-After, in seconds, of a 503 while no snapshot is
// loaded: the next fetch is at most one period away.
func (f *Fetcher) RetryAfter() int {
	return int((f.refreshPeriod() + time.Second - 1) / time.Second)
}

func (f *Fetcher) refreshPeriod() time.Duration {
	if !f.loaded {
		return min(f.cfg.Refresh, FirstRetry)
	}
	return f.cfg.Refresh
}

// Start begins: it binds v, a snapshot this VM verified for another
// plugin with the same key store (nil for none), so that a configuration
// push serves keys at once, then fetches. Binding v is synchronous (it
// builds the consumers against base; the keys are indexed already).
func (f *Fetcher) Start(now time.Time, v *policy.Verified) Actions {
	var a Actions
	if v != nil {
		f.adopt(&a, v)
	}
	f.fetch(&a, now)
	f.settle(&a)
	return a
}

// adopt binds the verified snapshot v, unless it is below the floor.
func (f *Fetcher) adopt(a *Actions, v *policy.Verified) {
	h := v.Header()
	if fg, fd, ok := f.floor.Get(); ok && (h.Generation < fg || h.Generation == fg && h.Digest != fd) {
		f.log(a, Info, "not reusing generation "+strconv.FormatUint(h.Generation, 10)+
			" of this VM: generation "+strconv.FormatUint(fg, 10)+" was enforced since")
		return
	}
	l, err := f.base.Rebind(v)
	if err == nil {
		for !l.Step(time.Hour) {
		}
		if e := l.Err(); e != nil {
			err = e
		}
	}
	if err != nil {
		f.log(a, Warn, "cannot reuse generation "+strconv.FormatUint(h.Generation, 10)+" of this VM with this configuration: "+err.Error())
		return
	}
	f.swap(a, l, "")
	f.log(a, Info, "serving generation "+strconv.FormatUint(h.Generation, 10)+" verified earlier in this VM ("+
		strconv.FormatUint(uint64(h.Consumers), 10)+" consumers, "+strconv.FormatUint(uint64(h.Keys), 10)+
		" keys); refreshing in the background")
	f.logState = "ok"
}

// Tick is the plugin's tick: it continues a load or a ranged fetch, or
// starts the next fetch.
func (f *Fetcher) Tick(now time.Time) Actions {
	var a Actions
	if f.prepPolicy != nil {
		f.prepNext = f.prepare(f.prepPolicy, f.prepNext, now.Add(LoadBudget))
		if f.prepNext >= f.prepPolicy.NumConsumers() {
			f.prepPolicy = nil
		}
		if f.state == Idle {
			// A fast tick of the preparation, not a refresh: the refresh
			// period starts again when the buckets are ready.
			f.settle(&a)
			return a
		}
	}
	switch f.state {
	case Loading:
		f.step(&a, now)
	case Pending:
		f.call(&a, now)
	case Requesting:
		if now.Sub(f.since) >= f.cfg.Timeout+stuckPadding {
			f.fetch(&a, now) // the host answers every call; this one got lost
		}
	case Idle:
		f.fetch(&a, now)
	}
	f.settle(&a)
	return a
}

// Reset drops the fetch and the load in progress, keeping the snapshot in
// use: the filter calls it when a step panicked.
func (f *Fetcher) Reset() Actions {
	var a Actions
	f.state, f.parts, f.loader, f.partsETag, f.restarts = Idle, nil, nil, "", 0
	f.settle(&a)
	return a
}

func (f *Fetcher) fetch(a *Actions, now time.Time) {
	f.parts, f.partsETag, f.total = nil, "", 0
	f.call(a, now)
}

// call asks for the snapshot, or for its next range: the first request
// with If-None-Match (when a snapshot is in use), the next ones with
// If-Range, so that a snapshot replaced meanwhile comes whole (200) and
// the fetch restarts instead of mixing parts.
func (f *Fetcher) call(a *Actions, now time.Time) {
	offset := len(f.parts)
	hs := [][2]string{{":method", "GET"}, {":path", f.cfg.Path}, {":authority", f.cfg.Authority},
		{"accept", "application/octet-stream"}}
	f.sentINM = offset == 0 && f.etag != ""
	if f.sentINM {
		hs = append(hs, [2]string{"if-none-match", f.etag})
	}
	if n := f.cfg.ChunkSize; n > 0 {
		hs = append(hs, [2]string{"range", "bytes=" + strconv.Itoa(offset) + "-" + strconv.Itoa(offset+n-1)})
		if offset > 0 && f.partsETag != "" {
			hs = append(hs, [2]string{"if-range", f.partsETag})
		}
	}
	a.Call = &Call{Headers: hs, Timeout: f.cfg.Timeout}
	f.state, f.since = Requesting, now
}

// CallFailed is Response for a call the host refused to make.
func (f *Fetcher) CallFailed(err error) Actions {
	var a Actions
	f.state, f.parts = Idle, nil
	f.outcome(&a, Failed, 0, "cannot call cluster "+strconv.Quote(f.cfg.Cluster)+": "+err.Error())
	f.settle(&a)
	return a
}

// Response handles the answer to the call in flight: headers is nil for a
// failed call (refused, reset, timed out).
func (f *Fetcher) Response(now time.Time, headers policy.HeaderList, body Body) Actions {
	var a Actions
	if f.state != Requesting {
		return a // an answer to a call dropped by Reset
	}
	f.state = Idle
	f.respond(&a, now, headers, body)
	f.settle(&a)
	return a
}

func (f *Fetcher) respond(a *Actions, now time.Time, hs policy.HeaderList, body Body) {
	if hs == nil {
		f.parts = nil
		f.outcome(a, Failed, 0, "no response from cluster "+strconv.Quote(f.cfg.Cluster)+
			" (connection refused or reset, or no answer within "+f.cfg.Timeout.String()+")")
		return
	}
	status, _ := hs.Get(":status")
	etag, _ := hs.Get("etag")
	ranged := f.parts != nil
	switch {
	case status == "304" && f.sentINM:
		f.outcome(a, NotModified, 0, "")
	case status == "304":
		f.parts = nil
		f.outcome(a, Failed, 0, "the key store answered 304 Not Modified to a request without If-None-Match")
	case status == "200" && ranged:
		f.restart(a, "the key store answered 200 to a range request with If-Range: the snapshot changed")
	case status == "200":
		f.whole(a, now, etag, body)
	case status == "206" && ranged:
		f.nextRange(a, now, hs, etag, body)
	case status == "206":
		f.firstRange(a, now, hs, etag, body)
	default:
		f.parts = nil
		f.outcome(a, HTTPError, 0, "the key store answered status "+strconv.Quote(status))
	}
}

// checkHeader checks the first bytes of an answer and the generation they
// announce; ok is false when the fetch ends here.
func (f *Fetcher) checkHeader(a *Actions, body Body, etag string) (h keysnap.Header, ok bool) {
	pre, err := body.Read(0, min(body.Size(), keysnap.MaxHeaderSize))
	if err != nil {
		f.outcome(a, Failed, 0, "reading the response body: "+err.Error())
		return h, false
	}
	h, err = f.base.CheckHeader(pre)
	if err != nil {
		f.reject(a, err)
		return h, false
	}
	if f.loaded && h.Generation == f.gen && h.Digest == f.digest {
		f.etag = etag
		f.outcome(a, Unchanged, 0, "")
		return h, false
	}
	fg, fd, known := f.floor.Get()
	if f.loaded && (!known || f.gen > fg) {
		fg, fd, known = f.gen, f.digest, true
	}
	switch {
	case known && h.Generation < fg:
		f.reject(a, &policy.LoadError{Cause: policy.CauseOlderGeneration, Msg: "generation " +
			strconv.FormatUint(h.Generation, 10) + " is older than generation " + strconv.FormatUint(fg, 10) +
			", which this proxy has enforced already"})
		return h, false
	case known && h.Generation == fg && h.Digest != fd:
		f.reject(a, &policy.LoadError{Cause: policy.CauseOlderGeneration, Msg: "generation " +
			strconv.FormatUint(h.Generation, 10) + " was enforced already with other content"})
		return h, false
	}
	return h, true
}

// whole handles a snapshot answered in one 200.
func (f *Fetcher) whole(a *Actions, now time.Time, etag string, body Body) {
	h, ok := f.checkHeader(a, body, etag)
	if !ok {
		return
	}
	if n := uint64(body.Size()); n != h.Total() {
		cause := policy.CauseCorrupt
		if n < h.Total() {
			cause = policy.CauseTruncated
		}
		f.reject(a, &policy.LoadError{Cause: cause, Msg: "the body has " + strconv.FormatUint(n, 10) +
			" bytes, the signed header announces " + strconv.FormatUint(h.Total(), 10)})
		return
	}
	data, err := body.ReadInto(make([]byte, 0, body.Size()+f.room))
	if err != nil || len(data) != body.Size() {
		f.outcome(a, Failed, 0, "reading the response body: "+errText(err))
		return
	}
	f.startLoad(a, now, data, etag)
}

// firstRange handles the first range of a ranged fetch.
func (f *Fetcher) firstRange(a *Actions, now time.Time, hs policy.HeaderList, etag string, body Body) {
	cr, _ := hs.Get("content-range")
	first, last, total, ok := parseContentRange(cr)
	if !ok || first != 0 || last-first+1 != body.Size() || body.Size() < min(total, keysnap.MaxHeaderSize) {
		f.outcome(a, HTTPError, 0, "the key store answered 206 with content-range "+strconv.Quote(cr)+
			" for "+strconv.Itoa(body.Size())+" bytes to the first range")
		return
	}
	h, ok := f.checkHeader(a, body, etag)
	if !ok {
		return
	}
	if uint64(total) != h.Total() {
		f.reject(a, &policy.LoadError{Cause: policy.CauseCorrupt, Msg: "content-range announces " + strconv.Itoa(total) +
			" bytes, the signed header " + strconv.FormatUint(h.Total(), 10)})
		return
	}
	// The signed header sized this; it fits key_store.max_size.
	f.parts, f.total, f.partsETag = make([]byte, 0, total+f.room), total, etag
	f.appendRange(a, now, body)
}

// nextRange handles a later range of a ranged fetch.
func (f *Fetcher) nextRange(a *Actions, now time.Time, hs policy.HeaderList, etag string, body Body) {
	if !sameStrongETag(f.partsETag, etag) {
		f.restart(a, "range at "+strconv.Itoa(len(f.parts))+" has ETag "+strconv.Quote(etag)+", the first range had "+
			strconv.Quote(f.partsETag))
		return
	}
	cr, _ := hs.Get("content-range")
	first, last, total, ok := parseContentRange(cr)
	if !ok || first != len(f.parts) || total != f.total || last-first+1 != body.Size() {
		at := len(f.parts)
		f.parts = nil
		f.outcome(a, HTTPError, 0, "the key store answered 206 with content-range "+strconv.Quote(cr)+
			" for "+strconv.Itoa(body.Size())+" bytes at offset "+strconv.Itoa(at))
		return
	}
	f.appendRange(a, now, body)
}

// sameStrongETag reports whether a later range may join the first: both
// carry the same strong ETag, or neither carries one (the signed digest
// then decides).
func sameStrongETag(first, later string) bool {
	if first == "" {
		return later == ""
	}
	return first == later && !strings.HasPrefix(first, "W/")
}

func (f *Fetcher) appendRange(a *Actions, now time.Time, body Body) {
	data, err := body.ReadInto(f.parts[len(f.parts):len(f.parts):cap(f.parts)])
	if err != nil || len(data) != body.Size() || len(f.parts)+len(data) > f.total {
		f.parts = nil
		f.outcome(a, Failed, 0, "reading the response body: "+errText(err))
		return
	}
	if len(data) > 0 && &data[0] == &f.parts[:len(f.parts)+1][len(f.parts)] {
		f.parts = f.parts[:len(f.parts)+len(data)] // written in place
	} else {
		f.parts = append(f.parts, data...)
	}
	if len(f.parts) < f.total {
		f.state = Pending // the next range at the next tick, once this callback ended
		return
	}
	data, etag := f.parts[:f.total:f.total], f.partsETag
	f.parts, f.partsETag, f.restarts = nil, "", 0
	f.startLoad(a, now, data, etag)
}

// restart starts a ranged fetch over, or gives up until the next refresh
// after MaxRestarts in a row.
func (f *Fetcher) restart(a *Actions, why string) {
	f.parts, f.partsETag, f.total = nil, "", 0
	f.restarts++
	if f.restarts > MaxRestarts {
		f.restarts = 0
		f.outcome(a, HTTPError, 0, "the snapshot changed during "+strconv.Itoa(MaxRestarts+1)+
			" ranged fetches in a row ("+why+"); trying again at the next refresh")
		return
	}
	f.state = Pending
	f.outcome(a, Restarted, 0, "")
	f.log(a, Info, "key store: restarting the fetch from byte 0: "+why)
}

func (f *Fetcher) startLoad(a *Actions, now time.Time, data []byte, etag string) {
	l, err := f.base.NewLoaderAfter(data, f.inUse)
	if err != nil {
		f.reject(a, err)
		return
	}
	f.loader, f.loaderETag, f.loadStarted, f.announced = l, etag, now, false
	f.state = Loading
	f.step(a, now)
}

// step advances the load by what is left of LoadBudget since began.
func (f *Fetcher) step(a *Actions, began time.Time) {
	l := f.loader
	if !l.Step(LoadBudget - time.Since(began)) {
		if !f.announced {
			f.announced = true
			f.log(a, Info, "loading generation "+strconv.FormatUint(l.Header().Generation, 10)+" over several ticks")
		}
		return
	}
	f.loader, f.state = nil, Idle
	if err := l.Err(); err != nil {
		f.reject(a, err)
		return
	}
	h := l.Header()
	if fg, fd, ok := f.floor.Get(); ok && (h.Generation < fg || h.Generation == fg && h.Digest != fd) {
		f.reject(a, &policy.LoadError{Cause: policy.CauseOlderGeneration, Msg: "generation " +
			strconv.FormatUint(h.Generation, 10) + " is not newer than generation " + strconv.FormatUint(fg, 10) +
			", enforced while it loaded"})
		return
	}
	f.swap(a, l, f.loaderETag)
	st := l.Stats()
	f.outcome(a, Loaded, 0, "")
	f.log(a, Info, "loaded generation "+strconv.FormatUint(h.Generation, 10)+" ("+
		strconv.FormatUint(uint64(h.Consumers), 10)+" consumers, "+strconv.FormatUint(uint64(h.Keys), 10)+" keys, "+
		strconv.FormatUint(h.Total(), 10)+" bytes, built "+h.CreatedTime().Format(time.RFC3339)+") in "+
		time.Since(f.loadStarted).Round(time.Millisecond).String()+": verify "+st.Verify.Round(time.Microsecond).String()+
		", index "+st.Index.Round(time.Microsecond).String()+", "+strconv.Itoa(st.Steps)+" steps")
}

// swap makes the loader's result the snapshot in use.
func (f *Fetcher) swap(a *Actions, l *policy.Loader, etag string) {
	h := l.Header()
	a.Swap, a.Verified = l.Policy(), l.Verified()
	same := a.Swap.SharesConsumers(f.inUse)
	f.inUse = a.Swap
	if f.prepare != nil && a.Swap.NumConsumers() > 0 && !same {
		f.prepPolicy, f.prepNext = a.Swap, 0
	}
	f.loaded, f.gen, f.digest, f.created, f.etag = true, h.Generation, h.Digest, h.Created, etag
	f.floor.Raise(h.Generation, h.Digest)
}

// settle sets the tick period the state needs.
func (f *Fetcher) settle(a *Actions) {
	want := f.refreshPeriod()
	if f.state == Pending || f.state == Loading || f.prepPolicy != nil {
		want = LoadTickPeriod
	}
	if want != f.period {
		f.period, a.TickPeriod = want, want
	}
}

func (f *Fetcher) reject(a *Actions, err error) {
	f.parts = nil
	le, ok := err.(*policy.LoadError)
	if !ok {
		le = &policy.LoadError{Cause: policy.CauseInvalid, Msg: err.Error()}
	}
	f.outcome(a, Rejected, le.Cause, le.Error())
}

// outcome counts a fetch, and logs it when the state changes. msg never
// holds key material: load errors name ids, never keys or digests.
func (f *Fetcher) outcome(a *Actions, outcome Outcome, cause policy.LoadCause, msg string) {
	a.Outcome, a.Cause = outcome, cause
	switch outcome {
	case Loaded, Unchanged, NotModified:
		if f.logState != "ok" && f.logState != "" {
			f.log(a, Info, "fetching works again (generation "+strconv.FormatUint(f.gen, 10)+" in use)")
		}
		f.logState = "ok"
		return
	case Restarted:
		return
	}
	state := outcome.String() + "/" + cause.String()
	if state == f.logState {
		return
	}
	f.logState = state
	if f.loaded {
		f.log(a, Warn, msg+"; keeping generation "+strconv.FormatUint(f.gen, 10))
	} else {
		f.log(a, Error, msg+"; no snapshot loaded yet: requests that need a key get 503")
	}
}

func (f *Fetcher) log(a *Actions, level Level, msg string) {
	a.Logs = append(a.Logs, Log{Level: level, Msg: "apiguard: key store: " + msg})
}

func errText(err error) string {
	if err == nil {
		return "short read"
	}
	return err.Error()
}

// parseContentRange parses "bytes FIRST-LAST/TOTAL".
func parseContentRange(v string) (first, last, total int, ok bool) {
	rest, found := strings.CutPrefix(v, "bytes ")
	if !found {
		return 0, 0, 0, false
	}
	rng, tot, found := strings.Cut(rest, "/")
	a, b, found2 := strings.Cut(rng, "-")
	if !found || !found2 {
		return 0, 0, 0, false
	}
	var err1, err2, err3 error
	first, err1 = strconv.Atoi(a)
	last, err2 = strconv.Atoi(b)
	total, err3 = strconv.Atoi(tot)
	if err1 != nil || err2 != nil || err3 != nil || first < 0 || last < first || last >= total {
		return 0, 0, 0, false
	}
	return first, last, total, true
}
