package keyfetch

import (
	"strconv"

	"github.com/apiguard/apiguard/policy"
)

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
