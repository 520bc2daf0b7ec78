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
	// ReadInto returns the n bytes from offset, written into dst's free
	// capacity when the host can write there (a keysnap.Buffer's room has
	// a byte more than the data, what the filter's bridge needs), else
	// somewhere of their own.
	ReadInto(dst []byte, offset, n int) ([]byte, error)
}

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
	parts     *keysnap.Buffer // a ranged fetch's bytes so far
	partsETag string
	// checked is the header checked on the first bytes of the fetch in
	// progress; the loader trusts it only if the snapshot starts with
	// the same bytes.
	checked  *policy.Checked
	restarts int

	loader      *policy.Loader
	loaderETag  string
	loadStarted time.Time
	announced   bool // "loading over several ticks" logged

	logState string // the last state logged, so that a repeated failure is logged once

	inUse *policy.Policy // the policy of the snapshot in use
}

// New returns the fetcher of base's key store. floor is shared with the
// other plugins of the proxy.
func New(base *policy.Policy, floor Floor) *Fetcher {
	return &Fetcher{cfg: base.KeyStore(), base: base, floor: floor}
}

// State returns the current state.
func (f *Fetcher) State() State { return f.state }

// Loaded reports whether a snapshot is in use; Generation and Created (Unix
// nanoseconds) describe it.
func (f *Fetcher) Loaded() bool { return f.loaded }

// Reloading reports whether a new snapshot is being fetched or loaded
// while one is in use: the time both are in memory.
func (f *Fetcher) Reloading() bool    { return f.loaded && (f.parts != nil || f.loader != nil) }
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

// settle sets the tick period the state needs.
func (f *Fetcher) settle(a *Actions) {
	want := f.refreshPeriod()
	if f.state == Pending || f.state == Loading {
		want = LoadTickPeriod
	}
	if want != f.period {
		f.period, a.TickPeriod = want, want
	}
}

func (f *Fetcher) log(a *Actions, level Level, msg string) {
	a.Logs = append(a.Logs, Log{Level: level, Msg: "apiguard: key store: " + msg})
}
