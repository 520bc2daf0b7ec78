package main

import (
	"math"
	"unsafe"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"

	"github.com/apiguard/apiguard/policy"
)

// The filter state of a judged request: who called and what apiguard
// decided, for Envoy's access log (%FILTER_STATE(wasm.apiguard:PLAIN)%),
// CEL (filter_state['wasm.apiguard']) and Istio's telemetry, as one JSON
// object (policy/filterstate.go has the contract, docs/logging.md how to
// ship it), for example
//
//	{"decision":"allow","reason":"allowed","route":"get-order","consumer":"billing","key_id":"billing-2026","rate_limit_remaining":999}
//
// One proxy_set_property per request, not one per field. Envoy keeps what
// a Wasm filter sets as a CelState of bytes (source/extensions/filters/
// common/expr/cel_state.h at 8b9304c): %FILTER_STATE(…:PLAIN)% prints the
// whole value, FIELD finds nothing (a CelState has no getField), and CEL
// sees bytes. So Envoy cannot read a field of a packed value, but it cannot
// do anything with seven values either that a log pipeline cannot do with
// one JSON object, while each value is a host call: in make bench one
// proxy_set_property costs the allowed request about 3 % of its ratio to
// the floor, seven about 20 % (docs/logging.md, "Cost"). A field without a
// value for the request (no consumer on a public route, no rate limit) is
// left out of the object.

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

// recordBuf holds the record for the host call, which copies it: one
// buffer for the VM, as its callbacks never overlap, so that a request
// allocates nothing for it once it has grown to the longest record.
var recordBuf []byte

// stateWarned is set once a failure to set the filter state has been
// logged, so that a host refusing it logs one line, not one per request.
var stateWarned bool

// publishDecision sets the filter state of a request judged d, with the
// bucket's remaining tokens t.
func publishDecision(d *policy.Decision, shadow bool, t tokens) {
	if !filterStateOn {
		return
	}
	var quota string
	if d.Allow && d.RateLimit.Quota != nil {
		quota = d.RateLimit.Quota.Name
	}
	b := append(recordBuf[:0], recordPrefix(policy.OutcomeOf(d, shadow).String(), string(d.Reason), d.Route,
		d.Identity.Consumer, d.Identity.KeyID, quota)...)
	if t.known {
		b = append(b, `,"`+policy.FieldRateLimitRemaining+`":`...)
		b = policy.AppendDecimal(b, t.remaining)
	}
	recordBuf = append(b, '}')
	setState(recordBuf)
}

// recordEntry is one record prefix (everything but the remaining tokens
// and the closing brace) with the values it was built from.
type recordEntry struct {
	outcome, reason, route, consumer, keyID, quota string
	prefix                                         []byte
}

// recordCache holds the prefixes of recent records, indexed by where the
// key id and route names live: the strings come from the compiled policy,
// so the requests of one key on one route find their prefix again, and
// building it (escaping included) is a comparison of strings that are
// usually the same pointers, and a copy. Go code in the module is slow
// enough that this matters in make bench. A miss rebuilds the entry.
var recordCache [64]recordEntry

// forgetRecords empties recordCache. Its entries hold the compiled
// policy's strings (key ids are views of the policy's text or of its key
// snapshot's segments): setPolicy calls it, so that the policy served
// before, and a reloaded snapshot, are not kept alive by them.
func forgetRecords() { recordCache = [len(recordCache)]recordEntry{} }

// recordPrefix returns the record of the values up to, not including, the
// remaining tokens and the closing brace. The result is the cache's memory:
// use it before the next call.
func recordPrefix(outcome, reason, route, consumer, keyID, quota string) []byte {
	i := (uintptr(unsafe.Pointer(unsafe.StringData(keyID))) ^ uintptr(unsafe.Pointer(unsafe.StringData(route)))>>4 ^
		uintptr(len(reason))) % uintptr(len(recordCache))
	e := &recordCache[i]
	if e.prefix != nil && sameString(e.keyID, keyID) && sameString(e.route, route) && sameString(e.reason, reason) &&
		sameString(e.outcome, outcome) && sameString(e.consumer, consumer) && sameString(e.quota, quota) {
		return e.prefix
	}
	b := append(e.prefix[:0], `{"`+policy.FieldDecision+`":"`...)
	b = append(b, outcome...)
	b = append(b, `","`+policy.FieldReason+`":`...)
	b = appendRecordString(b, reason)
	b = appendRecordField(b, `,"`+policy.FieldRoute+`":`, route)
	b = appendRecordField(b, `,"`+policy.FieldConsumer+`":`, consumer)
	b = appendRecordField(b, `,"`+policy.FieldKeyID+`":`, keyID)
	b = appendRecordField(b, `,"`+policy.FieldQuota+`":`, quota)
	*e = recordEntry{outcome: outcome, reason: reason, route: route, consumer: consumer, keyID: keyID, quota: quota, prefix: b}
	return b
}

// sameString is a == b, answered without comparing the bytes when both
// are the same memory (Go's wasm code compares through a call to
// runtime.memequal, which does not look at the pointers first): the
// caches' strings usually come from the same place every time.
func sameString(a, b string) bool {
	return len(a) == len(b) && (unsafe.StringData(a) == unsafe.StringData(b) || a == b)
}

// internalErrorRecord is the filter state of a request failed closed.
var internalErrorRecord = []byte(`{"` + policy.FieldDecision + `":"` + policy.OutcomeDeny.String() + `","` +
	policy.FieldReason + `":"` + string(policy.ReasonInternalError) + `"}`)

// publishInternalError records a request failed closed with 500: denied
// for internal_error, in either mode (shadow mode does not forward it). It
// replaces whatever was set for the request before the failure.
func publishInternalError() {
	if filterStateOn {
		setState(internalErrorRecord)
	}
}

// appendRecordField appends the member prefix (`,"name":`) and value as a
// JSON string, and nothing when value is empty.
func appendRecordField(b []byte, prefix, value string) []byte {
	if value == "" {
		return b
	}
	return appendRecordString(append(b, prefix...), value)
}

// appendRecordString appends s as a JSON string: in one piece when it is
// printable ASCII without a quote or backslash, as names and ids are, and
// through appendJSONString otherwise. The record needs no more escaping
// than JSON's (it is never embedded in HTML), but either way it is valid
// JSON.
func appendRecordString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return appendJSONString(b, s)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// setState sets the filter state to record. A refusal of the host is
// logged once per VM: the request goes on without its filter state (it is
// telemetry, not a decision).
func setState(record []byte) {
	err := setProperty(policy.StateKey, unsafe.String(unsafe.SliceData(record), len(record)))
	if err != nil && !stateWarned {
		stateWarned = true
		proxywasm.LogWarnf("apiguard: setting filter state %s: %v (no more such warnings; access logs will lack apiguard's record)",
			policy.StateKey, err)
	}
}
