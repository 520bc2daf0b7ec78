package main

import (
	"math"
	"strconv"
	"unsafe"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"

	"github.com/apiguard/apiguard/policy"
)

// The filter state of a judged request: who called and what apiguard
// decided, for Envoy's access log (%FILTER_STATE(wasm.apiguard.…:PLAIN)%),
// CEL (filter_state['wasm.apiguard.…']) and Istio's telemetry. The keys and
// values are the contract in policy/filterstate.go; docs/logging.md shows
// how to ship them.
//
// One proxy_set_property per field, not one packed value: Envoy keeps what
// a Wasm filter sets as a CelState of type bytes (no declare_property),
// whose %FILTER_STATE(…:PLAIN)% is the whole value and which has no fields
// for %FILTER_STATE(…:FIELD:…)% (CelState implements no getField;
// source/extensions/filters/common/expr/cel_state.h at 8b9304c), so a
// packed value could be read only whole. A field that has no value for a
// request (no consumer on a public route, no rate limit) is not set: Envoy
// then prints "-", as for any absent field, and the request costs one host
// call less.

// filterStateOn is false only in the benchmark build without filter state
// (-tags apiguard_nofilterstate), the "without" of make bench's
// comparison.
var filterStateOn = true

// tokens is what the rate-limit bucket answered for the request.
type tokens struct {
	remaining int64
	known     bool // the bucket answered (a route with a rate limit, the store worked)
}

// counted returns the tokens of a bucket's answer: known when the limiter
// had one (ok) and the limit is a finite one.
func counted(res policy.TakeResult, ok bool) tokens {
	return tokens{remaining: res.Remaining, known: ok && res.Remaining != math.MaxInt64}
}

// remainingBuf holds the decimal remaining tokens for the host call, which
// copies it: one buffer for the VM, as its callbacks never overlap.
var remainingBuf [20]byte

// stateWarned is set once a failure to set filter state has been logged, so
// that a host refusing it logs one line, not one per request.
var stateWarned bool

// publishDecision sets the filter state of a request judged d, with the
// bucket's remaining tokens t.
func publishDecision(d policy.Decision, shadow bool, t tokens) {
	if !filterStateOn {
		return
	}
	if !setState(policy.StateDecision, policy.Outcome(d, shadow)) ||
		!setState(policy.StateReason, string(d.Reason)) ||
		!setState(policy.StateRoute, d.Route) ||
		!setState(policy.StateConsumer, d.Identity.Consumer) ||
		!setState(policy.StateKeyID, d.Identity.KeyID) {
		return
	}
	if d.Allow && d.RateLimit.Quota != nil && !setState(policy.StateQuota, d.RateLimit.Quota.Name) {
		return
	}
	if t.known {
		b := strconv.AppendInt(remainingBuf[:0], t.remaining, 10)
		setState(policy.StateRateLimitRemaining, unsafe.String(unsafe.SliceData(b), len(b)))
	}
}

// publishInternalError records a request failed closed with 500: denied
// for internal_error, in either mode (shadow mode does not forward it).
// The other fields keep what was set before the failure, if anything.
func publishInternalError() {
	if filterStateOn && setState(policy.StateDecision, policy.OutcomeDeny) {
		setState(policy.StateReason, string(policy.ReasonInternalError))
	}
}

// setState sets the filter-state key to value, and nothing when value is
// empty. It reports false when the host refused, after logging the first
// refusal of the VM: the request goes on without its filter state (it is
// telemetry, not a decision).
func setState(key, value string) bool {
	if value == "" {
		return true
	}
	err := setProperty(key, value)
	if err == nil {
		return true
	}
	if !stateWarned {
		stateWarned = true
		proxywasm.LogWarnf("apiguard: setting filter state %s: %v (no more such warnings; access logs will lack apiguard's fields)", key, err)
	}
	return false
}
