package policy

// The filter-state contract: what the filter records about every request
// it judges, for the proxy's access log and telemetry. Each key is a
// property path of one segment that the filter sets with
// proxy_set_property; Envoy keeps it in the stream's filter state under
// FilterStatePrefix + key (envoyproxy/envoy
// source/extensions/common/wasm/context.cc, Context::setProperty, at
// b40935a), so that an access log reads the consumer as
// %FILTER_STATE(wasm.apiguard.consumer:PLAIN)% and CEL as
// filter_state['wasm.apiguard.consumer']. The names are stable: a format
// that names them keeps working across releases (docs/logging.md).
const (
	// StateDecision is Outcome{Allow,Deny,ShadowDeny}: what was done.
	StateDecision = "apiguard.decision"
	// StateReason is the decision's Reason, or ReasonInternalError.
	StateReason = "apiguard.reason"
	// StateConsumer is the consumer id of the key presented, when a key
	// was found (also for revoked, expired and other denials of a known
	// key); unset otherwise.
	StateConsumer = "apiguard.consumer"
	// StateKeyID is the id of that key (never the key); unset with
	// StateConsumer.
	StateKeyID = "apiguard.key_id"
	// StateRoute is the name of the matched route; unset when none matched.
	StateRoute = "apiguard.route"
	// StateQuota is the fleet quota an allowed request is counted against
	// (the quota header's value; in shadow mode the one it would be);
	// unset when it has none or was denied.
	StateQuota = "apiguard.quota"
	// StateRateLimitRemaining is the number of whole tokens left in the
	// request's rate-limit bucket after it, as a decimal integer (0 when
	// rate limited); unset when the route has no rate limit or the bucket
	// could not be read.
	StateRateLimitRemaining = "apiguard.rate_limit_remaining"
)

// FilterStatePrefix is what Envoy puts in front of a property path a Wasm
// filter sets (CelStateKeyPrefix in context.cc) to name it in the filter
// state.
const FilterStatePrefix = "wasm."

// StateKeys returns every filter-state key the filter sets, in the order it
// sets them.
func StateKeys() []string {
	return []string{StateDecision, StateReason, StateRoute, StateConsumer, StateKeyID, StateQuota, StateRateLimitRemaining}
}

// The values of StateDecision, the same words as the decision field of the
// filter's log lines.
const (
	OutcomeAllow      = "allow"       // forwarded (enforce or shadow mode)
	OutcomeDeny       = "deny"        // answered with a 4xx or 5xx
	OutcomeShadowDeny = "shadow_deny" // shadow mode: would have been denied, forwarded
)

// ReasonInternalError is the StateReason of a request the filter failed
// closed with 500 because it could not decide (the problem type
// .../internal_error); it is not a decision of the policy, so Reasons does
// not list it.
const ReasonInternalError Reason = "internal_error"

// Outcome returns the StateDecision value of d in enforce or shadow mode.
func Outcome(d Decision, shadow bool) string {
	switch {
	case d.Allow:
		return OutcomeAllow
	case shadow:
		return OutcomeShadowDeny
	}
	return OutcomeDeny
}
